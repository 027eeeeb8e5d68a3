import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BadRequest } from '@vigil/core';
import type { FastifyBaseLogger } from 'fastify';
import { corsAllowed, corsHeaders } from './cors.ts';
import { errorBody } from './errors.ts';
import type { HotState } from './hot-state.ts';
import {
  CLEARKEY_BODY_LIMIT,
  type ClearKeyEndpoint,
  type ClearKeyGrant,
  licenseJson,
  WATERMARK_HEADER,
} from './routes/viewer.ts';

export const CLEARKEY_PATH = '/v1/license/clearkey';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface ClearKeyFastPathOptions {
  endpoint: ClearKeyEndpoint;
  hot: HotState;
  log: FastifyBaseLogger;
  /** True once the app is closing: Fastify then answers 503 itself. */
  closing(): boolean;
}

/**
 * POST /v1/license/clearkey answered straight from node:http, ahead of Fastify's routing: Fastify's
 * per-request work (request and reply objects, hooks, body parser, serializer, promise plumbing) costs more
 * than the license itself. It takes only the plain case: the exact path, a `Bearer` token, a JSON body
 * with a Content-Length, no `Expect`, the CORS origins loaded. Anything else returns false having touched
 * nothing, and the Fastify route answers it.
 *
 * Both answer through the same ClearKeyEndpoint and say the same: the CORS headers of the CORS hook
 * (cors.ts), the same body limit and JSON parsing as the route's parser, `Vigil-Watermark` and
 * Cache-Control, the route's serialisation (4xx bodies hold statusCode, code and message only), and
 * errors mapped by errorBody (errors.ts), 5xx logged. The route stays in the OpenAPI document, and
 * clearkey-fast-path.test.ts checks that both give the same answers. Hooks added to the app do not run for
 * the requests the fast path takes: what they must do belongs here too.
 */
export function clearKeyFastPath(
  opts: ClearKeyFastPathOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { endpoint, hot, log, closing } = opts;

  const send = (res: ServerResponse, status: number, headers: Record<string, string>, json: string) => {
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(json));
    res.writeHead(status, headers);
    res.end(json);
  };
  const granted = (res: ServerResponse, cors: Record<string, string> | undefined, grant: ClearKeyGrant) => {
    const headers: Record<string, string> = cors ?? {};
    headers[WATERMARK_HEADER] = grant.directive;
    headers['cache-control'] = 'no-store';
    send(res, 200, headers, licenseJson(grant.license));
  };
  const failed = (res: ServerResponse, cors: Record<string, string> | undefined, err: unknown) => {
    const body = errorBody(err);
    if (body.statusCode >= 500) log.error({ err }, 'request failed');
    // The route's 4xx schema (errorSchema in routes/viewer.ts) keeps these three fields only.
    const json =
      body.statusCode < 500
        ? JSON.stringify({ statusCode: body.statusCode, code: body.code, message: body.message })
        : JSON.stringify(body);
    send(res, body.statusCode, cors ?? {}, json);
  };

  return (req, res) => {
    if (req.url !== CLEARKEY_PATH || req.method !== 'POST' || closing()) return false;
    const headers = req.headers;
    const authorization = headers.authorization;
    if (authorization === undefined || !authorization.startsWith('Bearer ')) return false;
    if (!isJson(headers['content-type'])) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= CLEARKEY_BODY_LIMIT)) return false;
    if (headers['transfer-encoding'] !== undefined || headers.expect !== undefined) return false;
    let cors: Record<string, string> | undefined;
    const origin = headers.origin;
    if (origin) {
      const allowed = hot.peekCorsOrigins();
      if (allowed === undefined) return false;
      if (corsAllowed(origin, allowed)) cors = corsHeaders(origin);
    }

    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    // An aborted request has nobody to answer.
    req.on('error', () => {});
    req.on('end', () => {
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        failed(res, cors, new BadRequest('invalid_json', 'body is not valid JSON'));
        return;
      }
      let answer: ClearKeyGrant | Promise<ClearKeyGrant>;
      try {
        answer = endpoint.answer(authorization.slice(7).trim(), req, body);
      } catch (err) {
        failed(res, cors, err);
        return;
      }
      if (answer instanceof Promise) {
        answer.then(
          (grant) => granted(res, cors, grant),
          (err: unknown) => failed(res, cors, err),
        );
      } else {
        granted(res, cors, answer);
      }
    });
    return true;
  };
}

/** Content types the fast path takes: what players send. The route takes any. */
function isJson(contentType: string | undefined): boolean {
  return (
    contentType === 'application/json' ||
    contentType === 'application/json; charset=utf-8' ||
    contentType === 'application/json;charset=UTF-8'
  );
}

/**
 * Puts `fast` in front of the server's request listener (Fastify's router, the one listener Fastify gives
 * the node:http server it creates). Does nothing if the server has another shape.
 */
export function inFrontOfFastify(
  server: Server,
  fast: (req: IncomingMessage, res: ServerResponse) => boolean,
): boolean {
  const listeners = server.listeners('request');
  if (listeners.length !== 1) return false;
  const fastify = listeners[0] as Listener;
  server.removeListener('request', fastify);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!fast(req, res)) fastify(req, res);
  });
  return true;
}
