import { randomBytes } from 'node:crypto';

/** Track types get separate keys so a license policy can withhold the higher-quality ones. */
export const TRACK_TYPES = ['all', 'audio', 'sd', 'hd', 'uhd'] as const;
export type TrackType = (typeof TRACK_TYPES)[number];

/** A content key as the license path uses it: bytes in memory only, never logged. */
export interface ContentKey {
  tenantId: string;
  resourceId: string;
  /** 16-byte key id, lowercase hex. */
  kid: string;
  key: Buffer;
  /** 16-byte IV for HLS AES-128 / CBC schemes, lowercase hex. */
  iv: string;
  keyPeriod: number;
  trackType: TrackType;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  createdAt: number;
}

export function generateContentKey(fields: Omit<ContentKey, 'kid' | 'key' | 'iv' | 'createdAt'>): ContentKey {
  return {
    ...fields,
    kid: randomBytes(16).toString('hex'),
    key: randomBytes(16),
    iv: randomBytes(16).toString('hex'),
    createdAt: Date.now(),
  };
}
