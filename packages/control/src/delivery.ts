import { isIpAddress, normalizeIp, normalizeUrlPath } from '@vigil/core';
import { type Actor, requireRole } from './actor.ts';
import { coreRule } from './core-errors.ts';
import { invalid } from './errors.ts';
import { check, defined } from './schema.ts';

/** What signing needs: the server's signer (per-tenant secrets from the master key) and the default TTL. */
export interface DeliveryDeps<I extends { prefix: string }> {
  signer: {
    issue(req: {
      tenantId: string;
      resourceId: string;
      ttlSeconds: number;
      ip?: string | undefined;
      sessionId?: string | undefined;
      now?: number;
    }): I;
  };
  deliveryTtlSeconds: number;
}

export const signDeliverySchema = {
  type: 'object',
  required: ['resourceId'],
  additionalProperties: false,
  properties: {
    resourceId: { type: 'string', minLength: 1, maxLength: 200 },
    ttlSeconds: { type: 'integer', minimum: 1, maximum: 7 * 24 * 3600 },
    ip: { type: 'string', minLength: 2, maxLength: 64 },
    sessionId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
    path: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export interface SignDeliveryInput {
  resourceId: string;
  ttlSeconds?: number | undefined;
  /** Bind the grant to this address. */
  ip?: string | undefined;
  /** Name the session, so a ban of it stops its delivery too. */
  sessionId?: string | undefined;
  /** A file under the resource's folder to make the signed URL of. */
  path?: string | undefined;
}

/**
 * Signs delivery of a resource of the actor's tenant (for a tenant backend, along with the viewer token
 * it mints). `file` is `path` made relative to the grant's prefix, checked to stay under it.
 */
export async function signDelivery<I extends { prefix: string }>(
  deps: DeliveryDeps<I>,
  actor: Actor,
  input: SignDeliveryInput,
  now = Date.now(),
): Promise<{ issue: I; ip: string | undefined; file: string | undefined }> {
  requireRole(actor, 'operator');
  const body = check<SignDeliveryInput>(signDeliverySchema, defined(input));
  if (body.ip !== undefined && !isIpAddress(body.ip))
    throw invalid('invalid_ip', '"ip" is not an IP address');
  const ip = body.ip === undefined ? undefined : normalizeIp(body.ip);
  const issue = await coreRule(() =>
    deps.signer.issue({
      tenantId: actor.tenantId,
      resourceId: body.resourceId,
      ttlSeconds: body.ttlSeconds ?? deps.deliveryTtlSeconds,
      ip,
      sessionId: body.sessionId,
      now,
    }),
  );
  let file: string | undefined;
  if (body.path !== undefined) {
    const target = normalizeUrlPath(`${issue.prefix}${body.path.replace(/^\/+/, '')}`);
    if (target === null || !target.startsWith(issue.prefix) || target === issue.prefix)
      throw invalid('invalid_path', '"path" must name a file under the resource\'s folder');
    file = target.slice(issue.prefix.length);
  }
  return { issue, ip, file };
}
