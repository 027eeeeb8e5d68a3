import { pageApiKeys, type Role } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, iso, security } from './shared.ts';

/** API keys of the key's tenant. */
export function apikeysRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, admin } = ctx;

  const apiKeySchema = {
    type: 'object',
    properties: {
      key: { type: 'string' },
      prefix: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      revokedAt: { type: ['string', 'null'], format: 'date-time' },
    },
  };

  app.post(
    '/v1/apikeys',
    {
      preHandler: admin,
      schema: {
        tags: ['tenants'],
        summary: 'Create an API key for this tenant (the key is shown once)',
        security,
        body: {
          type: 'object',
          required: ['role'],
          additionalProperties: false,
          properties: {
            role: { type: 'string', enum: ['admin', 'operator', 'readonly'] },
            name: { type: 'string', maxLength: 200 },
          },
        },
        response: { 201: apiKeySchema },
      },
    },
    async (request, reply) => {
      const body = request.body as { role: Role; name?: string };
      const { key, record } = await store.createApiKey(request.apiKey.tenantId, body.role, body.name ?? '');
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
    {
      preHandler: admin,
      schema: {
        tags: ['tenants'],
        summary: 'API keys of this tenant (prefixes only; oldest first, paginated)',
        security,
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: { apiKeys: { type: 'array', items: apiKeySchema }, next: nextSchema },
          },
        },
      },
    },
    async (request) => {
      const page = await pageApiKeys(store, request.apiKey.tenantId, pageRequest(request.query));
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
    {
      preHandler: admin,
      schema: {
        tags: ['tenants'],
        summary:
          'Revoke the API key with this prefix (409 apikey_ambiguous when several share it, unless all=true)',
        security,
        params: { type: 'object', properties: { prefix: { type: 'string', minLength: 8, maxLength: 8 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { all: { type: 'boolean', description: 'Revoke every active key with this prefix' } },
        },
      },
    },
    async (request, reply) => {
      const tenantId = request.apiKey.tenantId;
      const { prefix } = request.params as { prefix: string };
      // One key, the one named: never a second key that happens to share the prefix unless told so.
      const matching = (await store.listApiKeys(tenantId)).filter(
        (k) => k.prefix === prefix && k.revokedAt === null,
      );
      if (matching.length === 0)
        return reply
          .code(404)
          .send({ statusCode: 404, code: 'not_found', message: 'no active key with this prefix' });
      if (matching.length > 1 && (request.query as { all?: boolean }).all !== true)
        return reply.code(409).send({
          statusCode: 409,
          code: 'apikey_ambiguous',
          message: `${matching.length} active keys share this prefix: add ?all=true to revoke them all`,
        });
      if (request.apiKey.role !== 'platform' && matching.some((k) => k.role === 'platform'))
        return reply.code(403).send({
          statusCode: 403,
          code: 'forbidden',
          message: 'only a platform key revokes a platform key',
        });
      await store.revokeApiKeysByHash(
        tenantId,
        matching.map((k) => k.hash),
      );
      return reply.code(204).send();
    },
  );
}
