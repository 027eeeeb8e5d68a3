import { Denial } from '../errors.ts';
import { isIpAddress, normalizeIp } from '../ip.ts';
import { decodeUnverified, type TenantTokenKeys, verifySignature } from './jwt.ts';
import { assertJwtPurpose, assertTokenFormat } from './purpose.ts';
import { usageClaim, type ViewerUsage } from './usage.ts';

const WHERE = 'the viewer endpoints';

/** What a verified viewer token says. */
export interface ViewerClaims {
  tenantId: string;
  sessionId: string;
  resourceId: string;
  /** Normalised viewer IP the token is bound to. */
  ip: string;
  iat: number;
  exp: number;
  sub?: string;
  /** A media asset's usage policy (token/usage.ts), when the token came from its stream-url. */
  usage?: ViewerUsage;
}

const ID = /^[\x21-\x7e]{1,128}$/;
const RESOURCE = /^[\x21-\x7e]{1,256}$/;

function str(payload: Record<string, unknown>, name: string, pattern: RegExp): string {
  const value = payload[name];
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new Denial('token_claims_invalid', `claim "${name}" is missing or malformed`);
  }
  return value;
}

function int(payload: Record<string, unknown>, name: string): number {
  const value = payload[name];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Denial('token_claims_invalid', `claim "${name}" is missing or not a number`);
  }
  return value;
}

export function ipClaim(payload: Record<string, unknown>, name: string): string {
  const value = payload[name];
  if (typeof value !== 'string' || !isIpAddress(value)) {
    throw new Denial('token_claims_invalid', `claim "${name}" must be an IP address`);
  }
  return normalizeIp(value);
}

/** Checks the viewer claims of a token whose signature has been verified. */
export function viewerClaimsFrom(
  tenantId: string,
  payload: Record<string, unknown>,
  now: number,
  clockSkewSeconds: number,
): ViewerClaims {
  const claims: ViewerClaims = {
    tenantId,
    sessionId: str(payload, 'sessionId', ID),
    resourceId: str(payload, 'resourceId', RESOURCE),
    ip: ipClaim(payload, 'ip'),
    iat: int(payload, 'iat'),
    exp: int(payload, 'exp'),
  };
  if (payload.sub !== undefined) claims.sub = str(payload, 'sub', RESOURCE);
  const usage = usageClaim(payload);
  if (usage !== undefined) claims.usage = usage;
  if (claims.iat > now / 1000 + clockSkewSeconds)
    throw new Denial('token_not_yet_valid', 'token issued in the future');
  return claims;
}

export interface ViewerTokenVerifierOptions {
  keysFor(tenantId: string): Promise<TenantTokenKeys | undefined>;
  clockSkewSeconds: number;
  /** Verified tokens remembered until they expire, so repeat license calls skip the signature check. */
  cacheSize?: number;
}

/**
 * Verifies viewer tokens (HS256 with the tenant secret; RS256/ES256 with its JWKS) and remembers the
 * verified ones: a viewer calls once per key period with the same token, and a signature check costs
 * 10x the rest of the license path.
 */
export class ViewerTokenVerifier {
  readonly #opts: ViewerTokenVerifierOptions;
  readonly #cache = new Map<string, ViewerClaims>();
  readonly #cacheSize: number;

  constructor(opts: ViewerTokenVerifierOptions) {
    this.#opts = opts;
    this.#cacheSize = opts.cacheSize ?? 50_000;
  }

  /** Forget every verified token, e.g. after a tenant's keys changed. */
  clear(): void {
    this.#cache.clear();
  }

  /** A verified, still valid token from the cache, or undefined. */
  cached(token: string, now: number): ViewerClaims | undefined {
    const claims = this.#cache.get(token);
    if (claims === undefined) return undefined;
    if (claims.exp + this.#opts.clockSkewSeconds <= now / 1000) {
      this.#cache.delete(token);
      return undefined;
    }
    return claims;
  }

  async verify(token: string, now: number): Promise<ViewerClaims> {
    const hit = this.cached(token, now);
    if (hit) return hit;
    assertTokenFormat(token, 'viewer', WHERE);
    const decoded = decodeUnverified(token);
    const keys = await this.#opts.keysFor(decoded.tenantId);
    if (!keys) throw new Denial('unknown_tenant', 'token names an unknown tenant');
    const skew = this.#opts.clockSkewSeconds;
    const payload = await verifySignature(token, decoded.alg, keys, {
      algorithms: ['HS256', 'RS256', 'ES256'],
      clockSkewSeconds: skew,
      now,
    });
    assertJwtPurpose(payload as Record<string, unknown>, 'viewer', WHERE);
    const claims = viewerClaimsFrom(decoded.tenantId, payload as Record<string, unknown>, now, skew);
    if (payload.nbf !== undefined && typeof payload.nbf !== 'number') {
      throw new Denial('token_claims_invalid', 'claim "nbf" must be a number');
    }
    if (typeof payload.nbf === 'number' && payload.nbf > now / 1000 + skew) {
      throw new Denial('token_not_yet_valid', 'token is not valid yet');
    }
    if (this.#cache.size >= this.#cacheSize) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    if (payload.nbf === undefined || (payload.nbf as number) <= now / 1000) this.#cache.set(token, claims);
    return claims;
  }
}
