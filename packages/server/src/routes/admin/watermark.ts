import { getWatermark, setWatermark } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { type AdminContext, security, watermarkSchema } from './shared.ts';

/** The watermark config of the key's tenant. */
export function watermarkRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;

  app.get(
    '/v1/watermark',
    {
      preHandler: auth,
      schema: {
        tags: ['control'],
        summary: 'Watermark config',
        security,
        response: { 200: watermarkSchema },
      },
    },
    async (request) => getWatermark(ctx, request.actor),
  );

  app.put(
    '/v1/watermark',
    {
      preHandler: auth,
      schema: {
        tags: ['control'],
        summary: 'Change the watermark config (partial update)',
        security,
        body: watermarkSchema,
        response: { 200: watermarkSchema },
      },
    },
    async (request) => setWatermark(ctx, request.actor, request.body),
  );
}
