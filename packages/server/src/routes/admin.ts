import { BadRequest, mergeWatermarkConfig, newBanTarget } from '@vigil/core';
import { generateContentKey, TRACK_TYPES, type TrackType } from '@vigil/keys';
import {
  pageAccessLogs,
  pageApiKeys,
  pageBans,
  pageContentKeys,
  pageSessionsByTag,
  pageTenants,
  type Role,
  type VigilStore,
} from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import type { AccessLog } from '../access-log.ts';
import { requireRole } from '../auth/admin.ts';
import type { ServerConfig } from '../config.ts';
import type { HotState } from '../hot-state.ts';
import { nextSchema, pageParams, pageRequest } from '../pagination.ts';
import { renderStatsChart } from '../stats/chart.ts';
import { statsMinutes } from '../stats/minutes.ts';
import type { StatsRecorder } from '../stats/recorder.ts';

export interface AdminRoutesOptions {
  store: VigilStore;
  access: AccessLog;
  hot: HotState;
  stats: StatsRecorder;
  config: ServerConfig;
}

const security = [{ apiKey: [] }];
const TENANT_ID = '^[a-z0-9][a-z0-9_-]{0,63}$';
const watermarkSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    mode: { type: 'string', enum: ['text', 'color'] },
    textIntervalSeconds: { type: 'number' },
    textOpacity: { type: 'number' },
    box: {
      type: 'object',
      additionalProperties: false,
      properties: {
        x: { type: 'number' },
        y: { type: 'number' },
        width: { type: 'number' },
        height: { type: 'number' },
        sizeUnit: { type: 'string', enum: ['percent', 'px'] },
      },
    },
    symbolSeconds: { type: 'number' },
    heartbeatSeconds: { type: 'number' },
    tamperPolicy: { type: 'string', enum: ['report', 'stop'] },
    legacyOptions: { type: 'object', additionalProperties: true },
  },
};
const banSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['session', 'ip'] },
    value: { type: 'string' },
    reason: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    sightings: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ip: { type: 'string' },
          firstSeen: { type: 'string', format: 'date-time' },
          lastSeen: { type: 'string', format: 'date-time' },
          hits: { type: 'integer' },
        },
      },
    },
  },
};

const iso = (ms: number) => new Date(ms).toISOString();

