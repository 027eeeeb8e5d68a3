import { getLeakPolicy, mergeLeakPolicy } from '@vigil/control';
import { BadRequest } from '@vigil/core';
import { pageTenants } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { apiKeyActor } from '../../detect/index.ts';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, iso, security, TENANT_ID } from './shared.ts';

/** The key's tenant, and tenants (platform role). */
export function tenantsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, readonly, admin, platform, leak } = ctx;

  const tenantSchema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      allowedOrigins: { type: 'array', items: { type: 'string' } },
      jwks: { type: ['object', 'null'], additionalProperties: true },
      leakPolicy: {
        type: 'object',
        description: 'What a found leak leads to (see POST /v1/watches)',
        properties: {
          autoBan: { type: 'boolean', description: 'ban identified sessions without a human' },
          maxFalseMatchProbability: {
            type: 'number',
            description: 'ban only when the chance the mark was read as the wrong session is at most this',
          },
          agreeingWindows: { type: 'integer', description: 'disjoint windows of footage that must agree' },
        },
      },
    },
  };

  app.get(
    '/v1/tenant',
    {
      preHandler: readonly,
      schema: {
        tags: ['tenants'],
        summary: "This tenant's settings",
        security,
        response: { 200: tenantSchema },
      },
    },
    async (request) => {
      const t = (await store.getTenant(request.apiKey.tenantId))!;
      const leakPolicy = await getLeakPolicy(leak.deps, apiKeyActor(request));
      return { id: t.id, name: t.name, allowedOrigins: t.allowedOrigins, jwks: t.jwks, leakPolicy };
    },
  );

  app.put(
    '/v1/tenant',
    {
      preHandler: admin,
      schema: {
        tags: ['tenants'],
        summary:
          'Change allowed browser origins, registered public keys (JWKS for RS256/ES256 tokens) or name',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            allowedOrigins: {
              type: 'array',
              maxItems: 100,
              items: { type: 'string', pattern: '^(\\*|https?://[^/\\s]+)$' },
            },
            leakPolicy: { type: 'object', description: 'autoBan, maxFalseMatchProbability, agreeingWindows' },
            jwks: {
              type: ['object', 'null'],
              required: ['keys'],
              properties: {
                keys: { type: 'array', maxItems: 20, items: { type: 'object', required: ['kty'] } },
              },
            },
          },
        },
        response: { 200: tenantSchema },
      },
    },
    async (request) => {
      const body = request.body as {
        name?: string;
        allowedOrigins?: string[];
        jwks?: { keys: Record<string, unknown>[] } | null;
        leakPolicy?: unknown;
      };
      const { leakPolicy: policyInput, ...settings } = body;
      const tenantId = request.apiKey.tenantId;
      // Checked before anything is written, so a bad policy changes nothing.
      const leakPolicy =
        policyInput === undefined
          ? await leak.detections.getLeakPolicy(tenantId)
          : mergeLeakPolicy(await leak.detections.getLeakPolicy(tenantId), policyInput);
      if (body.jwks) {
        for (const key of body.jwks.keys) {
          if (key.kty !== 'RSA' && key.kty !== 'EC')
            throw new BadRequest('invalid_jwks', 'only RSA and EC public keys can be registered');
          if ('d' in key)
            throw new BadRequest('invalid_jwks', 'register public keys only: a private key was sent');
        }
      }
      await store.updateTenant(tenantId, settings);
      if (policyInput !== undefined) await leak.detections.putLeakPolicy(tenantId, leakPolicy);
      const t = (await store.getTenant(tenantId))!;
      return { id: t.id, name: t.name, allowedOrigins: t.allowedOrigins, jwks: t.jwks, leakPolicy };
    },
  );

  app.post(
    '/v1/tenants',
    {
      preHandler: platform,
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant (platform role): returns its token secret and an admin API key, once',
        security,
        body: {
          type: 'object',
          required: ['id'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', pattern: TENANT_ID },
            name: { type: 'string', minLength: 1, maxLength: 200 },
            allowedOrigins: {
              type: 'array',
              maxItems: 100,
              items: { type: 'string', pattern: '^(\\*|https?://[^/\\s]+)$' },
            },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: { id: { type: 'string' }, jwtSecret: { type: 'string' }, apiKey: { type: 'string' } },
          },
          '4xx': {
            type: 'object',
            properties: {
              statusCode: { type: 'integer' },
              code: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { id: string; name?: string; allowedOrigins?: string[] };
      if (await store.getTenant(body.id)) {
        return reply
          .code(409)
          .send({ statusCode: 409, code: 'tenant_exists', message: `tenant "${body.id}" exists` });
      }
      const tenant = await store.createTenant(body);
      const { key } = await store.createApiKey(tenant.id, 'admin', 'initial admin key');
      return reply.code(201).send({ id: tenant.id, jwtSecret: tenant.secret.toString('utf8'), apiKey: key });
    },
  );

  app.get(
    '/v1/tenants',
    {
      preHandler: platform,
      schema: {
        tags: ['tenants'],
        summary: 'All tenants (platform role; by id, paginated)',
        security,
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: {
              tenants: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    name: { type: 'string' },
                    createdAt: { type: 'string', format: 'date-time' },
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
      const page = await pageTenants(store, pageRequest(request.query));
      return { tenants: page.items.map((t) => ({ ...t, createdAt: iso(t.createdAt) })), next: page.next };
    },
  );
}
