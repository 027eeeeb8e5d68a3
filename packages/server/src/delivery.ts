import { isTenantId } from '@vigil/control';
import { BadRequest, DELIVERY_PARAM, deliveryKeyLabel, signDelivery } from '@vigil/core';
import type { Envelope } from '@vigil/keys';

/** Where the origin serves a tenant's published files: `/origin/<tenantId>/<resourceId>/...`. */
export const ORIGIN_BASE = '/origin';
/** A resource id that can name one folder of the origin: no `/`, no leading dot, nothing to encode. */
const RESOURCE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._~-]{0,199}$/;

export { isTenantId };

/** The URL path prefix of a resource's folder on the origin; BadRequest when the id can't name a folder. */
export function originPrefix(tenantId: string, resourceId: string): string {
  if (!RESOURCE_SEGMENT.test(resourceId)) {
    throw new BadRequest(
      'invalid_resource',
      'resource ids served by the origin are 1-200 of A-Z a-z 0-9 . _ ~ - and start with no dot',
    );
  }
  return `${ORIGIN_BASE}/${tenantId}/${resourceId}/`;
}

export interface DeliveryIssue {
  token: string;
  /** The query parameter the token goes in. */
  param: typeof DELIVERY_PARAM;
  prefix: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface DeliveryRequest {
  tenantId: string;
  resourceId: string;
  ttlSeconds: number;
  /** Bind to this address. */
  ip?: string | undefined;
  sessionId?: string | undefined;
  /** The grant never outlives this (e.g. the viewer token's expiry), in ms. */
  notAfter?: number | undefined;
  now?: number;
}

const MAX_CACHED_SECRETS = 10_000;

/**
 * A tenant's secret derived from the master key under `label(tenantId)`, kept in memory (a bounded
 * cache); undefined for an id no tenant can have.
 */
export function tenantSecrets(
  envelope: Envelope,
  label: (tenantId: string) => string,
): (tenantId: string) => Buffer | undefined {
  const secrets = new Map<string, Buffer>();
  return (tenantId) => {
    let secret = secrets.get(tenantId);
    if (secret === undefined) {
      if (!isTenantId(tenantId)) return undefined;
      if (secrets.size >= MAX_CACHED_SECRETS) secrets.clear();
      secret = envelope.deriveKey(label(tenantId));
      secrets.set(tenantId, secret);
    }
    return secret;
  };
}

/**
 * Signs delivery grants with per-tenant secrets derived from the master key (`delivery:v1:<tenant>`),
 * so every instance sharing the master key agrees and no secret is stored. Derived secrets are kept
 * in memory; they are never logged or sent.
 */
export class DeliverySigner {
  readonly #secretFor: (tenantId: string) => Buffer | undefined;

  constructor(envelope: Envelope) {
    this.#secretFor = tenantSecrets(envelope, deliveryKeyLabel);
  }

  /** The tenant's delivery secret; undefined for an id no tenant can have. */
  secretFor(tenantId: string): Buffer | undefined {
    return this.#secretFor(tenantId);
  }

  issue(req: DeliveryRequest): DeliveryIssue {
    const now = req.now ?? Date.now();
    const prefix = originPrefix(req.tenantId, req.resourceId);
    const expiresAt = Math.min(
      now + Math.round(req.ttlSeconds * 1000),
      req.notAfter ?? Number.MAX_SAFE_INTEGER,
    );
    const secret = this.secretFor(req.tenantId);
    if (!secret) throw new Error(`"${req.tenantId}" is not a tenant id`);
    const token = signDelivery(
      { tenantId: req.tenantId, prefix, expiresAt, ip: req.ip, sessionId: req.sessionId },
      secret,
    );
    return { token, param: DELIVERY_PARAM, prefix, expiresAt };
  }
}

/** A signed origin URL: `<base><prefix><path>?vd=<token>`; `path` is relative to the prefix, not yet encoded. */
export function signedOriginUrl(base: string, issue: DeliveryIssue, path: string): string {
  const rel = path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
  const url = new URL(`${base.replace(/\/+$/, '')}${issue.prefix}${rel}`);
  url.searchParams.set(issue.param, issue.token);
  return url.toString();
}

/**
 * Signs delivery for a tenant's resource in-process (what the demo and a tenant backend running next
 * to Vigil call instead of `POST /v1/delivery/sign`). `store.envelope` holds the master key.
 */
export function issueDelivery(store: { envelope: Envelope }, req: DeliveryRequest): DeliveryIssue {
  return new DeliverySigner(store.envelope).issue(req);
}
