/**
 * Every refusal Vigil gives has a machine-readable code. The status follows from the code, so handlers
 * never pick status numbers themselves.
 */
export const DENIAL_STATUS = {
  token_missing: 401,
  token_malformed: 401,
  token_invalid: 401,
  token_expired: 401,
  token_not_yet_valid: 401,
  token_claims_invalid: 401,
  /** A credential of another purpose (see token/purpose.ts). */
  token_wrong_type: 401,
  alg_not_allowed: 401,
  unknown_tenant: 401,
  key_grant_malformed: 401,
  key_grant_signature: 401,
  key_grant_expired: 401,
  ip_mismatch: 403,
  banned: 403,
  origin_not_allowed: 403,
  resource_mismatch: 403,
  unknown_kid: 404,
  /** A media usage policy (token/usage.ts): every key asked for is above `maxResolution`. */
  resolution_capped: 403,
  /** A media usage policy: the user streams in `concurrentStreams` other sessions already. */
  concurrent_streams: 403,
  delivery_missing: 403,
  delivery_malformed: 403,
  delivery_signature: 403,
  delivery_expired: 403,
  delivery_ip: 403,
  delivery_scope: 403,
} as const;

export type DenialReason = keyof typeof DENIAL_STATUS;

export class Denial extends Error {
  readonly status: number;
  constructor(
    readonly reason: DenialReason,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.status = DENIAL_STATUS[reason];
  }
}

/** A client error that is not an authorisation refusal: bad JSON, bad base64, missing fields, ... */
export class BadRequest extends Error {
  readonly status: number;
  constructor(
    readonly code: string,
    message: string,
    status = 400,
  ) {
    super(message);
    this.status = status;
  }
}
