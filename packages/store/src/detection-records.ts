/** Leak-tracing records: detection jobs, watches and their events, leak policies, and their row mapping. */
import { randomBytes } from 'node:crypto';
import type { Database } from './schema.ts';

export type DetectionStatus = 'queued' | 'running' | 'done' | 'failed';

export interface DetectionRecord {
  tenantId: string;
  id: string;
  status: DetectionStatus;
  sourceKind: 'upload' | 'url';
  source: string;
  mode: string;
  /** 0..1 */
  progress: number;
  footageSeconds: number;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface WatchRecord {
  tenantId: string;
  id: string;
  url: string;
  mode: string;
  autoBan: boolean;
  desired: 'running' | 'stopped';
  status: Record<string, unknown> | null;
  createdAt: number;
  updatedAt: number;
}

export interface WatchEventRecord {
  seq: number;
  at: number;
  event: Record<string, unknown>;
}

export interface LeakPolicyRecord {
  autoBan: boolean;
  maxFalseMatchProbability: number;
  agreeingWindows: number;
}

export interface SessionAccessRecord {
  sessionId: string;
  /** Access-log entries of the session. */
  entries: number;
  firstSeen: number | null;
  lastSeen: number | null;
  ips: { ip: string; firstSeen: number; lastSeen: number; hits: number }[];
  userAgents: { userAgent: string; firstSeen: number; lastSeen: number; hits: number }[];
  resources: string[];
}

/**
 * Off until the tenant turns it on; each of two disjoint windows must pass 1e-4 (the codec's false-match
 * probability of that window's decode), so both together are under 1e-8 (the detector's own default).
 */
export const DEFAULT_LEAK_POLICY: LeakPolicyRecord = {
  autoBan: false,
  maxFalseMatchProbability: 1e-4,
  agreeingWindows: 2,
};

/** Recent events kept per watch. */
export const WATCH_EVENTS_KEPT = 100;

export const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

export function detectionFromRow(r: Database['detections']): DetectionRecord {
  return {
    tenantId: r.tenant_id,
    id: r.id,
    status: r.status as DetectionStatus,
    sourceKind: r.source_kind as 'upload' | 'url',
    source: r.source,
    mode: r.mode,
    progress: Number(r.progress) / 1000,
    footageSeconds: Number(r.footage_seconds) / 1000,
    result: json(r.result),
    error: json(r.error),
    attempts: Number(r.attempts),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  };
}

export function watchFromRow(r: Database['watches']): WatchRecord {
  return {
    tenantId: r.tenant_id,
    id: r.id,
    url: r.url,
    mode: r.mode,
    autoBan: Number(r.auto_ban) === 1,
    desired: r.desired as 'running' | 'stopped',
    status: json(r.status),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export const newDetectionId = () => `det_${randomBytes(9).toString('base64url')}`;
export const newWatchId = () => `wat_${randomBytes(9).toString('base64url')}`;
