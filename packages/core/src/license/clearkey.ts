import { fromBase64Url, kidToBase64Url, toBase64Url } from '../encoding.ts';
import { BadRequest } from '../errors.ts';

/** W3C EME ClearKey: https://www.w3.org/TR/encrypted-media/#clear-key-request-format */
export interface ClearKeyRequest {
  /** Requested key ids, lowercase hex, deduplicated, in request order. */
  kids: string[];
  type: 'temporary' | 'persistent-license';
}

export interface ClearKeyLicense {
  keys: { kty: 'oct'; k: string; kid: string }[];
  type: string;
}

export const MAX_KIDS_PER_REQUEST = 64;

/** Validates an already JSON-parsed ClearKey license request. Throws BadRequest with a precise message. */
export function parseClearKeyRequest(body: unknown): ClearKeyRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('invalid_license_request', 'license request must be a JSON object');
  }
  const { kids, type } = body as { kids?: unknown; type?: unknown };
  if (!Array.isArray(kids) || kids.length === 0) {
    throw new BadRequest('invalid_license_request', '"kids" must be a non-empty array');
  }
  if (kids.length > MAX_KIDS_PER_REQUEST) {
    throw new BadRequest('invalid_license_request', `"kids" holds at most ${MAX_KIDS_PER_REQUEST} key ids`);
  }
  const sessionType = type ?? 'temporary';
  if (sessionType !== 'temporary' && sessionType !== 'persistent-license') {
    throw new BadRequest('invalid_license_request', '"type" must be "temporary" or "persistent-license"');
  }
  const seen = new Set<string>();
  for (const kid of kids) {
    const bytes = typeof kid === 'string' ? fromBase64Url(kid) : null;
    if (bytes?.length !== 16) {
      throw new BadRequest('invalid_kid', 'each kid must be 16 bytes in base64url');
    }
    seen.add(bytes.toString('hex'));
  }
  return { kids: [...seen], type: sessionType };
}

/** Builds the ClearKey license JSON. Vigil only issues temporary licenses. */
export function buildClearKeyLicense(entries: { kid: string; key: Uint8Array }[]): ClearKeyLicense {
  return {
    keys: entries.map(({ kid, key }) => ({ kty: 'oct', k: toBase64Url(key), kid: kidToBase64Url(kid) })),
    type: 'temporary',
  };
}
