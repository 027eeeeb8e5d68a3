import { randomBytes } from 'node:crypto';
import { type ContentKey, generateContentKey, type TrackType } from '@vigil/keys';

/**
 * What a key is for: the CMAF segments (CENC/CBCS, shared by DASH and fMP4 HLS) or the TS segments of
 * the HLS AES-128 set, which get keys of their own.
 */
export type KeyUse = 'cmaf' | 'hls-aes128';

export interface KeySpec {
  keyPeriod: number;
  trackType: TrackType;
  use: KeyUse;
}

/** A content key in the packager's hands: bytes in memory only, never written into the package or logged. */
export interface PackagingKey extends KeySpec {
  /** 32 lowercase hex digits. */
  kid: string;
  key: Buffer;
  /** 16 bytes: the constant IV of cbcs. */
  iv: Buffer;
}

/** Where content keys come from: Vigil's own store, or a running Vigil over SPEKE. */
export interface KeySource {
  /** For messages: "the local store in ./.vigil", "SPEKE at https://…". */
  readonly description: string;
  /**
   * One new key per spec, registered with the key server under `resourceId` before this returns (so the
   * key server can answer for every kid the package will name).
   */
  createKeys(resourceId: string, specs: KeySpec[], scheme: 'cenc' | 'cbcs'): Promise<PackagingKey[]>;
}

/** Key lifetime when nothing else is said: packaged content stays playable for ten years. */
export const DEFAULT_KEY_TTL_SECONDS = 10 * 365 * 86400;

/** The part of VigilStore this needs (so the packager does not depend on the store package). */
export interface ContentKeyWriter {
  putContentKeys(keys: ContentKey[], owner?: string | null): Promise<void>;
}

/** Keys generated here and written to Vigil's store (the `--data` folder or DATABASE_URL). */
export function storeKeySource(opts: {
  store: ContentKeyWriter;
  tenantId: string;
  ttlSeconds?: number;
  description?: string;
  /** Recorded with each key when something other than the tenant owns it (a live channel). */
  owner?: string;
}): KeySource {
  return {
    description: opts.description ?? 'the local store',
    async createKeys(resourceId, specs) {
      const expiresAt = Date.now() + (opts.ttlSeconds ?? DEFAULT_KEY_TTL_SECONDS) * 1000;
      const keys = specs.map((spec) => ({
        spec,
        key: generateContentKey({
          tenantId: opts.tenantId,
          resourceId,
          keyPeriod: spec.keyPeriod,
          trackType: spec.trackType,
          expiresAt,
        }),
      }));
      await opts.store.putContentKeys(
        keys.map((k) => k.key),
        opts.owner ?? null,
      );
      return keys.map(({ spec, key }) => ({
        ...spec,
        kid: key.kid,
        key: key.key,
        iv: Buffer.from(key.iv, 'hex'),
      }));
    },
  };
}

/** Keys that exist nowhere but in this process: for packaging tests and dry runs. */
export function ephemeralKeySource(): KeySource & { keys: PackagingKey[] } {
  const issued: PackagingKey[] = [];
  return {
    description: 'ephemeral keys',
    keys: issued,
    async createKeys(_resourceId, specs) {
      const keys = specs.map((spec) => ({
        ...spec,
        kid: randomBytes(16).toString('hex'),
        key: randomBytes(16),
        iv: randomBytes(16),
      }));
      issued.push(...keys);
      return keys;
    },
  };
}
