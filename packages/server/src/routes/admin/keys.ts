import { createKeys, createKeysSchema, listKeys } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { dateTimeSchema, objectSchema, stringSchema } from '../schemas.ts';
import { type AdminContext, guarded, iso } from './shared.ts';

/** Content keys (without their key bytes). */
export function keysRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;
  const deps = { store: ctx.store, keyTtlSeconds: ctx.config.keyTtlSeconds };

  const keyMeta = objectSchema({
    kid: stringSchema,
    resourceId: stringSchema,
    keyPeriod: { type: 'integer' },
    trackType: stringSchema,
    iv: stringSchema,
    expiresAt: dateTimeSchema,
  });

  app.post(
    '/v1/keys',
    guarded(auth, ['keys'], 'Create content keys for a resource (key bytes are never returned)', {
      body: createKeysSchema,
      response: { 201: { type: 'object', properties: { keys: { type: 'array', items: keyMeta } } } },
    }),
    async (request, reply) => {
      const keys = await createKeys(deps, request.actor, request.body as Parameters<typeof createKeys>[2]);
      return reply.code(201).send({
        keys: keys.map((k) => ({
          kid: k.kid,
          resourceId: k.resourceId,
          keyPeriod: k.keyPeriod,
          trackType: k.trackType,
          iv: k.iv,
          expiresAt: iso(k.expiresAt),
        })),
      });
    },
  );

  app.get(
    '/v1/keys',
    guarded(auth, ['keys'], 'Key ids of a resource (by key period, paginated)', {
      querystring: {
        type: 'object',
        required: ['resourceId'],
        properties: { resourceId: { type: 'string', maxLength: 256 }, ...pageParams },
      },
      response: {
        200: {
          type: 'object',
          properties: { keys: { type: 'array', items: keyMeta }, next: nextSchema },
        },
      },
    }),
    async (request) => {
      const page = await listKeys(
        ctx,
        request.actor,
        { resourceId: (request.query as { resourceId: string }).resourceId },
        pageRequest(request.query),
      );
      return { keys: page.items.map((k) => ({ ...k, expiresAt: iso(k.expiresAt) })), next: page.next };
    },
  );
}
