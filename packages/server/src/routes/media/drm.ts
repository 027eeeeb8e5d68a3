import { drmLicense, protectAsset, protectionStatus } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { assetParams, assetRoute, errorSchema, type MediaContext, security, tags } from './shared.ts';

const policySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxResolution: {
      type: ['string', 'null'],
      maxLength: 10,
      description: 'e.g. 480p: higher renditions get no keys',
    },
    playbackDuration: { type: 'integer', description: 'Seconds a license lasts' },
    concurrentStreams: {
      type: ['integer', 'null'],
      description: 'Devices of one user with a license at once',
    },
  },
};

const protectionSchema = {
  type: 'object',
  properties: {
    assetId: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'protected', 'failed'] },
    type: { type: 'string' },
    drmTypes: { type: 'array', items: { type: 'string' } },
    scheme: { type: 'string' },
    encryptionKeyIds: { type: 'array', items: { type: 'string' } },
    usagePolicy: policySchema,
  },
};

/** Content protection: an asset's usage policy, and the seed's DRM license with the policy enforced. */
export function drmRoutes(app: FastifyInstance, ctx: MediaContext): void {
  const { deps, apiKey, actor, store } = ctx;
  const id = (request: { params: unknown }) => (request.params as { assetId: string }).assetId;

  app.post(
    '/v1/media/:assetId/protect',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: "Set the asset's license usage policy (operator)",
        params: assetParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            usagePolicy: {
              ...policySchema,
              properties: {
                ...policySchema.properties,
                maxResolution: { type: 'string', maxLength: 10 },
                concurrentStreams: { type: 'integer' },
              },
            },
          },
        },
        response: { 200: protectionSchema, '4xx': errorSchema },
      },
    },
    async (request) =>
      protectAsset(deps, actor(request), {
        assetId: id(request),
        ...(request.body as { usagePolicy?: Record<string, never> }),
      }),
  );

  app.get(
    '/v1/media/:assetId/protection/status',
    assetRoute(
      ctx,
      "The asset's protection: encryption, key ids, DRM types and usage policy",
      protectionSchema,
    ),
    async (request) => protectionStatus(deps, actor(request), id(request)),
  );

  app.post(
    '/v1/drm/license',
    {
      preHandler: apiKey,
      schema: {
        tags: ['media', 'drm'],
        security,
        summary: "A DRM license for a user and device, under the asset's usage policy (operator)",
        description:
          '`drmType` must be `clearkey` (others: 400 `drm_unsupported`). `license` is a base64 ClearKey license (JSON `{keys:[{kty,kid,k}],type}`) holding only the keys the policy allows: renditions above `maxResolution` get none. A user already licensed on `concurrentStreams` other devices within the last 2 minutes is refused (403 `drm_concurrent_streams`).',
        body: {
          type: 'object',
          required: ['assetId', 'userId', 'deviceId', 'drmType'],
          additionalProperties: false,
          properties: {
            assetId: { type: 'string', maxLength: 100 },
            userId: { type: 'string', minLength: 1, maxLength: 200 },
            deviceId: { type: 'string', minLength: 1, maxLength: 200 },
            drmType: { type: 'string', maxLength: 40 },
            clientData: {
              type: 'object',
              additionalProperties: true,
              properties: { resolution: { type: 'string', maxLength: 10 } },
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              license: { type: 'string' },
              expiration: { type: 'string', format: 'date-time' },
              usagePolicy: policySchema,
              drmType: { type: 'string' },
              keyIds: { type: 'array', items: { type: 'string' } },
              withheldTrackTypes: { type: 'array', items: { type: 'string' } },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return drmLicense(
        { ...deps, keys: store },
        actor(request),
        request.body as Parameters<typeof drmLicense>[2],
      );
    },
  );
}
