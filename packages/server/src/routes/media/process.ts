import {
  assetMetadata,
  assetVariants,
  cancelProcessing,
  processAsset,
  processingStatus,
} from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { assetParams, assetRoute, errorSchema, type MediaContext, security, tags } from './shared.ts';

const MEDIA_STATUS = ['uploading', 'processing', 'transcoding', 'protecting', 'ready', 'failed', 'expired'];

const statusSchema = {
  type: 'object',
  properties: {
    assetId: { type: 'string' },
    status: { type: 'string', enum: MEDIA_STATUS },
    progress: { type: 'number', description: 'Percent, 0 to 100' },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
    job: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        status: { type: 'string', enum: ['queued', 'running', 'done', 'failed', 'cancelled'] },
        attempts: { type: 'integer' },
        maxAttempts: { type: 'integer' },
        runAt: { type: 'string', format: 'date-time' },
        lastError: { type: 'string' },
        worker: { type: 'string', description: 'The worker running it' },
      },
    },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

/** The seed's `VideoMetadata`. */
const metadataSchema = {
  type: 'object',
  properties: {
    assetId: { type: 'string' },
    status: { type: 'string', enum: MEDIA_STATUS },
    duration: { type: 'number', description: 'Seconds' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    size: { type: 'integer', description: 'Bytes of the uploaded file' },
    bitrate: { type: 'number', description: 'Bits per second, over the whole file' },
    codec: { type: 'string' },
    format: { type: 'string' },
    frameRate: { type: 'number' },
    audio: {
      type: ['object', 'null'],
      properties: {
        codec: { type: 'string' },
        channels: { type: 'integer' },
        sampleRate: { type: 'integer' },
      },
    },
    thumbnails: { type: 'array', items: { type: 'string' }, description: 'Origin paths (signed delivery)' },
    fingerprint: { type: 'string' },
  },
};

/** The seed's `MediaVariant`. */
export const variantSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    quality: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    bitrate: { type: 'integer' },
    codec: { type: 'string' },
    format: { type: 'string', enum: ['DASH', 'HLS'] },
    encryptionKeyId: { type: 'string' },
    manifestUrl: { type: 'string', description: 'Origin path (signed delivery)' },
    sizeBytes: { type: 'integer' },
  },
};

/** Processing of an asset (the job queue) and what it found and made. */
export function processRoutes(app: FastifyInstance, ctx: MediaContext): void {
  const { deps, apiKey, actor } = ctx;
  const id = (request: { params: unknown }) => (request.params as { assetId: string }).assetId;

  app.post(
    '/v1/media/process/:assetId',
    assetRoute(
      ctx,
      'Queue the processing of an asset again (operator): after a failure or a cancel, or to redo it',
      statusSchema,
      202,
    ),
    async (request, reply) => reply.code(202).send(await processAsset(deps, actor(request), id(request))),
  );

  app.get(
    '/v1/media/process/:assetId/status',
    assetRoute(ctx, "An asset's MediaStatus, progress in percent and its job", statusSchema),
    async (request) => processingStatus(deps, actor(request), id(request)),
  );

  app.post(
    '/v1/media/process/:assetId/cancel',
    assetRoute(
      ctx,
      'Cancel the queued or running processing of an asset (operator); it ends failed',
      statusSchema,
    ),
    async (request) => cancelProcessing(deps, actor(request), id(request)),
  );

  app.get(
    '/v1/media/:assetId/metadata',
    assetRoute(ctx, "The asset's VideoMetadata (409 asset_not_ready before it was probed)", metadataSchema),
    async (request) => assetMetadata(deps, actor(request), id(request)),
  );

  app.get(
    '/v1/media/:assetId/variants',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: "The asset's renditions (MediaVariant), once packaged",
        params: assetParams,
        response: {
          200: {
            type: 'object',
            properties: {
              assetId: { type: 'string' },
              status: { type: 'string', enum: MEDIA_STATUS },
              variants: { type: 'array', items: variantSchema },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    async (request) => assetVariants(deps, actor(request), id(request)),
  );
}
