import { isIpAddress, normalizeIp } from '../ip.ts';
import { identifyToken, TOKEN_PURPOSES } from '../token/purpose.ts';
import { checkMacToken, type MacTokenKind, macToken } from './mac-token.ts';

/**
 * Signed delivery: what lets a viewer fetch manifests and segments from the origin. A grant covers one
 * URL path prefix (a resource's folder) until it expires, optionally from one IP address only. The
 * token is `<payload>.<mac>`: base64url of a small JSON payload, and base64url of its HMAC-SHA256 under
 * the tenant's delivery secret (derived from the master key, never the viewer-token secret).
 */
export interface DeliveryGrant {
  tenantId: string;
  /** The URL path prefix the grant covers, starting and ending with `/`, e.g. `/origin/default/live-demo/`. */
  prefix: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** When present, only requests from this (normalised) address are served. */
  ip?: string;
  /** The viewer session the grant was issued to (for bans and logs). */
  sessionId?: string;
}

export const DELIVERY_REASONS = [
  'delivery_missing',
  'delivery_malformed',
  'delivery_signature',
  'delivery_expired',
  'delivery_ip',
  'delivery_scope',
] as const;
export type DeliveryReason = (typeof DELIVERY_REASONS)[number];

export type DeliveryCheck =
  | { ok: true; grant: DeliveryGrant }
  | { ok: false; reason: DeliveryReason; message: string };

/** The query parameter carrying the token, and the cookie accepted instead. */
export const DELIVERY_PARAM = 'vd';
export const DELIVERY_COOKIE = 'vigil_delivery';
export const DELIVERY_VERSION = 1;
export const MAX_DELIVERY_TOKEN_LENGTH = 2048;

const MAC_DOMAIN = 'vigil-delivery.';
const TENANT = /^[\x21-\x7e]{1,64}$/;
const SESSION = /^[\x21-\x7e]{1,128}$/;
const PAYLOAD_KEYS = new Set(['v', 't', 'p', 'e', 'i', 's']);

/** The label the per-tenant delivery secret is derived under (see Envelope.deriveKey). */
export function deliveryKeyLabel(tenantId: string): string {
  return `delivery:v1:${tenantId}`;
}

/**
 * A URL path, percent-decoded segment by segment, with `.` and `..` resolved and empty segments dropped.
 * null when it would climb above the root, can't be decoded, or a segment decodes to a `/`, `\` or
 * control character (which would mean something else once used as a file name).
 */
