import { type Actor, readStats } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { renderStatsChart } from '../../stats/chart.ts';
import { statsMinutes } from '../../stats/minutes.ts';
import { type AdminContext, guarded, iso } from './shared.ts';

/** License statistics and their chart. */
export function statsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;

  const statsQuery = {
    type: 'object',
    properties: { minutes: { type: 'integer', minimum: 1, maximum: 1440 } },
  };
  const deps = {
    minutes: (tenantId: string, count: number) => statsMinutes(ctx.store, ctx.stats, tenantId, count),
  };
  const read = (request: { actor: Actor; query: unknown }) =>
    readStats(deps, request.actor, { minutes: (request.query as { minutes?: number }).minutes });

  app.get(
    '/v1/stats',
    guarded(auth, ['control'], 'License requests per minute and denials by reason', {
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
    }),
    async (request) => {
      const { minutes, totals } = await read(request);
      return { minutes: minutes.map((m) => ({ ...m, minute: iso(m.minute) })), totals };
    },
  );

  app.get(
    '/v1/stats/chart.png',
    guarded(auth, ['control'], 'The same stats as a PNG chart', {
      querystring: statsQuery,
    }),
    async (request, reply) => {
      const { minutes } = await read(request);
      return reply
        .type('image/png')
        .header('cache-control', 'no-store')
        .send(renderStatsChart(minutes, { title: 'License requests per minute' }));
    },
  );
}
