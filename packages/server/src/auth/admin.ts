import { identifyToken, TOKEN_PURPOSES } from '@vigil/core';
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
export function hasRole(record: ApiKeyRecord, minimum: Role): boolean {
  return RANK[record.role] >= RANK[minimum];
}

export function requireRole(hot: HotState, minimum: Role) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const header = request.headers.authorization;
    // No API key but the console's cookie: the signed-in operator (console-session.ts).
    const sessions = request.server.consoleSessions;
    if (header === undefined && sessions?.presented(request))
      return sessions.authorize(request, reply, minimum);
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const record = key && key.length <= 256 ? await hot.apiKey(hashApiKey(key)) : undefined;
    if (key && !record) {
      // A viewer token, delivery token, ... sent to the control API: say what it is.
      const found = identifyToken(key);
      if (found !== undefined && found !== 'api-key') {
        return reply.code(401).send({
          statusCode: 401,
          code: 'token_wrong_type',
          message: `this is ${TOKEN_PURPOSES[found].label}; expected an API key for the control API`,
          expected: 'api-key',
          presented: found,
        });
      }
    }
    if (!key || key.length > 256) {
      return reply
        .code(401)
        .send({ statusCode: 401, code: 'api_key_missing', message: 'an API key is required' });
    }
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
