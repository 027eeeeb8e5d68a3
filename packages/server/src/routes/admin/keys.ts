import { generateContentKey, TRACK_TYPES, type TrackType } from '@vigil/keys';
import { pageContentKeys } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, iso, security } from './shared.ts';

/** Content keys (without their key bytes). */
export function keysRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, config, readonly, admin } = ctx;

  const keyMeta = {
    type: 'object',
    properties: {
      kid: { type: 'string' },
      resourceId: { type: 'string' },
      keyPeriod: { type: 'integer' },
      trackType: { type: 'string' },
      iv: { type: 'string' },
      expiresAt: { type: 'string', format: 'date-time' },
    },
  };

  app.post(
    '/v1/keys',
    {
      preHandler: admin,
      schema: {
        tags: ['keys'],
        summary: 'Create content keys for a resource (key bytes are never returned)',
        security,
        body: {
          type: 'object',
          required: ['resourceId'],
          additionalProperties: false,
          properties: {
            resourceId: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' },
            firstPeriod: { type: 'integer', minimum: 0, maximum: 1e12 },
            periods: { type: 'integer', minimum: 1, maximum: 1000 },
            trackTypes: {
              type: 'array',
              minItems: 1,
              maxItems: 5,
              uniqueItems: true,
              items: { type: 'string', enum: [...TRACK_TYPES] },
            },
            ttlSeconds: { type: 'integer', minimum: 60, maximum: 10 * 365 * 86400 },
          },
        },
        response: { 201: { type: 'object', properties: { keys: { type: 'array', items: keyMeta } } } },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        resourceId: string;
        firstPeriod?: number;
        periods?: number;
        trackTypes?: TrackType[];
        ttlSeconds?: number;
      };
      const tenantId = request.apiKey.tenantId;
      const expiresAt = Date.now() + (body.ttlSeconds ?? config.keyTtlSeconds) * 1000;
      const keys = [];
      for (let p = 0; p < (body.periods ?? 1); p++) {
        for (const trackType of body.trackTypes ?? ['all']) {
          keys.push(
            generateContentKey({
              tenantId,
              resourceId: body.resourceId,
              keyPeriod: (body.firstPeriod ?? 0) + p,
              trackType,
              expiresAt,
            }),
          );
        }
      }
      await store.putContentKeys(keys);
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
    {
      preHandler: readonly,
      schema: {
        tags: ['keys'],
        summary: 'Key ids of a resource (by key period, paginated)',
        security,
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
      },
    },
    async (request) => {
      const page = await pageContentKeys(
        store,
        request.apiKey.tenantId,
        (request.query as { resourceId: string }).resourceId,
        pageRequest(request.query),
      );
      return { keys: page.items.map((k) => ({ ...k, expiresAt: iso(k.expiresAt) })), next: page.next };
    },
  );
}
