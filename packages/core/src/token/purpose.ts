import { KEY_GRANT_PREFIX } from '../delivery/key-grant.ts';
import { Denial } from '../errors.ts';

/**
 * Every credential Vigil accepts has one purpose, and each endpoint family takes exactly one. A token
 * presented where it isn't its own is refused with `token_wrong_type`, naming what it looks like.
 *
 * JWTs tell their purpose by an optional `typ` claim, and otherwise by the claims they must and must not
 * carry (tenant backends and the seed system mint tokens without a `typ`). Tokens Vigil mints itself in
 * other formats (delivery tokens, HLS key grants, console sessions: `server/src/auth/console-session.ts`) are separated by format, by a
 * key derived for that purpose only (HKDF label `<purpose>:v<n>:<tenant>`) and by a MAC domain of their
 * own. A purpose that is new (key grants, console sessions) must carry its `typ`, so no existing token
 * can ever pass for it.
 */
export type TokenPurpose =
  | 'viewer'
  | 'compat-viewer'
  | 'compat-admin'
  | 'delivery'
  | 'api-key'
  | 'key-grant'
  | 'console-session';

export interface PurposeRule {
  /** How the purpose is named to whoever presented the token. */
  label: string;
  /**
   * `jwt`: compact JWS; `mac`: `<base64url payload>.<base64url mac>`; `grant`: `kg1.<payload>.<mac>`
   * (delivery/key-grant.ts); `opaque`: a random secret.
   */
  format: 'jwt' | 'mac' | 'grant' | 'opaque';
  /** The value of the `typ` claim this purpose may (or, with `typRequired`, must) carry. */
  typ?: string;
  typRequired?: boolean;
  /** Claims a token of this purpose always carries. */
  requires?: readonly string[];
  /** Claims that mark a token of another purpose. */
  forbids?: readonly string[];
}

/** Claims only the seed's admin calls carry. */
const ADMIN_CLAIMS = ['ban', 'watermarking', 'wmOptions'] as const;

export const TOKEN_PURPOSES: Readonly<Record<TokenPurpose, PurposeRule>> = {
  viewer: {
    label: 'a viewer token',
    format: 'jwt',
    typ: 'viewer',
    requires: ['sessionId', 'resourceId', 'ip', 'exp'],
    forbids: ['createdAt', 'userIP', ...ADMIN_CLAIMS],
  },
  'compat-viewer': {
    label: 'a seed-style viewer token',
    format: 'jwt',
    typ: 'compat-viewer',
    requires: ['sessionId', 'resourceId', 'createdAt', 'userIP'],
    forbids: ['ip', ...ADMIN_CLAIMS],
  },
  'compat-admin': {
    label: 'a seed-style admin token',
    format: 'jwt',
    typ: 'compat-admin',
    requires: ['iat'],
    forbids: ['resourceId', 'ip', 'userIP', 'createdAt'],
  },
  delivery: { label: 'a delivery token', format: 'mac' },
  'api-key': { label: 'an API key', format: 'opaque' },
  'key-grant': { label: 'an HLS key grant', format: 'grant', typ: 'hls-key', typRequired: true },
  'console-session': { label: 'a console session', format: 'mac', typ: 'console-session', typRequired: true },
};

const JWT_PURPOSES = (Object.keys(TOKEN_PURPOSES) as TokenPurpose[]).filter(
  (p) => TOKEN_PURPOSES[p].format === 'jwt',
);
const B64URL = /^[A-Za-z0-9_-]*$/;

