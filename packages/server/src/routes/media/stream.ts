import { cloudFrontDelivery, streamTarget } from '@vigil/control';
import { BadRequest, DEFAULT_TENANT, isIpAddress, normalizeIp, USAGE_CLAIM } from '@vigil/core';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { signedOriginUrl } from '../../delivery.ts';
import { sessionTerms } from './session-terms.ts';
import { errorSchema, type MediaContext, security, tags } from './shared.ts';

const MAX_TTL = 24 * 3600;

/**
 * `GET /v1/media/{assetId}/stream-url`: what a tenant's backend hands its player for one user's session —
 * the DASH manifest's URL on Vigil's origin signed for the asset's folder (expiry, the viewer's address,
 * the session, so a ban of it stops delivery too), the license URL, and the viewer token the player sends
 * for keys, bound to the same address and session.
 */
export function streamRoutes(app: FastifyInstance, ctx: MediaContext): void {
  const { deps, apiKey, actor, signer, config, store } = ctx;

  app.get(
    '/v1/media/:assetId/stream-url',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: "A signed stream URL and viewer token for one user's session (operator)",
        description:
          "The delivery is bound to `ip` (the viewer's address; default: the caller's) and to `sessionId`, and expires with the viewer token after `ttlSeconds` (default the server's delivery lifetime). `quality` must be one of the variants. `drmType` is `clearkey` (the only DRM this server issues licenses for).",
        params: {
          type: 'object',
          required: ['assetId'],
          properties: { assetId: { type: 'string', maxLength: 100 } },
        },
        querystring: {
          type: 'object',
          required: ['userId', 'sessionId'],
          properties: {
            userId: { type: 'string', minLength: 1, maxLength: 200 },
            sessionId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
            quality: { type: 'string', maxLength: 20 },
            ip: { type: 'string', maxLength: 64 },
            ttlSeconds: { type: 'integer', minimum: 30, maximum: MAX_TTL },
            cdn: {
              type: 'string',
              enum: ['origin', 'cloudfront'],
              description:
                "cloudfront: `streamUrl` on the tenant's CloudFront distribution, signed (custom policy over the asset's folder, expiry, viewer address), and `cloudfront.cookies` for the segments (409 `delivery_cdn_unconfigured` without a signer)",
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              streamUrl: { type: 'string' },
              hlsUrl: { type: 'string' },
              licenseUrl: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
              watermarkId: { type: 'string' },
              drmType: { type: 'string', enum: ['clearkey'] },
              quality: { type: 'string' },
              qualities: { type: 'array', items: { type: 'string' } },
              viewerToken: { type: 'string', description: 'Bearer token for license and key requests' },
              ip: { type: 'string' },
              cloudfront: {
                type: 'object',
                properties: { cookies: { type: 'object', additionalProperties: { type: 'string' } } },
              },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const q = request.query as {
        userId: string;
        sessionId: string;
        quality?: string;
        ip?: string;
        ttlSeconds?: number;
        cdn?: 'origin' | 'cloudfront';
      };
      const target = await streamTarget(deps, actor(request), {
        assetId: (request.params as { assetId: string }).assetId,
        quality: q.quality,
      });
      if (q.ip !== undefined && !isIpAddress(q.ip))
        throw new BadRequest('invalid_ip', '"ip" is not an IP address');
      const ip = normalizeIp(q.ip ?? ctx.clientIp(request.raw));
      const ttl = q.ttlSeconds ?? config.deliveryTtlSeconds;
      const { asset } = target;
      const tenant = await store.getTenant(asset.tenantId);
      if (!tenant) throw new BadRequest('tenant_missing', 'the tenant is gone');
      const iat = Math.floor(now / 1000);
      const terms = await sessionTerms(store, deps.media, {
        tenantId: asset.tenantId,
        assetId: asset.id,
        sessionId: q.sessionId,
        secret: tenant.secret,
        iat,
        exp: iat + ttl,
      });
      const { exp, watermarkId } = terms;
      const claims: Record<string, unknown> = { sessionId: q.sessionId, resourceId: asset.id, ip };
      if (asset.tenantId !== DEFAULT_TENANT) claims.tenant = asset.tenantId;
      if (terms.usage) claims[USAGE_CLAIM] = terms.usage;
      const viewerToken = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(q.userId)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(tenant.secret);
      const issue = signer.issue({
        tenantId: asset.tenantId,
        resourceId: asset.id,
        ttlSeconds: exp - iat,
        ip,
        sessionId: q.sessionId,
        notAfter: exp * 1000,
        now,
      });
      const base = ctx.baseUrl(request);
      let streamUrl = signedOriginUrl(base, issue, target.manifest);
      const cdn =
        q.cdn === 'cloudfront'
          ? await cloudFrontDelivery(store, asset.tenantId, {
              originUrl: streamUrl,
              folder: `/origin/${asset.tenantId}/${asset.id}/`,
              expires: exp,
              ip,
            })
          : undefined;
      if (cdn) streamUrl = cdn.streamUrl;
      reply.header('cache-control', 'no-store');
      return {
        streamUrl,
        hlsUrl: signedOriginUrl(base, issue, target.hls),
        licenseUrl: `${base}/v1/license/clearkey`,
        expiresAt: new Date(issue.expiresAt).toISOString(),
        watermarkId,
        drmType: 'clearkey',
        quality: target.quality,
        qualities: target.qualities,
        viewerToken,
        ip,
        ...(cdn ? { cloudfront: { cookies: cdn.cookies } } : {}),
      };
    },
  );
}
