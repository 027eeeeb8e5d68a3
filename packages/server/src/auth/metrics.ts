import { createHash, timingSafeEqual } from 'node:crypto';
import { identifyToken, TOKEN_PURPOSES } from '@vigil/core';
import { hashApiKey } from '@vigil/store';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../config.ts';
import type { HotState } from '../hot-state.ts';
import { hasRole } from './admin.ts';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * A preHandler for `/metrics`: its labels name tenants and channels, so it takes the metrics credential
 * (`Authorization: Bearer <VIGIL_METRICS_TOKEN>`, compared in constant time) or an API key with the
 * platform role, unless the operator opened it (`metricsPublic`, for a private interface).
 */
export function requireMetricsCredential(hot: HotState, config: ServerConfig) {
  const wanted = config.metricsToken ? digest(config.metricsToken) : undefined;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (config.metricsPublic) return;
    const header = request.headers.authorization;
    const sent = header?.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (sent.length === 0 || sent.length > 4096) {
      return reply.code(401).send({
        statusCode: 401,
        code: 'metrics_credential_missing',
        message: 'metrics need the metrics token or a platform API key (Authorization: Bearer ...)',
      });
    }
    if (wanted && timingSafeEqual(digest(sent), wanted)) return;
    const record = sent.length <= 256 ? await hot.apiKey(hashApiKey(sent)) : undefined;
    if (record) {
      if (hasRole(record, 'platform')) return;
      return reply.code(403).send({
        statusCode: 403,
        code: 'forbidden',
        message: `metrics need the platform role; the key has ${record.role}`,
      });
    }
    const found = identifyToken(sent);
    if (found !== undefined && found !== 'api-key') {
      return reply.code(401).send({
        statusCode: 401,
        code: 'token_wrong_type',
        message: `this is ${TOKEN_PURPOSES[found].label}; expected the metrics token or a platform API key for /metrics`,
        expected: 'metrics',
        presented: found,
      });
    }
    return reply.code(401).send({
      statusCode: 401,
      code: 'metrics_credential_invalid',
      message: 'unknown metrics token or API key',
    });
  };
}
