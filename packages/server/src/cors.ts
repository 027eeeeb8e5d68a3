import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HotState } from './hot-state.ts';

/**
 * Browsers call the key server cross-origin, some with credentials (dash.js), so the allowed origin is
 * echoed (never `*`) with Allow-Credentials. A preflight carries no token, so it is answered for any
 * origin some tenant allows; the request itself is then checked against its own tenant's origins.
 */
export function installCors(app: FastifyInstance, hot: HotState): void {
  // A callback hook that returns at once without an Origin: this runs on every license request.
  app.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    if (!origin) return done();
    const allowed = hot.peekCorsOrigins();
    if (allowed !== undefined) {
      if (!applyCors(request, reply, origin, allowed)) done();
      return;
    }
    hot.corsOrigins().then(
      (loaded) => {
        if (!applyCors(request, reply, origin, loaded)) done();
      },
      (err: Error) => done(err),
    );
  });
}

/** Sets the CORS headers; answers a preflight itself and returns true when it did. */
function applyCors(
  request: FastifyRequest,
  reply: FastifyReply,
  origin: string,
  allowed: Set<string> | null,
): boolean {
  if (!corsAllowed(origin, allowed)) {
    if (request.method !== 'OPTIONS') return false;
    reply.code(403).send({ statusCode: 403, code: 'origin_not_allowed', message: 'origin not allowed' });
    return true;
  }
  reply.headers(corsHeaders(origin));
  if (request.method !== 'OPTIONS' || !request.headers['access-control-request-method']) return false;
  const requested = request.headers['access-control-request-headers'];
  reply
    .header('access-control-allow-methods', 'GET, POST, PUT, DELETE, OPTIONS')
    .header(
      'access-control-allow-headers',
      typeof requested === 'string' ? requested.slice(0, 1000) : 'authorization, content-type',
    )
    .header('access-control-max-age', '600')
    .code(204)
    .send();
  return true;
}

/** Whether `origin` gets the CORS headers, given the union of allowed origins (null: any). */
export function corsAllowed(origin: string, allowed: Set<string> | null): boolean {
  return allowed === null || allowed.has(origin);
}

/** The CORS headers of every answer to an allowed origin. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'vigil-watermark',
    vary: 'Origin',
  };
}
