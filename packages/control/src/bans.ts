import { type Ban, canonicalBanTarget, newBanTarget } from '@vigil/core';
import { type PageRequest, pageBans } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import type { StoreDeps } from './deps.ts';
import { invalid, notFound } from './errors.ts';
import { check, defined } from './schema.ts';

/** Bans by session or by address (one IP or a CIDR range). */
export const createBanSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    sessionId: { type: 'string', minLength: 1, maxLength: 128 },
    ip: { type: 'string', minLength: 2, maxLength: 64 },
    reason: { type: 'string', maxLength: 500 },
    expiresAt: { type: 'string', format: 'date-time' },
  },
} as const;

export interface CreateBanInput {
  sessionId?: string | undefined;
  ip?: string | undefined;
  reason?: string | undefined;
  /** An RFC 3339 date-time in the future; none: the ban never expires. */
  expiresAt?: string | undefined;
}

/** Bans a session or an address; the same target banned again is one ban (its reason and expiry updated). */
export async function createBan(deps: StoreDeps, actor: Actor, input: CreateBanInput): Promise<Ban> {
  requireRole(actor, 'operator');
  const body = check<CreateBanInput>(createBanSchema, defined(input));
  if ((body.sessionId === undefined) === (body.ip === undefined))
    throw invalid('invalid_ban', 'give exactly one of "sessionId" and "ip"');
  const target = body.ip === undefined ? undefined : newBanTarget(body.ip);
  if (target === null)
    throw invalid(
      'invalid_ban',
      '"ip" is not an IP address or a CIDR range of /16 (IPv4) or /48 (IPv6) or narrower, e.g. 203.0.113.0/24',
    );
  const expiresAt = body.expiresAt === undefined ? null : Date.parse(body.expiresAt);
  if (expiresAt !== null && (!Number.isFinite(expiresAt) || expiresAt <= Date.now()))
    throw invalid('invalid_ban', '"expiresAt" must be a date-time in the future');
  return deps.store.upsertBan({
    tenantId: actor.tenantId,
    kind: body.ip !== undefined ? 'ip' : 'session',
    value: target ?? body.sessionId!,
    reason: body.reason ?? '',
    expiresAt,
  });
}

/** One page of the tenant's bans, each with the addresses its session was seen calling from. */
export async function listBans(deps: StoreDeps, actor: Actor, page: PageRequest) {
  requireRole(actor, 'readonly');
  return pageBans(deps.store, actor.tenantId, page);
}

export const liftBanSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string', maxLength: 64 },
    sessionId: { type: 'string', minLength: 1, maxLength: 128 },
    ip: { type: 'string', minLength: 2, maxLength: 64 },
  },
} as const;

/** Lifts a ban named by its id, or by its target (a session id, an address or range as banned). */
export async function liftBan(
  deps: StoreDeps,
  actor: Actor,
  input: { id?: string | undefined; sessionId?: string | undefined; ip?: string | undefined },
): Promise<void> {
  requireRole(actor, 'operator');
  const by = check<typeof input>(liftBanSchema, defined(input));
  if ([by.id, by.sessionId, by.ip].filter((v) => v !== undefined).length !== 1)
    throw invalid('invalid_ban', 'name the ban by exactly one of its id, "sessionId" and "ip"');
  let deleted: boolean;
  if (by.id !== undefined) deleted = await deps.store.deleteBan(actor.tenantId, by.id);
  else if (by.sessionId !== undefined)
    deleted = await deps.store.deleteBanByTarget(actor.tenantId, 'session', by.sessionId);
  else {
    const target = canonicalBanTarget(by.ip!);
    if (target === null) throw invalid('invalid_ban', '"ip" is not an IP address or a CIDR range');
    deleted = await deps.store.deleteBanByTarget(actor.tenantId, 'ip', target);
  }
  if (!deleted) throw notFound('no such ban');
}
