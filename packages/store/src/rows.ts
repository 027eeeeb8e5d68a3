import type { Ban } from '@vigil/core';
import type { ContentKey, TrackType } from '@vigil/keys';
import type { Database } from './schema.ts';

/** The store's records and their row mapping, shared by the store (store.ts) and its paginated lists (pages.ts). */

/** The columns of a content key without its sealed key: what lists of keys show. */
export const KEY_INFO_COLUMNS = [
  'tenant_id',
  'kid',
  'resource_id',
  'iv',
  'key_period',
  'track_type',
  'expires_at',
  'created_at',
] as const;

interface KeyInfoRow {
  tenant_id: string;
  kid: string;
  resource_id: string;
  iv: string;
  key_period: number | string | bigint;
  track_type: string;
  expires_at: number | string | bigint;
  created_at: number | string | bigint;
}

/** A listed key's row as the store's callers see it (bigint columns as numbers). */
export function keyInfoOf(r: KeyInfoRow): Omit<ContentKey, 'key'> {
  return {
    tenantId: r.tenant_id,
    kid: r.kid,
    resourceId: r.resource_id,
    iv: r.iv,
    keyPeriod: Number(r.key_period),
    trackType: r.track_type as TrackType,
    expiresAt: Number(r.expires_at),
    createdAt: Number(r.created_at),
  };
}

/** One line of a session's access log (the Epic 6 ContentAccessLog). */
export interface AccessLogEntry {
  id: string;
  tenantId: string;
  sessionId: string;
  resourceId: string;
  userId: string | null;
  ip: string;
  userAgent: string;
  /** streamStart, streamProgress, streamComplete, suspiciousActivity, accessDenied, ... */
  action: string;
  at: number;
  metadata: Record<string, unknown> | null;
}

/** An access-log row as a driver returns it (PostgreSQL's BIGINT arrives as a string). */
type AccessLogRow = Omit<Database['access_logs'], 'at'> & { at: number | string | bigint };

export function accessLogEntryOf(r: AccessLogRow): AccessLogEntry {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    resourceId: r.resource_id,
    userId: r.user_id,
    ip: r.ip,
    userAgent: r.user_agent,
    action: r.action,
    at: Number(r.at),
    metadata: r.metadata ? JSON.parse(r.metadata) : null,
  };
}

export type Role = 'admin' | 'operator' | 'readonly' | 'platform';
export const ROLES: readonly Role[] = ['admin', 'operator', 'readonly', 'platform'];

export interface Tenant {
  id: string;
  name: string;
  secret: Buffer;
  /** The HS256 secret before the last rotation, and until when (ms) it still verifies viewer tokens. */
  previousSecret?: { secret: Buffer; until: number } | undefined;
  jwks: { keys: Record<string, unknown>[] } | null;
  /** Origins allowed to call the license endpoints from a browser; "*" allows any. */
  allowedOrigins: string[];
  createdAt: number;
}

export interface ApiKeyRecord {
  hash: string;
  tenantId: string;
  prefix: string;
  name: string;
  role: Role;
  createdAt: number;
  revokedAt: number | null;
}

export interface BanSighting {
  ip: string;
  firstSeen: number;
  lastSeen: number;
  hits: number;
}

export interface AccessLogQuery {
  sessionId?: string | undefined;
  action?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit: number;
}

export type LiveDesired = 'running' | 'stopped';

/** A live channel as stored: settings are the live package's, kept opaque here. */
export interface LiveChannelRecord {
  tenantId: string;
  id: string;
  resourceId: string;
  settings: Record<string, unknown>;
  desired: LiveDesired;
  status: Record<string, unknown> | null;
  createdAt: number;
  updatedAt: number;
}

export interface StatsRow {
  tenantId: string;
  minute: number;
  outcome: string;
  count: number;
}

export function liveChannelFromRow(row: Database['live_channels']): LiveChannelRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    resourceId: row.resource_id,
    settings: JSON.parse(row.settings) as Record<string, unknown>,
    desired: row.desired as LiveDesired,
    status: row.status === null ? null : (JSON.parse(row.status) as Record<string, unknown>),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export function apiKeyFromRow(row: Database['api_keys']): ApiKeyRecord {
  return {
    hash: row.hash,
    tenantId: row.tenant_id,
    prefix: row.prefix,
    name: row.name,
    role: row.role as Role,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

export function banFromRow(row: Database['bans']): Ban {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind as Ban['kind'],
    value: row.value,
    reason: row.reason,
    createdAt: Number(row.created_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}
