import { mergeWatermarkConfig } from '@vigil/core';
import type { FastifyInstance } from 'fastify';
import { type AdminContext, security, watermarkSchema } from './shared.ts';

/** The watermark config of the key's tenant. */
export function watermarkRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, readonly, admin } = ctx;

  app.get(
    '/v1/watermark',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'Watermark config',
        security,
        response: { 200: watermarkSchema },
      },
    },
    async (request) => store.getWatermarkConfig(request.apiKey.tenantId),
  );

  app.put(
    '/v1/watermark',
    {
      preHandler: admin,
      schema: {
        tags: ['control'],
        summary: 'Change the watermark config (partial update)',
        security,
        body: watermarkSchema,
        response: { 200: watermarkSchema },
      },
    },
    async (request) => {
      const tenantId = request.apiKey.tenantId;
      const next = mergeWatermarkConfig(await store.getWatermarkConfig(tenantId), request.body);
      await store.putWatermarkConfig(tenantId, next);
      return next;
    },
  );
}
