import { getWatermark, setWatermark } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { type AdminContext, guarded, watermarkSchema } from './shared.ts';

/** The watermark config of the key's tenant. */
export function watermarkRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;

  app.get(
    '/v1/watermark',
    guarded(auth, ['control'], 'Watermark config', {
      response: { 200: watermarkSchema },
    }),
    async (request) => getWatermark(ctx, request.actor),
  );

  app.put(
    '/v1/watermark',
    guarded(auth, ['control'], 'Change the watermark config (partial update)', {
      body: watermarkSchema,
      response: { 200: watermarkSchema },
    }),
    async (request) => setWatermark(ctx, request.actor, request.body),
  );
}
