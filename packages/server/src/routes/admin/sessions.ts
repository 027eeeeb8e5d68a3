import { sessionsByTag } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { pageRequest, pageSchema } from '../../pagination.ts';
import { type AdminContext, guarded, iso } from './shared.ts';

/** Sessions behind a colour-watermark tag. */
export function sessionsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth, records } = ctx;

  app.get(
    '/v1/sessions/by-tag/:tag',
    guarded(
      auth,
      ['control'],
      'Sessions whose colour watermark shows this tag (leak tracing; first seen first, paginated)',
      {
        params: { type: 'object', properties: { tag: { type: 'integer', minimum: 0, maximum: 4294967295 } } },
        ...pageSchema('sessions', {
          type: 'object',
          properties: {
            sessionId: { type: 'string' },
            firstSeen: { type: 'string', format: 'date-time' },
          },
        }),
      },
    ),
    async (request) => {
      const page = await sessionsByTag(
        records,
        request.actor,
        (request.params as { tag: number }).tag,
        pageRequest(request.query),
      );
      return {
        sessions: page.items.map((s) => ({ sessionId: s.sessionId, firstSeen: iso(s.firstSeen) })),
        next: page.next,
      };
    },
  );
}
