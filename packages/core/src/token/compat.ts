import { Denial } from '../errors.ts';
import type { ViewerClaims } from './viewer.ts';
import { ipClaim } from './viewer.ts';

/**
 * Viewer tokens of the seed system: `sessionId`, `resourceId`, `createdAt` (unix seconds) and `userIP`,
 * with no `exp`; they are valid for a fixed time after `createdAt`.
 */
export function seedViewerClaims(
  tenantId: string,
  payload: Record<string, unknown>,
  now: number,
  ttlSeconds: number,
  clockSkewSeconds: number,
): ViewerClaims {
  const { sessionId, resourceId, createdAt } = payload;
  if (typeof sessionId !== 'string' || sessionId.length === 0 || sessionId.length > 128) {
    throw new Denial('token_claims_invalid', 'claim "sessionId" is missing or malformed');
  }
  if (typeof resourceId !== 'string' || resourceId.length === 0 || resourceId.length > 256) {
    throw new Denial('token_claims_invalid', 'claim "resourceId" is missing or malformed');
  }
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) {
    throw new Denial('token_claims_invalid', 'claim "createdAt" must be unix seconds');
  }
  const nowSeconds = now / 1000;
  if (createdAt > nowSeconds + clockSkewSeconds)
    throw new Denial('token_not_yet_valid', 'token created in the future');
  if (createdAt + ttlSeconds + clockSkewSeconds < nowSeconds)
    throw new Denial('token_expired', 'token has expired');
  return {
    tenantId,
    sessionId,
    resourceId,
    ip: ipClaim(payload, 'userIP'),
    iat: createdAt,
    exp: createdAt + ttlSeconds,
  };
}
