import { ASSET_STATUSES, listAssets } from '@vigil/control';
import type { MediaStatus } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { pageAnswer, pageParams, pageRequest } from '../../pagination.ts';
import { errorSchema, type MediaContext, security, tags } from './shared.ts';

const summarySchema = {
  type: 'object',
  properties: {
    assetId: { type: 'string' },
    title: { type: 'string' },
    description: { type: 'string' },
    uploaderId: { type: 'string' },
    uploadId: { type: ['string', 'null'] },
    status: { type: 'string', enum: [...ASSET_STATUSES] },
    progress: { type: 'number', description: 'Percent, 0 to 100' },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
    mimeType: { type: 'string' },
    size: { type: 'integer', description: 'Bytes of the uploaded file' },
    duration: { type: 'number', description: 'Seconds, once probed' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    variantCount: { type: 'integer', description: 'Renditions packaged (GET …/variants lists them)' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

/** `GET /v1/media`: one page of the tenant's assets, newest first (the console's Assets page). */
export function listRoutes(app: FastifyInstance, ctx: MediaContext): void {
  app.get(
    '/v1/media',
    {
      preHandler: ctx.apiKey,
      schema: {
        tags,
        security,
        summary: "The tenant's media assets, newest first, each with its status and progress (paginated)",
        querystring: {
          type: 'object',
          properties: { ...pageParams, status: { type: 'string', enum: [...ASSET_STATUSES] } },
        },
        response: { ...pageAnswer('assets', summarySchema), '4xx': errorSchema },
      },
    },
    async (request) =>
      listAssets({ store: ctx.store }, ctx.actor(request), {
        status: (request.query as { status?: MediaStatus }).status,
        page: pageRequest(request.query),
      }),
  );
}
