import { createApiKey, createApiKeySchema, listApiKeys, revokeApiKey } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { pageRequest, pageSchema } from '../../pagination.ts';
import { dateTimeSchema, nullableDateTimeSchema, objectSchema, stringSchema } from '../schemas.ts';
import { type AdminContext, guarded, iso } from './shared.ts';

/** API keys of the key's tenant. */
export function apikeysRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;

  const apiKeySchema = objectSchema({
    key: stringSchema,
    prefix: stringSchema,
    name: stringSchema,
    role: stringSchema,
    createdAt: dateTimeSchema,
    revokedAt: nullableDateTimeSchema,
  });

  app.post(
    '/v1/apikeys',
    guarded(auth, ['tenants'], 'Create an API key for this tenant (the key is shown once)', {
      body: createApiKeySchema,
      response: { 201: apiKeySchema },
    }),
    async (request, reply) => {
      const { key, record } = await createApiKey(
        ctx,
        request.actor,
        request.body as Parameters<typeof createApiKey>[2],
      );
      return reply.code(201).send({
        key,
        prefix: record.prefix,
        name: record.name,
        role: record.role,
        createdAt: iso(record.createdAt),
        revokedAt: null,
      });
    },
  );

  app.get(
    '/v1/apikeys',
    guarded(
      auth,
      ['tenants'],
      'API keys of this tenant (prefixes only; oldest first, paginated)',
      pageSchema('apiKeys', apiKeySchema),
    ),
    async (request) => {
      const page = await listApiKeys(ctx, request.actor, pageRequest(request.query));
      return {
        next: page.next,
        apiKeys: page.items.map((k) => ({
          prefix: k.prefix,
          name: k.name,
          role: k.role,
          createdAt: iso(k.createdAt),
          revokedAt: k.revokedAt && iso(k.revokedAt),
        })),
      };
    },
  );

  app.delete(
    '/v1/apikeys/:prefix',
    guarded(
      auth,
      ['tenants'],
      'Revoke the API key with this prefix (409 apikey_ambiguous when several share it, unless all=true)',
      {
        params: { type: 'object', properties: { prefix: { type: 'string', minLength: 8, maxLength: 8 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { all: { type: 'boolean', description: 'Revoke every active key with this prefix' } },
        },
      },
    ),
    async (request, reply) => {
      const { prefix } = request.params as { prefix: string };
      await revokeApiKey(ctx, request.actor, { prefix, all: (request.query as { all?: boolean }).all });
      return reply.code(204).send();
    },
  );
}
