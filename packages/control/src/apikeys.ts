import { type ApiKeyRecord, type PageRequest, pageApiKeys, type Role } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import type { StoreDeps } from './deps.ts';
import { conflict, forbidden, notFound } from './errors.ts';
import { check, defined } from './schema.ts';

/** The roles an API key can be made with (the platform key comes from `VIGIL_API_KEY` only). */
export const GRANTABLE_ROLES = ['admin', 'operator', 'readonly'] as const;

export const createApiKeySchema = {
  type: 'object',
  required: ['role'],
  additionalProperties: false,
  properties: {
    role: { type: 'string', enum: [...GRANTABLE_ROLES] },
    name: { type: 'string', maxLength: 200 },
  },
} as const;

/** Creates an API key of the actor's tenant; the key is in the answer once, only its hash is kept. */
export async function createApiKey(
  deps: StoreDeps,
  actor: Actor,
  input: { role: string; name?: string | undefined },
): Promise<{ key: string; record: ApiKeyRecord }> {
  requireRole(actor, 'admin');
  const body = check<{ role: Role; name?: string }>(createApiKeySchema, defined(input));
  return deps.store.createApiKey(actor.tenantId, body.role, body.name ?? '');
}

/** One page of the tenant's API keys (prefixes only). */
export async function listApiKeys(deps: StoreDeps, actor: Actor, page: PageRequest) {
  requireRole(actor, 'admin');
  return pageApiKeys(deps.store, actor.tenantId, page);
}

export const revokeApiKeySchema = {
  type: 'object',
  required: ['prefix'],
  properties: { prefix: { type: 'string', minLength: 8, maxLength: 8 }, all: { type: 'boolean' } },
} as const;

/**
 * Revokes the active key with this prefix: one key, the one named, never a second key that happens to
 * share the prefix unless `all` says so. Only a platform caller revokes a platform key. Returns how many.
 */
export async function revokeApiKey(
  deps: StoreDeps,
  actor: Actor,
  input: { prefix: string; all?: boolean | undefined },
): Promise<number> {
  requireRole(actor, 'admin');
  const { prefix, all } = check<{ prefix: string; all?: boolean }>(revokeApiKeySchema, defined(input));
  const matching = (await deps.store.listApiKeys(actor.tenantId)).filter(
    (k) => k.prefix === prefix && k.revokedAt === null,
  );
  if (matching.length === 0) throw notFound('no active key with this prefix');
  if (matching.length > 1 && all !== true)
    throw conflict(
      'apikey_ambiguous',
      `${matching.length} active keys share this prefix: add ?all=true to revoke them all`,
    );
  if (actor.role !== 'platform' && matching.some((k) => k.role === 'platform'))
    throw forbidden('only a platform key revokes a platform key');
  await deps.store.revokeApiKeysByHash(
    actor.tenantId,
    matching.map((k) => k.hash),
  );
  return matching.length;
}
