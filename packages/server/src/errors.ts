import { ControlError } from '@vigil/control';
import { BadRequest, Denial } from '@vigil/core';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { RateLimited } from './rate-limit.ts';

export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  [detail: string]: unknown;
}

const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'body_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_VALIDATION: [400, 'invalid_request'],
};

/** A query string's `limit` or `cursor` refused by its route schema: the precise code of a paginated list. */
function pagingParameterError(fe: FastifyError): 'invalid_limit' | 'invalid_cursor' | undefined {
  if (fe.code !== 'FST_ERR_VALIDATION' || fe.validationContext !== 'querystring') return undefined;
  const path = fe.validation?.[0]?.instancePath;
  if (path === '/limit') return 'invalid_limit';
  if (path === '/cursor') return 'invalid_cursor';
  return undefined;
}

/** Maps every error to `{statusCode, code, message}`; only unexpected ones are 500 and logged. */
export function errorBody(err: unknown): ErrorBody {
  if (err instanceof Denial) {
    return { statusCode: err.status, code: err.reason, message: err.message, ...err.detail };
  }
  if (err instanceof ControlError)
    return { statusCode: err.status, code: err.code, message: err.message, ...err.detail };
  if (err instanceof BadRequest) return { statusCode: err.status, code: err.code, message: err.message };
  const fe = err as FastifyError;
  const paging = pagingParameterError(fe);
  if (paging) return { statusCode: 400, code: paging, message: fe.message };
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return { statusCode: known[0], code: known[1], message: fe.message };
  if (err instanceof SyntaxError)
    return { statusCode: 400, code: 'invalid_json', message: 'body is not valid JSON' };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { statusCode: fe.statusCode, code: 'bad_request', message: fe.message };
  }
  return { statusCode: 500, code: 'internal_error', message: 'internal error' };
}

/** Headers an error's answer carries: `Retry-After` on a 429. */
export function errorHeaders(err: unknown, reply: FastifyReply): void {
  if (err instanceof RateLimited) reply.header('retry-after', String(err.retryAfterSeconds));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const body = errorBody(err);
    errorHeaders(err, reply);
    if (body.statusCode >= 500) request.log.error({ err }, 'request failed');
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      statusCode: 404,
      code: 'not_found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
}
