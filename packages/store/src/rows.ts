import type { ContentKey, TrackType } from '@vigil/keys';

/** Row mapping shared by the store and its paginated lists. */

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

interface AccessLogRow {
  id: string;
  tenant_id: string;
  session_id: string;
  resource_id: string;
  user_id: string | null;
  ip: string;
  user_agent: string;
  action: string;
  at: number | string | bigint;
  metadata: string | null;
}

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
