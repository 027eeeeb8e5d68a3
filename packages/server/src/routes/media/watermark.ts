import {
  getAssetWatermark,
  type MediaApiDeps,
  NAMED_POSITIONS,
  setAssetWatermark,
  WATERMARK_TYPES,
} from '@vigil/control';
import { MediaDeliveryStore } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { assetParams, assetRoute, errorSchema, type MediaContext, security, tags } from './shared.ts';

/** The seed's WatermarkConfig, as posted and as answered. */
const seedProperties = {
  watermarkId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Default: generated' },
  type: { type: 'string', enum: [...WATERMARK_TYPES] },
  position: {
    oneOf: [
      { type: 'string', enum: [...NAMED_POSITIONS] },
      {
        type: 'object',
        required: ['x', 'y'],
        additionalProperties: false,
        properties: { x: { type: 'number' }, y: { type: 'number' } },
        description: "The colour box's top-left corner, percent of the picture",
      },
    ],
  },
  opacity: { type: 'number', minimum: 0.05, maximum: 1, description: "The visible mark's opacity" },
  isForensic: { type: 'boolean', description: 'The keyed colour tag the leak detector decodes' },
  userSpecificData: { type: 'object', additionalProperties: true, description: 'Kept, at most 4 KiB' },
  enabled: { type: 'boolean', description: "false: this asset's sessions get no mark" },
};

const answerSchema = {
  type: 'object',
  properties: {
    assetId: { type: 'string' },
    ...seedProperties,
    position: {},
    config: {
      type: 'object',
      additionalProperties: true,
      description: "The Vigil watermark config the asset's sessions get (the player's directive)",
    },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

/** Per-asset watermarks: the seed's config over the tenant's, for that asset's sessions. */
export function watermarkRoutes(app: FastifyInstance, ctx: MediaContext): void {
  const deps: MediaApiDeps = { ...ctx.deps, store: ctx.store, delivery: new MediaDeliveryStore(ctx.store) };
  const id = (request: { params: unknown }) => (request.params as { assetId: string }).assetId;

  app.post(
    '/v1/media/:assetId/watermark',
    {
      preHandler: ctx.apiKey,
      schema: {
        tags,
        security,
        summary: "Set the asset's own watermark (operator)",
        description:
          "`visible` and `dynamic` marks are the session id drawn over the picture (dynamic: moving every 2 s), `invisible` and `forensic` ones (or `isForensic: true`) the keyed colour tag a leak is traced by. The asset's sessions get it in the `Vigil-Watermark` directive of their licenses and heartbeats (other assets keep the tenant's), and stream-url's `watermarkId` is `<watermarkId>_<session hash>`. Refused: 400 `watermarking_invalid`.",
        params: assetParams,
        body: { type: 'object', required: ['type'], additionalProperties: false, properties: seedProperties },
        response: { 200: answerSchema, '4xx': errorSchema },
      },
    },
    async (request) =>
      setAssetWatermark(deps, ctx.actor(request), {
        ...(request.body as Parameters<typeof setAssetWatermark>[2]),
        assetId: id(request),
      }),
  );

  app.get(
    '/v1/media/:assetId/watermark',
    assetRoute(ctx, "The asset's own watermark (404 `watermarking_not_found` if it has none)", answerSchema),
    async (request) => getAssetWatermark(deps, ctx.actor(request), id(request)),
  );
}
