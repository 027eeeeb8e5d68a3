import { type ApiKeyRecord, hashApiKey, type Role } from '@vigil/store';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HotState } from '../hot-state.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyRecord;
  }
}

/** What each role may do; a role includes the ones after it. */
const RANK: Record<Role, number> = { platform: 4, admin: 3, operator: 2, readonly: 1 };

/**
 * A preHandler requiring a tenant API key (`Authorization: Bearer vk_...`) of at least `minimum` role.
 * Keys are looked up by their SHA-256, so the key itself is never stored or compared.
 */
export function requireRole(hot: HotState, minimum: Role) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!key || key.length > 256) {
      return reply
        .code(401)
        .send({ statusCode: 401, code: 'api_key_missing', message: 'an API key is required' });
    }
    const record = await hot.apiKey(hashApiKey(key));
    if (!record) {
      return reply
        .code(401)
        .send({ statusCode: 401, code: 'api_key_invalid', message: 'unknown or revoked API key' });
    }
    if (RANK[record.role] < RANK[minimum]) {
      return reply.code(403).send({
        statusCode: 403,
        code: 'forbidden',
        message: `this needs the ${minimum} role; the key has ${record.role}`,
      });
    }
    request.apiKey = record;
  };
}
