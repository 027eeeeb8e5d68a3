import { pageAccessLogs } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, iso, security } from './shared.ts';

/** The access log of the key's tenant. */
export function accessLogsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, access, readonly } = ctx;

  app.get(
    '/v1/access-logs',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary:
          'Access log: license grants, heartbeats, refusals and player reports, newest first (paginated)',
        security,
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
        response: {
          200: {
            type: 'object',
            properties: {
              entries: {
                type: 'array',
                items: {
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
                },
              },
              next: nextSchema,
            },
          },
        },
      },
    },
    async (request) => {
      const q = request.query as {
        sessionId?: string;
        action?: string;
        since?: string;
        until?: string;
      };
      await access.flush();
      const page = await pageAccessLogs(
        store,
        request.apiKey.tenantId,
        {
          sessionId: q.sessionId,
          action: q.action,
          since: q.since === undefined ? undefined : Date.parse(q.since),
          until: q.until === undefined ? undefined : Date.parse(q.until),
        },
        pageRequest(request.query),
      );
      return {
        entries: page.items.map(({ tenantId: _t, ...e }) => ({ ...e, at: iso(e.at) })),
        next: page.next,
      };
    },
  );
}
