import { BadRequest, newBanTarget } from '@vigil/core';
import { pageBans } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, banSchema, iso, security } from './shared.ts';

/** Bans by session or address. */
export function bansRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store, readonly, operator } = ctx;

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
}