export function normalizeUrlPath(raw: string): string | null {
  if (raw.length === 0 || raw.length > 4096 || raw[0] !== '/') return null;
  const out: string[] = [];
  const parts = raw.split('/');
  // A path ending in `/`, `/.` or `/..` names a folder.
  let trailing = false;
  for (let i = 1; i < parts.length; i++) {
    let segment: string;
    try {
      segment = decodeURIComponent(parts[i]!);
    } catch {
      return null;
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (/[/\\\x00-\x1f\x7f]/.test(segment)) return null;
    trailing = segment === '' || segment === '.' || segment === '..';
    if (segment === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else if (!trailing) out.push(segment);
  }
  const joined = `/${out.join('/')}`;
  return trailing && out.length > 0 ? `${joined}/` : joined;
}

function checkGrant(grant: DeliveryGrant): void {
  if (!TENANT.test(grant.tenantId)) throw new Error('delivery grant: bad tenantId');
  if (
    typeof grant.prefix !== 'string' ||
    !grant.prefix.endsWith('/') ||
    normalizeUrlPath(grant.prefix) !== grant.prefix
  ) {
    throw new Error('delivery grant: prefix must be a normalised path ending with "/"');
  }
  if (!Number.isSafeInteger(grant.expiresAt) || grant.expiresAt <= 0)
    throw new Error('delivery grant: expiresAt must be milliseconds since the epoch');
  if (grant.ip !== undefined && !isIpAddress(grant.ip)) throw new Error('delivery grant: bad ip');
  if (grant.sessionId !== undefined && !SESSION.test(grant.sessionId))
    throw new Error('delivery grant: bad sessionId');
}

const KIND: MacTokenKind<ReturnType<typeof parsePayload> & object> = {
  name: 'delivery token',
  domain: MAC_DOMAIN,
  parse: (encoded) => parsePayload(encoded),
};

/** Signs a grant into a compact URL-safe token. Throws on a malformed grant (a programming error). */
export function signDelivery(grant: DeliveryGrant, secret: Uint8Array): string {
  checkGrant(grant);
  const body: Record<string, unknown> = {
    v: DELIVERY_VERSION,
    t: grant.tenantId,
    p: grant.prefix,
    e: grant.expiresAt,
  };
  if (grant.ip !== undefined) body.i = normalizeIp(grant.ip);
  if (grant.sessionId !== undefined) body.s = grant.sessionId;
  const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  return `${payload}.${macToken(KIND, secret, payload)}`;
}

export interface VerifyDeliveryOptions {
  /** The request's URL path as received (still percent-encoded, without the query). */
  path: string;
  /** The client's address (see the server's client-ip resolver). */
  ip: string;
  /** Milliseconds since the epoch. */
  now: number;
  /** The tenant's delivery secret; undefined for a tenant that doesn't exist. */
  secretFor(tenantId: string): Uint8Array | undefined;
  /** The tenant whose files the path names: a grant of another tenant is out of scope. */
  tenantId?: string;
}

const refuse = (reason: DeliveryReason, message: string): DeliveryCheck => ({ ok: false, reason, message });

/** Reads the payload strictly: known fields only, each of its type. null when anything is off. */
function parsePayload(encoded: string): DeliveryGrant | null {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const keys = Object.keys(body);
  if (keys.some((k) => !PAYLOAD_KEYS.has(k))) return null;
  const { v, t, p, e, i, s } = body as Record<string, unknown>;
  if (v !== DELIVERY_VERSION) return null;
  if (typeof t !== 'string' || !TENANT.test(t)) return null;
  if (typeof p !== 'string' || p.length > 1024 || !p.endsWith('/') || normalizeUrlPath(p) !== p) return null;
  if (typeof e !== 'number' || !Number.isSafeInteger(e) || e <= 0) return null;
  if (i !== undefined && (typeof i !== 'string' || !isIpAddress(i))) return null;
  if (s !== undefined && (typeof s !== 'string' || !SESSION.test(s))) return null;
  const grant: DeliveryGrant = { tenantId: t, prefix: p, expiresAt: e };
  if (i !== undefined) grant.ip = normalizeIp(i as string);
  if (s !== undefined) grant.sessionId = s as string;
  return grant;
}

/**
 * Checks a delivery token for one request, in this order: present, well-formed, signature (constant
 * time), expiry, tenant and path in scope (on the normalised, decoded path), IP binding.
 */
export function verifyDelivery(token: string | undefined, opts: VerifyDeliveryOptions): DeliveryCheck {
  if (token === undefined || token === '')
    return refuse('delivery_missing', `a delivery token is required (?${DELIVERY_PARAM}=)`);
  if (token.length > MAX_DELIVERY_TOKEN_LENGTH)
    return refuse('delivery_malformed', 'delivery token is too long');
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) {
    const found = identifyToken(token);
    if (found !== undefined && found !== 'delivery') {
      return refuse(
        'delivery_malformed',
        `this is ${TOKEN_PURPOSES[found].label}; expected a delivery token (?${DELIVERY_PARAM}=) for the origin`,
      );
    }
    return refuse('delivery_malformed', 'delivery token is not <payload>.<mac>');
  }
  const payload = token.slice(0, dot);
  const sent = token.slice(dot + 1);
  const checked = checkMacToken(KIND, payload, sent, opts);
  if (!checked.ok) {
    // Of the same shape but another purpose (a console session cookie): named, on the failure path only.
    const found = identifyToken(token);
    if (found !== undefined && found !== 'delivery')
      return refuse(
        'delivery_malformed',
        `this is ${TOKEN_PURPOSES[found].label}; expected a delivery token (?${DELIVERY_PARAM}=) for the origin`,
      );
    return refuse(`delivery_${checked.fault}`, checked.message);
  }
  const grant = checked.value;
  if (opts.tenantId !== undefined && opts.tenantId !== grant.tenantId)
    return refuse('delivery_scope', "delivery token is for another tenant's content");
  const path = normalizeUrlPath(opts.path);
  if (path === null || !path.startsWith(grant.prefix))
    return refuse('delivery_scope', 'delivery token does not cover this path');
  if (grant.ip !== undefined && grant.ip !== normalizeIp(opts.ip))
    return refuse('delivery_ip', 'delivery token is bound to another IP address');
  return { ok: true, grant };
}
