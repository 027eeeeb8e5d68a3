/**
 * The seed system's minimal third-party backend, written against Vigil's v1 API: it hands a player a
 * viewer token bound to the caller's IP and the URLs to use it on, and forwards watermark on/off and
 * bans to Vigil with an API key. There is no authentication at all: it is for testing only.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { SignJWT } from 'jose';

export interface SampleIntegrationOptions {
  /** Base URL of the Vigil server, e.g. http://127.0.0.1:8080. */
  vigilUrl: string;
  /** A Vigil API key of the tenant (admin role, to change the watermark config). */
  apiKey: string;
  /** The tenant's HS256 viewer-token secret. */
  jwtSecret: string;
  /** Lifetime of the viewer tokens handed out; one hour by default. */
  tokenTtlSeconds?: number;
  /** Believe X-Forwarded-For (Fastify's `trustProxy`) when this backend sits behind a proxy. */
  trustProxy?: boolean | string | string[];
}

/** What a player needs to get keys from Vigil. */
export interface PlaybackInfo {
  sessionId: string;
  resourceId: string;
  /** POST a W3C ClearKey license request here, with `Authorization: Bearer <token>`. */
  licenseServerUrl: string;
  /** HLS AES-128 key URL: replace `{kid}` with the key id (hex). The token is already in it. */
  hlsKeyUrlTemplate: string;
  /** POST here with the token every `heartbeatSeconds` of the watermark directive. */
  heartbeatUrl: string;
  /** HS256 viewer token bound to the caller's IP address. */
  token: string;
  /** When the token expires (ISO 8601). */
  expiresAt: string;
}

const ID = '^[\\x21-\\x7e]{1,128}$';
const RESOURCE = '^[\\x21-\\x7e]{1,256}$';

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

export function createSampleIntegration(opts: SampleIntegrationOptions): FastifyInstance {
  const vigil = opts.vigilUrl.replace(/\/+$/, '');
  const secret = new TextEncoder().encode(opts.jwtSecret);
  const ttl = opts.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const app = Fastify({ trustProxy: opts.trustProxy ?? false });

  /** Calls Vigil's control API with the API key; a refusal or a network failure becomes a 502. */
  async function control(reply: FastifyReply, method: string, path: string, body: unknown) {
    let res: Response;
    try {
      res = await fetch(`${vigil}${path}`, {
        method,
        headers: { authorization: `Bearer ${opts.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (err) {
      reply.code(502);
      return { error: `Vigil is unreachable: ${(err as Error).message}` };
    }
    const text = await res.text();
    let answer: unknown = text;
    try {
      answer = JSON.parse(text);
    } catch {
      // Not JSON: pass the text on.
    }
    if (!res.ok) {
      reply.code(502);
      return { error: `Vigil answered ${res.status}`, vigil: answer };
    }
    return undefined;
  }

  app.get(
    '/config/:value',
    { schema: { params: { type: 'object', properties: { value: { type: 'string' } } } } },
    async (request, reply) => {
      const watermarking = (request.params as { value: string }).value === '1';
      return (await control(reply, 'PUT', '/v1/watermark', { enabled: watermarking })) ?? { watermarking };
    },
  );

  app.get(
    '/ban/:sessionId',
    {
      schema: {
        params: { type: 'object', properties: { sessionId: { type: 'string', pattern: ID } } },
      },
    },
    async (request, reply) => {
      const { sessionId } = request.params as { sessionId: string };
      const failed = await control(reply, 'POST', '/v1/bans', {
        sessionId,
        reason: 'banned through the sample integration',
      });
      return failed ?? { banned: sessionId };
    },
  );

  app.get(
    '/:resourceId/:sessionId',
    {
      schema: {
        params: {
          type: 'object',
          properties: {
            resourceId: { type: 'string', pattern: RESOURCE },
            sessionId: { type: 'string', pattern: ID },
          },
        },
      },
    },
    async (request): Promise<PlaybackInfo> => {
      const { resourceId, sessionId } = request.params as { resourceId: string; sessionId: string };
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ sessionId, resourceId, ip: request.ip })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt(now)
        .setExpirationTime(now + ttl)
        .sign(secret);
      return {
        sessionId,
        resourceId,
        licenseServerUrl: `${vigil}/v1/license/clearkey`,
        hlsKeyUrlTemplate: `${vigil}/v1/license/hls/{kid}?token=${encodeURIComponent(token)}`,
        heartbeatUrl: `${vigil}/v1/heartbeat`,
        token,
        expiresAt: new Date((now + ttl) * 1000).toISOString(),
      };
    },
  );

  return app;
}
