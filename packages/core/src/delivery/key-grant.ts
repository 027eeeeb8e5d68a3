import type { DenialReason } from '../errors.ts';
import { isIpAddress, normalizeIp } from '../ip.ts';
import { checkMacToken, type MacTokenKind, macToken, readPayloadObject, splitMacToken } from './mac-token.ts';

/**
 * HLS key grants: what lets a player that can't add a header (native HLS in Safari and on TVs, any player
 * given only a URL) fetch the AES-128 keys of a playlist the origin served it under a delivery token. The
 * origin writes one into each `#EXT-X-KEY` URI of Vigil's key endpoint as `?kg=`; the key endpoint takes
 * it instead of a viewer token and applies the same access rules (IP binding, ban by session, ban by IP).
 *
 * A grant is its own kind of token, so nothing else accepts it and it accepts nothing else:
 * `kg1.<payload>.<mac>`, base64url of a small JSON payload and of its HMAC-SHA256 under a per-tenant
 * secret of its own (derived under `hls-key-grant:v1:<tenant>`, neither the delivery secret nor the
 * viewer-token secret), with a MAC domain of its own. It names the tenant, the viewer session, the
 * resource whose keys it grants and, when the delivery token was bound to an address, that address.
 */
export interface KeyGrant {
  tenantId: string;
  /** The viewer session (bans by session apply at key time). */
  sessionId: string;
  /** The resource whose keys the grant covers. */
  resourceId: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** When present, only requests from this (normalised) address get keys. */
  ip?: string;
}

/** The query parameter of key URIs carrying a grant. */
export const KEY_GRANT_PARAM = 'kg';
export const KEY_GRANT_VERSION = 1;
export const MAX_KEY_GRANT_LENGTH = 1024;
/** What every grant starts with: a JWT or a delivery token never does. */
export const KEY_GRANT_PREFIX = 'kg1.';

export const KEY_GRANT_REASONS = ['key_grant_malformed', 'key_grant_signature', 'key_grant_expired'] as const;
export type KeyGrantReason = (typeof KEY_GRANT_REASONS)[number] & DenialReason;

export type KeyGrantCheck =
  | { ok: true; grant: KeyGrant }
  | { ok: false; reason: KeyGrantReason; message: string };

const MAC_DOMAIN = 'vigil-hls-key-grant.v1.';
const TYPE = 'hls-key';
const TENANT = /^[\x21-\x7e]{1,64}$/;
const SESSION = /^[\x21-\x7e]{1,128}$/;
const RESOURCE = /^[\x21-\x7e]{1,256}$/;
const PAYLOAD_KEYS = new Set(['v', 'typ', 't', 's', 'r', 'e', 'i']);

/** The label the per-tenant key-grant secret is derived under (see Envelope.deriveKey). */
export function keyGrantKeyLabel(tenantId: string): string {
  return `hls-key-grant:v1:${tenantId}`;
}

const KIND: MacTokenKind<ReturnType<typeof parsePayload> & object> = {
  name: 'key grant',
  domain: MAC_DOMAIN,
  parse: (encoded) => parsePayload(encoded),
};

/** Signs a key grant. Deterministic: the same grant gives the same token. Throws on a malformed grant. */
export function signKeyGrant(grant: KeyGrant, secret: Uint8Array): string {
  if (!TENANT.test(grant.tenantId)) throw new Error('key grant: bad tenantId');
  if (!SESSION.test(grant.sessionId)) throw new Error('key grant: bad sessionId');
  if (!RESOURCE.test(grant.resourceId)) throw new Error('key grant: bad resourceId');
  if (!Number.isSafeInteger(grant.expiresAt) || grant.expiresAt <= 0)
    throw new Error('key grant: expiresAt must be milliseconds since the epoch');
  if (grant.ip !== undefined && !isIpAddress(grant.ip)) throw new Error('key grant: bad ip');
  const body: Record<string, unknown> = {
    v: KEY_GRANT_VERSION,
    typ: TYPE,
    t: grant.tenantId,
    s: grant.sessionId,
    r: grant.resourceId,
    e: grant.expiresAt,
  };
  if (grant.ip !== undefined) body.i = normalizeIp(grant.ip);
  const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  return `${KEY_GRANT_PREFIX}${payload}.${macToken(KIND, secret, payload)}`;
}

function parsePayload(encoded: string): KeyGrant | null {
  const body = readPayloadObject(encoded, PAYLOAD_KEYS);
  if (body === null) return null;
  const { v, typ, t, s, r, e, i } = body;
  if (v !== KEY_GRANT_VERSION || typ !== TYPE) return null;
  if (typeof t !== 'string' || !TENANT.test(t)) return null;
  if (typeof s !== 'string' || !SESSION.test(s)) return null;
  if (typeof r !== 'string' || !RESOURCE.test(r)) return null;
  if (typeof e !== 'number' || !Number.isSafeInteger(e) || e <= 0) return null;
  if (i !== undefined && (typeof i !== 'string' || !isIpAddress(i))) return null;
  const grant: KeyGrant = { tenantId: t, sessionId: s, resourceId: r, expiresAt: e };
  if (i !== undefined) grant.ip = normalizeIp(i as string);
  return grant;
}

const refuse = (reason: KeyGrantReason, message: string): KeyGrantCheck => ({ ok: false, reason, message });

/**
 * Checks a key grant: well-formed, signature (constant time, under the grant tenant's secret), expiry.
 * The caller then applies the access rules (IP binding, bans) and the resource of the requested key.
 */
export function verifyKeyGrant(
  token: string,
  opts: { now: number; secretFor(tenantId: string): Uint8Array | undefined },
): KeyGrantCheck {
  if (token.length > MAX_KEY_GRANT_LENGTH) return refuse('key_grant_malformed', 'key grant is too long');
  if (!token.startsWith(KEY_GRANT_PREFIX))
    return refuse('key_grant_malformed', `key grant does not start with "${KEY_GRANT_PREFIX}"`);
  const rest = token.slice(KEY_GRANT_PREFIX.length);
  const parts = splitMacToken(rest);
  if (parts === null) return refuse('key_grant_malformed', 'key grant is not kg1.<payload>.<mac>');
  const checked = checkMacToken(KIND, ...parts, opts);
  if (!checked.ok) return refuse(`key_grant_${checked.fault}`, checked.message);
  const grant = checked.value;
  return { ok: true, grant };
}
