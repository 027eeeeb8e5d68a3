import { assetAccessLogs, assetAccessReport, type MediaApiDeps } from '@vigil/control';
import { MediaDeliveryStore } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { pageAnswer, pageParams, pageRequest } from '../../pagination.ts';
import { assetParams, errorSchema, type MediaContext, security, tags } from './shared.ts';

const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    assetId: { type: 'string' },
    userId: { type: ['string', 'null'] },
    sessionId: { type: 'string' },
    ipAddress: { type: 'string' },
    userAgent: { type: 'string' },
    action: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
    metadata: { type: ['object', 'null'], additionalProperties: true },
  },
};

const counts = { type: 'object', additionalProperties: { type: 'integer' } };

const reportSchema = {
  type: 'object',
  properties: {
    assetId: { type: 'string' },
    period: {
      type: 'object',
      properties: {
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
      },
    },
    totals: {
      type: 'object',
      properties: {
        events: { type: 'integer' },
        views: { type: 'integer', description: 'Sessions started (streamStart)' },
        uniqueUsers: { type: 'integer' },
        uniqueSessions: { type: 'integer' },
        uniqueIps: { type: 'integer' },
        denials: { type: 'integer' },
        suspiciousActivity: { type: 'integer' },
      },
    },
    actions: counts,
    denialsByReason: counts,
    topUsers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          userId: { type: 'string' },
          events: { type: 'integer' },
          sessions: { type: 'integer' },
        },
      },
    },
    firstAccessAt: { type: ['string', 'null'], format: 'date-time' },
    lastAccessAt: { type: ['string', 'null'], format: 'date-time' },
    generatedAt: { type: 'string', format: 'date-time' },
  },
};

/** Content monitoring of one asset: its access log (the seed's ContentAccessLog) and an access report. */
export function monitoringRoutes(app: FastifyInstance, ctx: MediaContext): void {
  const deps: MediaApiDeps = {
    ...ctx.deps,
    store: ctx.store,
    delivery: new MediaDeliveryStore(ctx.store),
    flush: ctx.access ? () => ctx.access!.flush() : undefined,
  };
  const id = (request: { params: unknown }) => (request.params as { assetId: string }).assetId;

  app.get(
    '/v1/media/:assetId/access-logs',
    {
      preHandler: ctx.apiKey,
      schema: {
        tags,
        security,
        summary: "The asset's access log, newest first (paginated)",
        description:
          'Stream starts and progress (licenses, heartbeats), refusals (`accessDenied` with its `reason`) and player reports of the sessions of this asset. `since`/`until` bound `timestamp` as [since, until).',
        params: assetParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            userId: { type: 'string', minLength: 1, maxLength: 200 },
            sessionId: { type: 'string', minLength: 1, maxLength: 128 },
            action: { type: 'string', maxLength: 64 },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
            ...pageParams,
          },
        },
        response: { ...pageAnswer('logs', entrySchema), '4xx': errorSchema },
      },
    },
    async (request) => {
      const q = request.query as Record<string, string | undefined>;
      const page = await assetAccessLogs(
        deps,
        ctx.actor(request),
        id(request),
        q,
        pageRequest(request.query),
      );
      return {
        logs: page.items.map((e) => ({
          id: e.id,
          assetId: e.resourceId,
          userId: e.userId,
          sessionId: e.sessionId,
          ipAddress: e.ip,
          userAgent: e.userAgent,
          action: e.action,
          timestamp: new Date(e.at).toISOString(),
          metadata: e.metadata,
        })),
        next: page.next,
      };
    },
  );

  app.post(
    '/v1/media/:assetId/access-report',
    {
      preHandler: ctx.apiKey,
      schema: {
        tags,
        security,
        summary: "A summary of the asset's access over a period",
        description:
          'Views (sessions started), unique users, sessions and addresses, entries by action, refusals by reason and the most active users over [from, to) (default: the 24 hours before `to`, which defaults to now; at most 366 days). Refused: 400 `monitoring_invalid_period`.',
        params: assetParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
          },
        },
        response: { 200: reportSchema, '4xx': errorSchema },
      },
    },
    async (request) =>
      assetAccessReport(deps, ctx.actor(request), {
        ...((request.body ?? {}) as { from?: string; to?: string }),
        assetId: id(request),
      }),
  );
}
