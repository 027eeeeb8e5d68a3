import { signDelivery, signDeliverySchema } from '@vigil/control';
import { DELIVERY_PARAM } from '@vigil/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticate } from '../auth/admin.ts';
import type { ViewerGate } from '../auth/viewer-gate.ts';
import type { ServerConfig } from '../config.ts';
import { type DeliveryIssue, type DeliverySigner, signedOriginUrl } from '../delivery.ts';
import type { HotState } from '../hot-state.ts';
import type { ViewerRateLimiter } from '../rate-limit.ts';
import { errorSchema } from './schemas.ts';
import { bearer } from './viewer.ts';

export interface DeliveryRoutesOptions {
  config: ServerConfig;
  hot: HotState;
  gate: ViewerGate;
  signer: DeliverySigner;
  limiter: ViewerRateLimiter;
}

const issueSchema = {
  type: 'object',
  properties: {
    token: { type: 'string', description: 'The delivery token' },
    param: { type: 'string', enum: [DELIVERY_PARAM], description: 'The query parameter it goes in' },
    prefix: { type: 'string', description: 'The origin path prefix it covers' },
    expiresAt: { type: 'string', format: 'date-time' },
    ttlSeconds: { type: 'integer', description: 'Seconds until it expires (renew before)' },
    ip: { type: 'string', description: 'The address it is bound to, if any' },
    url: { type: 'string', description: 'The signed URL of `path`, when one was asked for' },
  },
};

function answer(issue: DeliveryIssue, now: number, ip: string | undefined) {
  return {
    token: issue.token,
    param: issue.param,
    prefix: issue.prefix,
    expiresAt: new Date(issue.expiresAt).toISOString(),
    ttlSeconds: Math.max(0, Math.floor((issue.expiresAt - now) / 1000)),
    ...(ip === undefined ? {} : { ip }),
  };
}

/**
 * Issuing delivery tokens: to a viewer, with the viewer token (the same checks as a license, so a
 * banned session can't renew), and to a tenant's backend, with an API key, to hand out signed URLs
 * along with the viewer token.
 */
export async function deliveryRoutes(app: FastifyInstance, opts: DeliveryRoutesOptions): Promise<void> {
  const { config, hot, gate, signer, limiter } = opts;

  const baseUrl = (request: FastifyRequest) => config.publicUrl ?? `${request.protocol}://${request.host}`;

  app.post(
    '/v1/delivery',
    {
      onRequest: limiter.onRequest,
      schema: {
        summary: "A delivery token for the viewer token's resource",
        description: `Signed delivery for \`/origin/<tenant>/<resourceId>/\`: add \`?${DELIVERY_PARAM}=<token>\` to manifest and segment URLs under \`prefix\`. Bound to the caller's address unless the server is configured otherwise; never valid beyond the viewer token. Refused like a license (401 for a bad token, 403 \`ip_mismatch\`, \`banned\`…).`,
        tags: ['delivery'],
        security: [{ viewerToken: [] }],
        querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 8192 } } },
        response: { 200: issueSchema, '4xx': errorSchema },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const { claims, ip } = await gate.admit(bearer(request), request.raw, 'delivery', now);
      limiter.session(claims, now);
      const bound = config.deliveryBindIp ? ip : undefined;
      const issue = signer.issue({
        tenantId: claims.tenantId,
        resourceId: claims.resourceId,
        ttlSeconds: config.deliveryTtlSeconds,
        ip: bound,
        sessionId: claims.sessionId,
        notAfter: claims.exp * 1000,
        now,
      });
      reply.header('cache-control', 'no-store');
      return answer(issue, now, bound);
    },
  );

  app.post(
    '/v1/delivery/sign',
    {
      preHandler: authenticate(hot),
      schema: {
        summary: 'Sign delivery of a resource (for a tenant backend, with the viewer token it mints)',
        description: `A delivery token for \`/origin/<tenant>/<resourceId>/\`, optionally bound to \`ip\` and naming \`sessionId\` (so a ban of the session stops its delivery too); with \`path\`, also the signed URL of that file under the prefix.`,
        tags: ['delivery'],
        security: [{ apiKey: [] }],
        body: signDeliverySchema,
        response: { 200: issueSchema, '4xx': errorSchema },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const { issue, ip, file } = await signDelivery(
        { signer, deliveryTtlSeconds: config.deliveryTtlSeconds },
        request.actor,
        request.body as Parameters<typeof signDelivery>[2],
        now,
      );
      const url = file === undefined ? undefined : signedOriginUrl(baseUrl(request), issue, file);
      reply.header('cache-control', 'no-store');
      return { ...answer(issue, now, ip), ...(url === undefined ? {} : { url }) };
    },
  );
}
