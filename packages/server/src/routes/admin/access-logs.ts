import { readAccessLogs } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { pageAnswer, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, guarded, iso } from './shared.ts';

/** The access log of the key's tenant. */
export function accessLogsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth, records } = ctx;

  app.get(
    '/v1/access-logs',
    guarded(
      auth,
      ['control'],
      'Access log: license grants, heartbeats, refusals and player reports, newest first (paginated)',
      {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sessionId: { type: 'string', minLength: 1, maxLength: 128 },
            action: { type: 'string', maxLength: 64 },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
            ...pageParams,
          },
        },
        response: pageAnswer('entries', {
          type: 'object',
          properties: {
            id: { type: 'string' },
            sessionId: { type: 'string' },
            resourceId: { type: 'string' },
            userId: { type: ['string', 'null'] },
            ip: { type: 'string' },
            userAgent: { type: 'string' },
            action: { type: 'string' },
            at: { type: 'string', format: 'date-time' },
            metadata: { type: ['object', 'null'], additionalProperties: true },
          },
        }),
      },
    ),
    async (request) => {
      const { sessionId, action, since, until } = request.query as Record<string, string | undefined>;
      const page = await readAccessLogs(
        records,
        request.actor,
        { sessionId, action, since, until },
        pageRequest(request.query),
      );
      return {
        entries: page.items.map(({ tenantId: _t, ...e }) => ({ ...e, at: iso(e.at) })),
        next: page.next,
      };
    },
  );
}
