import { createWatch, deleteWatch, getWatch, listWatches } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, security } from './shared.ts';

const watchSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    mode: { type: 'string' },
    autoBan: { type: 'boolean' },
    desired: { type: 'string', enum: ['running', 'stopped'] },
    status: { type: ['object', 'null'], additionalProperties: true },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    events: {
      type: 'array',
      description: 'Recent events, oldest first: identified, banned, lost, error',
      items: { type: 'object', additionalProperties: true },
    },
  },
};

/** Watched live restreams: followed continuously, the session identified and, by policy, banned. */
export function watchesRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { leak, auth } = ctx;
  const deps = leak.deps;
  const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } };

  app.post(
    '/v1/watches',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary:
          'Watch a live restream (HLS, DASH or progressive URL): identify the session and, with autoBan or the tenant policy, ban it',
        security,
        body: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, maxLength: 2048 },
            mode: { type: 'string', enum: ['auto', 'color', 'text'] },
            autoBan: { type: 'boolean' },
          },
        },
        response: { 201: watchSchema },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await createWatch(deps, request.actor, request.body as { url: string })),
  );

  app.get(
    '/v1/watches',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary: 'Watches, newest first (paginated)',
        security,
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: { watches: { type: 'array', items: watchSchema }, next: nextSchema },
          },
        },
      },
    },
    async (request) => {
      const page = await listWatches(deps, request.actor, pageRequest(request.query));
      return { watches: page.items, next: page.next };
    },
  );

  app.get(
    '/v1/watches/:id',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary: 'A watch: its status and recent events',
        security,
        params: idParams,
        response: { 200: watchSchema },
      },
    },
    async (request) => getWatch(deps, request.actor, (request.params as { id: string }).id),
  );

  app.delete(
    '/v1/watches/:id',
    {
      preHandler: auth,
      schema: { tags: ['leak tracing'], summary: 'Stop and remove a watch', security, params: idParams },
    },
    async (request, reply) => {
      await deleteWatch(deps, request.actor, (request.params as { id: string }).id);
      return reply.code(204).send();
    },
  );
}