/** The control API: watermark config, bans, keys, stats, tenant settings, API keys. Scoped to the key's tenant. */
export async function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  const { store, hot, stats, config, access } = opts;
  const readonly = requireRole(hot, 'readonly');
  const operator = requireRole(hot, 'operator');
  const admin = requireRole(hot, 'admin');
  const platform = requireRole(hot, 'platform');

  app.get(
    '/v1/watermark',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'Watermark config',
        security,
        response: { 200: watermarkSchema },
      },
    },
    async (request) => store.getWatermarkConfig(request.apiKey.tenantId),
  );

  app.put(
    '/v1/watermark',
    {
      preHandler: admin,
      schema: {
        tags: ['control'],
        summary: 'Change the watermark config (partial update)',
        security,
        body: watermarkSchema,
        response: { 200: watermarkSchema },
      },
    },
    async (request) => {
      const tenantId = request.apiKey.tenantId;
      const next = mergeWatermarkConfig(await store.getWatermarkConfig(tenantId), request.body);
      await store.putWatermarkConfig(tenantId, next);
      return next;
    },
  );

  app.post(
    '/v1/bans',
    {
      preHandler: operator,
      schema: {
        tags: ['control'],
        summary: 'Ban a session, an IP address or an address range (CIDR)',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sessionId: { type: 'string', minLength: 1, maxLength: 128 },
            ip: { type: 'string', minLength: 2, maxLength: 64 },
            reason: { type: 'string', maxLength: 500 },
            expiresAt: { type: 'string', format: 'date-time' },
          },
        },
        response: { 201: banSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as { sessionId?: string; ip?: string; reason?: string; expiresAt?: string };
      if ((body.sessionId === undefined) === (body.ip === undefined)) {
        throw new BadRequest('invalid_ban', 'give exactly one of "sessionId" and "ip"');
      }
      const target = body.ip === undefined ? undefined : newBanTarget(body.ip);
      if (target === null)
        throw new BadRequest(
          'invalid_ban',
          '"ip" is not an IP address or a CIDR range of /16 (IPv4) or /48 (IPv6) or narrower, e.g. 203.0.113.0/24',
        );
      const expiresAt = body.expiresAt === undefined ? null : Date.parse(body.expiresAt);
      if (expiresAt !== null && (!Number.isFinite(expiresAt) || expiresAt <= Date.now())) {
        throw new BadRequest('invalid_ban', '"expiresAt" must be a date-time in the future');
      }
      const ban = await store.upsertBan({
        tenantId: request.apiKey.tenantId,
        kind: body.ip !== undefined ? 'ip' : 'session',
        value: target ?? body.sessionId!,
        reason: body.reason ?? '',
        expiresAt,
      });
      return reply.code(201).send({
        ...ban,
        createdAt: iso(ban.createdAt),
        expiresAt: ban.expiresAt && iso(ban.expiresAt),
        sightings: [],
      });
    },
  );

  app.get(
    '/v1/bans',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary:
          'Bans, with the addresses each banned session was seen calling from (oldest first, paginated)',
        security,
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: { bans: { type: 'array', items: banSchema }, next: nextSchema },
          },
        },
      },
    },
    async (request) => {
      const page = await pageBans(store, request.apiKey.tenantId, pageRequest(request.query));
      return {
        next: page.next,
        bans: page.items.map((b) => ({
          ...b,
          createdAt: iso(b.createdAt),
          expiresAt: b.expiresAt && iso(b.expiresAt),
          sightings: b.sightings.map((s) => ({
            ...s,
            firstSeen: iso(s.firstSeen),
            lastSeen: iso(s.lastSeen),
          })),
        })),
      };
    },
  );

  app.delete(
    '/v1/bans/:id',
    {
      preHandler: operator,
      schema: {
        tags: ['control'],
        summary: 'Lift a ban',
        security,
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } },
      },
    },
    async (request, reply) => {
      const deleted = await store.deleteBan(request.apiKey.tenantId, (request.params as { id: string }).id);
      if (!deleted)
        return reply.code(404).send({ statusCode: 404, code: 'not_found', message: 'no such ban' });
      return reply.code(204).send();
    },
  );

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

  const statsQuery = {
    type: 'object',
    properties: { minutes: { type: 'integer', minimum: 1, maximum: 1440 } },
  };
  const readMinutes = (tenantId: string, count: number) => statsMinutes(store, stats, tenantId, count);

  app.get(
    '/v1/stats',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'License requests per minute and denials by reason',
        security,
        querystring: statsQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              minutes: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    minute: { type: 'string', format: 'date-time' },
                    granted: { type: 'integer' },
                    denied: { type: 'integer' },
                    denials: { type: 'object', additionalProperties: { type: 'integer' } },
                  },
                },
              },
              totals: {
                type: 'object',
                properties: {
                  granted: { type: 'integer' },
                  denied: { type: 'integer' },
                  denials: { type: 'object', additionalProperties: { type: 'integer' } },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const minutes = await readMinutes(
        request.apiKey.tenantId,
        (request.query as { minutes?: number }).minutes ?? 60,
      );
      const totals = { granted: 0, denied: 0, denials: {} as Record<string, number> };
      for (const m of minutes) {
        totals.granted += m.granted;
        totals.denied += m.denied;
        for (const [reason, n] of Object.entries(m.denials))
          totals.denials[reason] = (totals.denials[reason] ?? 0) + n;
      }
      return { minutes: minutes.map((m) => ({ ...m, minute: iso(m.minute) })), totals };
    },
  );

  app.get(
    '/v1/stats/chart.png',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'The same stats as a PNG chart',
        security,
        querystring: statsQuery,
      },
    },
    async (request, reply) => {
      const minutes = await readMinutes(
        request.apiKey.tenantId,
        (request.query as { minutes?: number }).minutes ?? 60,
      );
      return reply
        .type('image/png')
        .header('cache-control', 'no-store')
        .send(renderStatsChart(minutes, { title: 'License requests per minute' }));
    },
  );

  const tenantSchema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      allowedOrigins: { type: 'array', items: { type: 'string' } },
      jwks: { type: ['object', 'null'], additionalProperties: true },
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
      return { id: t.id, name: t.name, allowedOrigins: t.allowedOrigins, jwks: t.jwks };
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
      };
      if (body.jwks) {
        for (const key of body.jwks.keys) {
          if (key.kty !== 'RSA' && key.kty !== 'EC')
            throw new BadRequest('invalid_jwks', 'only RSA and EC public keys can be registered');
          if ('d' in key)
            throw new BadRequest('invalid_jwks', 'register public keys only: a private key was sent');
        }
      }
      await store.updateTenant(request.apiKey.tenantId, body);
      const t = (await store.getTenant(request.apiKey.tenantId))!;
      return { id: t.id, name: t.name, allowedOrigins: t.allowedOrigins, jwks: t.jwks };
    },
  );

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

  app.get(
    '/v1/sessions/by-tag/:tag',
    {
      preHandler: readonly,
      schema: {
        tags: ['control'],
        summary: 'Sessions whose colour watermark shows this tag (leak tracing; first seen first, paginated)',
        security,
        params: { type: 'object', properties: { tag: { type: 'integer', minimum: 0, maximum: 4294967295 } } },
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: {
              sessions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    sessionId: { type: 'string' },
                    firstSeen: { type: 'string', format: 'date-time' },
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
      await access.flush();
      const page = await pageSessionsByTag(
        store,
        request.apiKey.tenantId,
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
