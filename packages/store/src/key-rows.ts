import type { ContentKey, TrackType } from '@vigil/keys';

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
