import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * What Vigil's own URL tokens share (delivery tokens, HLS key grants): a base64url JSON payload and its
 * HMAC-SHA256 under a per-tenant secret derived for that kind only, in a MAC domain of the kind's own.
 * Each kind frames, parses and scopes its tokens itself; this is the part that must never differ.
 */
const B64URL = /^[A-Za-z0-9_-]+$/;
const MAC_LENGTH = 32;

export interface MacTokenKind<T> {
  /** How refusals name the token ("delivery token"). */
  name: string;
  /** Prepended to the payload under the MAC, so no other kind's MAC can ever match. */
  domain: string;
  /** The payload's fields, or null when it is not a well-formed payload of this kind. */
  parse(encoded: string): T | null;
}

export type MacTokenFault = 'malformed' | 'signature' | 'expired';

export type MacTokenCheck<T> = { ok: true; value: T } | { ok: false; fault: MacTokenFault; message: string };

/**
 * A token payload's JSON object: base64url JSON with only the `allowed` keys, or null when it is anything
 * else (bad base64 or JSON, not an object, an unknown key). Each kind checks the fields' types itself.
 */
export function readPayloadObject(
  encoded: string,
  allowed: ReadonlySet<string>,
): Record<string, unknown> | null {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  if (Object.keys(body).some((k) => !allowed.has(k))) return null;
  return body as Record<string, unknown>;
}

/** A token's two parts, `<payload>.<mac>` (exactly one dot, after a payload), or null. */
export function splitMacToken(token: string): [payload: string, mac: string] | null {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return null;
  return [token.slice(0, dot), token.slice(dot + 1)];
}

export function macToken(
  kind: Pick<MacTokenKind<unknown>, 'domain'>,
  secret: Uint8Array,
  payload: string,
): string {
  return createHmac('sha256', secret).update(kind.domain).update(payload).digest('base64url');
}

/**
 * Checks `payload` and `sent` (the two parts of a token): base64url, a payload of the kind, the MAC
 * (constant time, under the payload's tenant's secret; an unknown tenant fails like a bad MAC), expiry.
 */
export function checkMacToken<T extends { tenantId: string; expiresAt: number }>(
  kind: MacTokenKind<T>,
  payload: string,
  sent: string,
  opts: { now: number; secretFor(tenantId: string): Uint8Array | undefined },
): MacTokenCheck<T> {
  const fail = (fault: MacTokenFault, message: string): MacTokenCheck<T> => ({ ok: false, fault, message });
  if (!B64URL.test(payload) || !B64URL.test(sent)) return fail('malformed', `${kind.name} is not base64url`);
  const value = kind.parse(payload);
  if (!value) return fail('malformed', `${kind.name} payload is malformed`);
  const sentMac = Buffer.from(sent, 'base64url');
  const secret = opts.secretFor(value.tenantId);
  if (
    !secret ||
    sentMac.length !== MAC_LENGTH ||
    !timingSafeEqual(sentMac, Buffer.from(macToken(kind, secret, payload), 'base64url'))
  ) {
    return fail('signature', `${kind.name} signature is invalid`);
  }
  if (value.expiresAt <= opts.now) return fail('expired', `${kind.name} has expired`);
  return { ok: true, value };
}