function decodePart(part: string): Record<string, unknown> | undefined {
  if (!B64URL.test(part)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const ALL_PURPOSES = Object.keys(TOKEN_PURPOSES) as TokenPurpose[];

function purposeOfTyp(typ: unknown): TokenPurpose | undefined {
  return ALL_PURPOSES.find((p) => TOKEN_PURPOSES[p].typ === typ);
}

function shapeMatches(rule: PurposeRule, payload: Record<string, unknown>): boolean {
  if (rule.typRequired) return payload.typ === rule.typ;
  if (payload.typ !== undefined) return payload.typ === rule.typ;
  return (
    (rule.requires ?? []).every((c) => payload[c] !== undefined) &&
    !(rule.forbids ?? []).some((c) => payload[c] !== undefined)
  );
}

/** The purpose a JWT payload (verified or not) looks made for, if any. */
export function jwtPurposeOf(payload: Record<string, unknown>): TokenPurpose | undefined {
  // A `typ` names its purpose whatever the format (a JWT claiming to be a key grant is named as one).
  if (payload.typ !== undefined) return purposeOfTyp(payload.typ);
  return JWT_PURPOSES.find((p) => shapeMatches(TOKEN_PURPOSES[p], payload));
}

/**
 * What a presented credential looks like, read without trusting it: only to name it in a refusal.
 * undefined when it looks like nothing Vigil issues.
 */
export function identifyToken(token: string): TokenPurpose | undefined {
  if (token.length === 0 || token.length > 16_384) return undefined;
  if (token.startsWith('vk_')) return 'api-key';
  if (token.startsWith(KEY_GRANT_PREFIX)) return 'key-grant';
  const parts = token.split('.');
  if (parts.length === 3) {
    const header = decodePart(parts[0]!);
    const payload = decodePart(parts[1]!);
    if (header === undefined || typeof header.alg !== 'string' || payload === undefined) return undefined;
    return jwtPurposeOf(payload);
  }
  if (parts.length === 2) {
    const payload = decodePart(parts[0]!);
    if (payload === undefined || !B64URL.test(parts[1]!)) return undefined;
    if (payload.typ === TOKEN_PURPOSES['console-session'].typ) return 'console-session';
    if (payload.v === 1 && typeof payload.p === 'string') return 'delivery';
  }
  return undefined;
}

/** The refusal of a credential of another purpose, naming both. */
export function wrongType(found: TokenPurpose | undefined, wanted: TokenPurpose, where: string): Denial {
  const what = found ? `this is ${TOKEN_PURPOSES[found].label}` : 'this is not a token of the right type';
  return new Denial('token_wrong_type', `${what}; expected ${TOKEN_PURPOSES[wanted].label} for ${where}`, {
    expected: wanted,
    ...(found ? { presented: found } : {}),
  });
}

/**
 * Refuses, before any key is looked up, a credential that by its format can't be of `wanted`'s purpose
 * (an API key or a delivery token sent as a JWT, ...). Costs a few string checks.
 */
export function assertTokenFormat(token: string, wanted: TokenPurpose, where: string): void {
  const rule = TOKEN_PURPOSES[wanted];
  const found = identifyToken(token);
  if (found !== undefined && TOKEN_PURPOSES[found].format !== rule.format)
    throw wrongType(found, wanted, where);
}

/**
 * Checks that a verified JWT payload is of `wanted`'s purpose: its `typ`, when present, names it (and
 * must be present for purposes that require it); it carries no claim that marks another purpose; and
 * when it lacks what this purpose requires but has another purpose's shape, it is named as that one.
 */
export function assertJwtPurpose(
  payload: Record<string, unknown>,
  wanted: TokenPurpose,
  where: string,
): void {
  const rule = TOKEN_PURPOSES[wanted];
  const typ = payload.typ;
  if (typ !== undefined || rule.typRequired) {
    if (typ === rule.typ) return;
    throw wrongType(purposeOfTyp(typ), wanted, where);
  }
  const foreign = (rule.forbids ?? []).some((c) => payload[c] !== undefined);
  const incomplete = (rule.requires ?? []).some((c) => payload[c] === undefined);
  if (foreign) throw wrongType(jwtPurposeOf(payload), wanted, where);
  if (incomplete) {
    const found = jwtPurposeOf(payload);
    // Missing claims of a token that looks like nothing else are the claims check's to report.
    if (found !== undefined && found !== wanted) throw wrongType(found, wanted, where);
  }
}

/** The shortest HS256 secret Vigil accepts: 32 bytes, the size of the MAC (RFC 7518 §3.2). */
export const MIN_HMAC_SECRET_BYTES = 32;

/** Throws a one-line error naming `name` when an HS256 secret is shorter than 32 bytes. */
export function assertHmacSecret(secret: string | Uint8Array, name: string): void {
  const bytes = typeof secret === 'string' ? Buffer.byteLength(secret, 'utf8') : secret.byteLength;
  if (bytes < MIN_HMAC_SECRET_BYTES) {
    throw new WeakSecretError(
      `${name} is ${bytes} bytes; HS256 secrets must be at least ${MIN_HMAC_SECRET_BYTES} bytes (e.g. 32 random bytes, base64)`,
    );
  }
}

export class WeakSecretError extends Error {
  readonly code = 'secret_too_short';
}
