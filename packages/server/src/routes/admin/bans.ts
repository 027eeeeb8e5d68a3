import { createBan, createBanSchema, liftBan, listBans } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { pageRequest, pageSchema } from '../../pagination.ts';
import { type AdminContext, banSchema, guarded, iso } from './shared.ts';

/** Bans by session or address. */
export function bansRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { auth } = ctx;

  app.post(
    '/v1/bans',
    guarded(auth, ['control'], 'Ban a session, an IP address or an address range (CIDR)', {
      body: createBanSchema,
      response: { 201: banSchema },
    }),
    async (request, reply) => {
      const ban = await createBan(ctx, request.actor, request.body as Parameters<typeof createBan>[2]);
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
    guarded(
      auth,
      ['control'],
      'Bans, with the addresses each banned session was seen calling from (oldest first, paginated)',
      {
        ...pageSchema('bans', banSchema),
      },
    ),
    async (request) => {
      const page = await listBans(ctx, request.actor, pageRequest(request.query));
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
    guarded(auth, ['control'], 'Lift a ban', {
      params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } },
    }),
    async (request, reply) => {
      await liftBan(ctx, request.actor, { id: (request.params as { id: string }).id });
      return reply.code(204).send();
    },
  );
}
