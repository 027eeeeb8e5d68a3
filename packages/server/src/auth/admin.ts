import { type Actor, requireRole as checkRole, hasRole } from '@vigil/control';
import { identifyToken, TOKEN_PURPOSES } from '@vigil/core';
import { type ApiKeyRecord, hashApiKey, type Role } from '@vigil/store';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HotState } from '../hot-state.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who calls the control route: built here, from whichever credential the request carries. */
    actor: Actor;
    /** The API key the actor came from (routes read `actor`; kept for callers not yet moved). */
    apiKey: ApiKeyRecord;
  }
}

export { hasRole };

/** The Actor of an API key: its tenant and role, named by its prefix. */
export function apiKeyActor(record: ApiKeyRecord): Actor {
  return { tenantId: record.tenantId, role: record.role, kind: 'api-key', id: record.prefix };
}

/**
 * A preHandler that admits a control request and sets `request.actor`, or answers 401. Its
 * credentials are a tenant API key (`Authorization: Bearer vk_...`), looked up by its SHA-256, so the key
 * itself is never stored or compared, and, with no Authorization header, the console's session cookie
 * (`console-session.ts`: session, CSRF token of a change, same-site); another kind plugs in here. What the actor may do is
 * each operation's own check (`@vigil/control`).
 */
export function authenticate(hot: HotState) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const header = request.headers.authorization;
    // No API key but the console's cookie: the signed-in operator (console-session.ts).
    const sessions = request.server.consoleSessions;
    if (header === undefined && sessions?.presented(request)) return sessions.authorize(request, reply);
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
    request.apiKey = record;
    request.actor = apiKeyActor(record);
    return undefined;
  };
}

/** `authenticate`, then 403 `forbidden` unless the actor has at least `minimum` (for routes that call no operation). */
export function requireRole(hot: HotState, minimum: Role) {
  const admit = authenticate(hot);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const answered = await admit(request, reply);
    if (answered) return answered;
    checkRole(request.actor, minimum);
    return undefined;
  };
}
