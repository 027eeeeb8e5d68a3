import { BadRequest } from '@vigil/core';
import { type ContentKey, generateContentKey, hexToUuid } from '@vigil/keys';
import {
  buildCpixResponse,
  CpixError,
  DEFAULT_XML_LIMITS,
  type IssuedKey,
  type KeyServerUrls,
  parseCpixRequest,
  planKeys,
} from '@vigil/speke';
import type { VigilStore } from '@vigil/store';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireRole } from '../auth/admin.ts';
import type { ServerConfig } from '../config.ts';
import type { HotState } from '../hot-state.ts';
import { errorSchema } from './schemas.ts';

export interface SpekeRoutesOptions {
  store: VigilStore;
  hot: HotState;
  config: ServerConfig;
}

export const SPEKE_USER_AGENT = 'Vigil';

/** Where players reach this server's key endpoints: the configured public URL, else what the caller used. */
function keyServerUrls(request: FastifyRequest, config: ServerConfig): KeyServerUrls {
  const base = (config.publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
  return {
    clearKeyLicense: `${base}/v1/license/clearkey`,
    hlsKey: (kidHex) => `${base}/v1/license/hls/${kidHex}`,
  };
}

/**
 * The SPEKE key provider for external encoders and packagers (AWS Elemental MediaLive, MediaPackage,
 * MediaConvert, any CPIX client): `POST /v1/speke` with a CPIX document, SPEKE v1 or v2 (X-Speke-Version:
 * 2.0). Keys are created per (tenant, kid) the first time they are asked for and the same key is answered
 * on every retry; the key server then serves them to viewers of the CPIX content id.
 */
export async function spekeRoutes(app: FastifyInstance, opts: SpekeRoutesOptions): Promise<void> {
  const { store, hot, config } = opts;
  const admin = requireRole(hot, 'admin');
  const bodyLimit = DEFAULT_XML_LIMITS.maxBytes;

  // This plugin's own parsers: the body is XML, read as a string (whatever the client calls it) and
  // parsed by the hardened CPIX parser, never as JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, body));

  app.post(
    '/v1/speke',
    {
      bodyLimit,
      // The API key is checked before the body is read.
      onRequest: admin,
      schema: {
        tags: ['keys'],
        summary: 'SPEKE v1/v2 key provider: answers a CPIX request with content keys and DRM signalling',
        description:
          'Body: a CPIX document (application/xml). SPEKE v2 requests send `X-Speke-Version: 2.0` and get it ' +
          'echoed. `ttlSeconds` sets the lifetime of keys created by this request (default: the server key TTL).',
        security: [{ apiKey: [] }],
        consumes: ['application/xml', 'text/xml'],
        produces: ['application/xml'],
        querystring: {
          type: 'object',
          properties: { ttlSeconds: { type: 'integer', minimum: 60, maximum: 10 * 365 * 86400 } },
        },
        headers: {
          type: 'object',
          properties: { 'x-speke-version': { type: 'string', maxLength: 16 } },
        },
        response: { '4xx': errorSchema },
      },
    },
    async (request, reply) => {
      const tenantId = request.actor.tenantId;
      const header = request.headers['x-speke-version'];
      const body = typeof request.body === 'string' ? request.body : '';
      const ttlSeconds = (request.query as { ttlSeconds?: number }).ttlSeconds ?? config.keyTtlSeconds;
      try {
        const cpix = parseCpixRequest(body, { spekeVersion: Array.isArray(header) ? header[0] : header });
        const plans = planKeys(cpix);

        // A kid belongs to one resource of the tenant: refuse before writing anything.
        const now = Date.now();
        for (const plan of plans) {
          const existing = await store.getContentKey(tenantId, plan.kidHex);
          if (existing && existing.expiresAt > now) checkOwner(existing, cpix.contentId, plan.iv);
        }
        const expiresAt = now + ttlSeconds * 1000;
        const candidates = plans.map((plan) => {
          const key = generateContentKey({
            tenantId,
            resourceId: cpix.contentId,
            keyPeriod: plan.keyPeriod,
            trackType: plan.trackType,
            expiresAt,
          });
          return { ...key, kid: plan.kidHex, iv: plan.iv ?? key.iv };
        });
        const stored = await store.putContentKeysIfAbsent(candidates);
        const keys = new Map<string, IssuedKey>();
        for (const [i, key] of stored.entries()) {
          // Another request may have taken the kid between the check and the write.
          checkOwner(key, cpix.contentId, plans[i]!.iv);
          keys.set(key.kid, { key: key.key, iv: key.iv });
        }

        const xml = buildCpixResponse(cpix, { keys, urls: keyServerUrls(request, config) });
        reply.header('x-speke-user-agent', SPEKE_USER_AGENT);
        if (cpix.spekeVersion === '1.0') reply.header('speke-user-agent', SPEKE_USER_AGENT);
        else reply.header('x-speke-version', cpix.spekeVersion);
        return reply
          .code(200)
          .type('application/xml; charset=utf-8')
          .header('cache-control', 'no-store')
          .send(xml);
      } catch (err) {
        if (err instanceof CpixError) throw new BadRequest(err.code, err.message, err.status);
        throw err;
      }
    },
  );
}

function checkOwner(key: ContentKey, contentId: string, iv: string | undefined): void {
  if (key.resourceId !== contentId) {
    throw new CpixError(
      409,
      'kid_conflict',
      `KID ${hexToUuid(key.kid)} already belongs to another content id of this tenant; an encoder must use new kids for new content`,
    );
  }
  if (iv !== undefined && key.iv !== iv) {
    throw new CpixError(
      409,
      'kid_conflict',
      `KID ${hexToUuid(key.kid)} exists with a different explicitIV; a key's IV cannot change`,
    );
  }
}
