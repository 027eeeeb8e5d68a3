import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import { Denial } from '../errors.ts';

/** The keys a tenant verifies its viewers' tokens with. */
export interface TenantTokenKeys {
  tenantId: string;
  /** HS256 secret. */
  secret: Uint8Array;
  /** The HS256 secret before the last rotation: it verifies until `until` (ms since the epoch). */
  previousSecret?: { secret: Uint8Array; until: number } | undefined;
  /** Public keys for RS256 / ES256, registered by the tenant. */
  jwks?: JSONWebKeySet | undefined;
}

export const DEFAULT_TENANT = 'default';
export const MAX_TOKEN_LENGTH = 8192;
const ASYMMETRIC = new Set(['RS256', 'ES256']);

export interface DecodedToken {
  alg: string;
  tenantId: string;
  payload: Record<string, unknown>;
}

/**
 * Reads header and payload without trusting them, to learn the algorithm and which tenant's key to
 * verify with. Nothing read here is used before the signature is checked.
 */
export function decodeUnverified(token: string): DecodedToken {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH)
    throw new Denial('token_malformed', 'token has a bad length');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Denial('token_malformed', 'token is not a compact JWS');
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    throw new Denial('token_malformed', 'token header or payload is not base64url JSON');
  }
  if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) {
    throw new Denial('token_malformed', 'token header and payload must be JSON objects');
  }
  const alg = (header as { alg?: unknown }).alg;
  if (typeof alg !== 'string') throw new Denial('token_malformed', 'token header has no "alg"');
  const tenant = (payload as { tenant?: unknown }).tenant;
  if (tenant !== undefined && (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > 64)) {
    throw new Denial('token_claims_invalid', '"tenant" must be a short string');
  }
  return { alg, tenantId: tenant ?? DEFAULT_TENANT, payload: payload as Record<string, unknown> };
}

export interface SignatureOptions {
  /** Algorithms this path accepts; the compatibility API takes HS256 only. */
  algorithms: readonly string[];
  clockSkewSeconds: number;
  /** Milliseconds since the epoch: the verifier's idea of now. */
  now: number;
}

/**
 * Verifies the signature with the one key the algorithm calls for: HS256 only ever uses the tenant's
 * secret and RS256/ES256 only its registered public keys, so an HS token "signed" with a public key
 * never verifies (algorithm confusion).
 */
export async function verifySignature(
  token: string,
  alg: string,
  keys: TenantTokenKeys,
  opts: SignatureOptions,
): Promise<JWTPayload> {
  if (!opts.algorithms.includes(alg))
    throw new Denial('alg_not_allowed', `algorithm "${alg}" is not accepted`);
  const verifyOpts = {
    algorithms: [alg],
    clockTolerance: opts.clockSkewSeconds,
    currentDate: new Date(opts.now),
  };
  try {
    if (alg === 'HS256') return await verifyHs256(token, keys, verifyOpts, opts.now);
    if (ASYMMETRIC.has(alg) && keys.jwks && keys.jwks.keys.length > 0) {
      return (await jwtVerify(token, createLocalJWKSet(keys.jwks), verifyOpts)).payload;
    }
    throw new Denial('alg_not_allowed', `tenant has no key for algorithm "${alg}"`);
  } catch (err) {
    throw toDenial(err);
  }
}

/**
 * HS256 with the tenant's secret and, only when that signature fails and the rotation's grace period
 * has not ended, with the secret it replaced: both are compared by jose in constant time.
 */
async function verifyHs256(
  token: string,
  keys: TenantTokenKeys,
  verifyOpts: Parameters<typeof jwtVerify>[2],
  now: number,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys.secret, verifyOpts)).payload;
  } catch (err) {
    const previous = keys.previousSecret;
    if (!(err instanceof errors.JWSSignatureVerificationFailed) || !previous || now >= previous.until)
      throw err;
    return (await jwtVerify(token, previous.secret, verifyOpts)).payload;
  }
}

function toDenial(err: unknown): Denial {
  if (err instanceof Denial) return err;
  if (err instanceof errors.JWTExpired) return new Denial('token_expired', 'token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if ((err.claim === 'nbf' || err.claim === 'iat') && err.reason === 'check_failed')
      return new Denial('token_not_yet_valid', 'token is not valid yet');
    return new Denial('token_claims_invalid', `token claim "${err.claim}" is invalid`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new Denial('token_invalid', 'bad token signature');
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new Denial('alg_not_allowed', 'token algorithm not accepted');
  if (err instanceof errors.JWKSNoMatchingKey)
    return new Denial('token_invalid', 'no registered key matches the token');
  return new Denial('token_invalid', 'token could not be verified');
}
