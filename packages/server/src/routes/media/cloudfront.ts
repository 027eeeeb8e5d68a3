import { setCloudFront } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { errorSchema, type MediaContext, security, tags } from './shared.ts';

/** The tenant's CloudFront signer, for stream-url's `cdn=cloudfront`. */
export function cloudFrontRoutes(app: FastifyInstance, ctx: MediaContext): void {
  app.put(
    '/v1/media/cloudfront',
    {
      preHandler: ctx.apiKey,
      schema: {
        tags,
        security,
        summary: "Set the tenant's CloudFront signer (admin)",
        description:
          'The key pair id and RSA private key (PEM) of a CloudFront public key trusted by the distribution in front of this origin, and its URL. The key is sealed at rest and never answered. Refused: 400 `delivery_cdn_invalid`.',
        body: {
          type: 'object',
          required: ['keyPairId', 'privateKey', 'domain'],
          additionalProperties: false,
          properties: {
            keyPairId: { type: 'string', minLength: 1, maxLength: 64 },
            privateKey: { type: 'string', minLength: 1, maxLength: 16384 },
            domain: {
              type: 'string',
              maxLength: 300,
              description: 'e.g. https://d111111abcdef8.cloudfront.net',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              keyPairId: { type: 'string' },
              domain: { type: 'string' },
              updatedAt: { type: 'string', format: 'date-time' },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    async (request) =>
      setCloudFront(
        { store: ctx.store },
        ctx.actor(request),
        request.body as Parameters<typeof setCloudFront>[2],
      ),
  );
}
