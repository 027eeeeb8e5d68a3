import {
  createTenant,
  createTenantSchema,
  getTenantSettings,
  listTenants,
  rotateSecretSchema,
  rotateTenantSecret,
  updateTenantSchema,
  updateTenantSettings,
} from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { pageRequest, pageSchema } from '../../pagination.ts';
import { errorSchema, objectSchema, stringSchema } from '../schemas.ts';
import { type AdminContext, guarded, iso } from './shared.ts';

/** The key's tenant, and tenants (platform role). */
export function tenantsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;
  // The tenant's settings include its leak policy (kept by the detections' store).
  const tenantDeps = { ...ctx, detections: ctx.leak.detections };

  const tenantSchema = objectSchema({
    id: stringSchema,
    name: stringSchema,
    allowedOrigins: { type: 'array', items: { type: 'string' } },
    jwks: { type: ['object', 'null'], additionalProperties: true },
    previousSecretValidUntil: {
      type: 'integer',
      description:
        'while a rotated HS256 secret still verifies viewer tokens: until when (ms since the epoch)',
    },
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
  });

  app.get(
    '/v1/tenant',
    guarded(auth, ['tenants'], "This tenant's settings", {
      response: { 200: tenantSchema },
    }),
    async (request) => getTenantSettings(tenantDeps, request.actor),
  );

  app.put(
    '/v1/tenant',
    guarded(
      auth,
      ['tenants'],
      'Change allowed browser origins, registered public keys (JWKS for RS256/ES256 tokens) or name',
      {
        body: updateTenantSchema,
        response: { 200: tenantSchema },
      },
    ),
    async (request) =>
      updateTenantSettings(
        tenantDeps,
        request.actor,
        request.body as Parameters<typeof updateTenantSettings>[2],
      ),
  );

  app.post(
    '/v1/tenant/secret/rotate',
    guarded(
      auth,
      ['tenants'],
      'Rotate the HS256 viewer-token secret (admin): the new secret is answered once and signs from now on; ' +
        'tokens signed with the old one still verify for graceSeconds (default 3600, at most 7 days)',
      {
        body: rotateSecretSchema,
        response: {
          200: objectSchema({ jwtSecret: stringSchema, previousSecretValidUntil: { type: 'integer' } }),
          '4xx': errorSchema,
        },
      },
    ),
    async (request) =>
      rotateTenantSecret(
        ctx,
        request.actor,
        (request.body ?? {}) as Parameters<typeof rotateTenantSecret>[2],
      ),
  );

  app.post(
    '/v1/tenants',
    guarded(
      auth,
      ['tenants'],
      'Create a tenant (platform role): returns its token secret and an admin API key, once',
      {
        body: createTenantSchema,
        response: {
          201: {
            type: 'object',
            properties: { id: { type: 'string' }, jwtSecret: { type: 'string' }, apiKey: { type: 'string' } },
          },
          '4xx': errorSchema,
        },
      },
    ),
    async (request, reply) => {
      const created = await createTenant(
        ctx,
        request.actor,
        request.body as Parameters<typeof createTenant>[2],
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/tenants',
    guarded(
      auth,
      ['tenants'],
      'All tenants (platform role; by id, paginated)',
      pageSchema('tenants', {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          createdAt: { type: 'string', format: 'date-time' },
        },
      }),
    ),
    async (request) => {
      const page = await listTenants(ctx, request.actor, pageRequest(request.query));
      return { tenants: page.items.map((t) => ({ ...t, createdAt: iso(t.createdAt) })), next: page.next };
    },
  );
}
