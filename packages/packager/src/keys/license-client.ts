import { PackagerError } from '../pipeline/errors.ts';

/** Looks up content keys by kid (32 hex digits); kids it cannot get are left out of the answer. */
export type KeyLookup = (kids: string[]) => Promise<Map<string, Buffer>>;

const KIDS_PER_LICENSE = 64;

/**
 * Keys as a viewer gets them: ClearKey license requests to `<server>/v1/license/clearkey` with a viewer
 * token (the server answers only for the token's resource, and not to banned viewers).
 */
export function licenseKeyLookup(server: string, token: string, fetchImpl: typeof fetch = fetch): KeyLookup {
  const url = `${server.replace(/\/+$/, '')}/v1/license/clearkey`;
  return async (kids) => {
    const keys = new Map<string, Buffer>();
    for (let i = 0; i < kids.length; i += KIDS_PER_LICENSE) {
      const batch = kids.slice(i, i + KIDS_PER_LICENSE);
      let res: Response;
      try {
        res = await fetchImpl(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            kids: batch.map((k) => Buffer.from(k, 'hex').toString('base64url')),
            type: 'temporary',
          }),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        throw new PackagerError(
          'keys_failed',
          `cannot reach the key server ${new URL(url).origin}: ${(err as Error).message}`,
        );
      }
      const body = (await res.json().catch(() => ({}))) as {
        keys?: { kid: string; k: string }[];
        code?: string;
        message?: string;
      };
      if (res.status === 404 && body.code === 'unknown_kid') continue;
      if (!res.ok) {
        throw new PackagerError(
          'keys_failed',
          `the key server refused the license request (${res.status}${body.code ? ` ${body.code}` : ''}): ${body.message ?? 'no reason given'}`,
        );
      }
      for (const k of body.keys ?? []) {
        keys.set(Buffer.from(k.kid, 'base64url').toString('hex'), Buffer.from(k.k, 'base64url'));
      }
    }
    return keys;
  };
}

/** The part of VigilStore a local lookup needs. */
export interface ContentKeyReader {
  getContentKey(tenantId: string, kid: string): Promise<{ key: Buffer; resourceId: string } | undefined>;
}

/** Keys straight from the store (the `--data` folder or DATABASE_URL), only those of `resourceId`. */
export function storeKeyLookup(store: ContentKeyReader, tenantId: string, resourceId: string): KeyLookup {
  return async (kids) => {
    const keys = new Map<string, Buffer>();
    for (const kid of kids) {
      const key = await store.getContentKey(tenantId, kid);
      if (key && key.resourceId === resourceId) keys.set(kid, key.key);
    }
    return keys;
  };
}
