import type { FastifyInstance } from 'fastify';
import { renderStatsChart } from '../../stats/chart.ts';
import { statsMinutes } from '../../stats/minutes.ts';
import { type AdminContext, iso, security } from './shared.ts';

/** License statistics and their chart. */
export function statsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, stats, readonly } = ctx;

  const statsQuery = {
    type: 'object',
    properties: { minutes: { type: 'integer', minimum: 1, maximum: 1440 } },
  };
  const readMinutes = (tenantId: string, count: number) => statsMinutes(store, stats, tenantId, count);

  app.get(
    '/v1/stats',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'License requests per minute and denials by reason',
        security,
        querystring: statsQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              minutes: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    minute: { type: 'string', format: 'date-time' },
                    granted: { type: 'integer' },
                    denied: { type: 'integer' },
                    denials: { type: 'object', additionalProperties: { type: 'integer' } },
                  },
                },
              },
              totals: {
                type: 'object',
                properties: {
                  granted: { type: 'integer' },
                  denied: { type: 'integer' },
                  denials: { type: 'object', additionalProperties: { type: 'integer' } },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const minutes = await readMinutes(
        request.apiKey.tenantId,
        (request.query as { minutes?: number }).minutes ?? 60,
      );
      const totals = { granted: 0, denied: 0, denials: {} as Record<string, number> };
      for (const m of minutes) {
        totals.granted += m.granted;
        totals.denied += m.denied;
        for (const [reason, n] of Object.entries(m.denials))
          totals.denials[reason] = (totals.denials[reason] ?? 0) + n;
      }
      return { minutes: minutes.map((m) => ({ ...m, minute: iso(m.minute) })), totals };
    },
  );

  app.get(
    '/v1/stats/chart.png',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'The same stats as a PNG chart',
        security,
        querystring: statsQuery,
      },
    },
    async (request, reply) => {
      const minutes = await readMinutes(
        request.apiKey.tenantId,
        (request.query as { minutes?: number }).minutes ?? 60,
      );
      return reply
        .type('image/png')
        .header('cache-control', 'no-store')
        .send(renderStatsChart(minutes, { title: 'License requests per minute' }));
    },
  );
}
