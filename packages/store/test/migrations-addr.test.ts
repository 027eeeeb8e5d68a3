/**
 * The 0006_addr_ migrations, on both adapters: addresses stored as typed before they were canonical
 * (bans, ban sightings, access logs) are rewritten to the canonical form, bans that become the same
 * target merged into one (sightings added together), and the old unkeyed colour tags deleted.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ensureDefaultTenant, openStore } from '@vigil/server';
import type { VigilStore } from '@vigil/store';
import { sql } from 'kysely';
import pg from 'pg';
import { TEST_DATABASE_URL, tempDir, uniqueSchema } from '../../../test/support/vigil.ts';

const MASTER_KEY = '6b'.repeat(32);

const adapters = [
  { name: 'sqlite', location: () => ({ dataDir: tempDir('vigil-mig-sqlite-') }) },
  {
    name: 'postgres',
    location: () => ({
      dataDir: tempDir('vigil-mig-pg-'),
      databaseUrl: TEST_DATABASE_URL,
      pgSchema: uniqueSchema(),
    }),
  },
];

for (const adapter of adapters) {
  describe(`0006_addr_ migrations (${adapter.name})`, () => {
    const where = adapter.location();
    const open = () => openStore({ ...where, masterKey: MASTER_KEY });
    after(async () => {
      rmSync(where.dataDir, { recursive: true, force: true });
      if ('pgSchema' in where) {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${where.pgSchema}" CASCADE`);
        await client.end();
      }
    });

    it('canonicalises stored addresses, merges duplicate bans and drops unkeyed tags', async () => {
      let store: VigilStore = await open();
      await ensureDefaultTenant(store, 'a-default-tenant-secret-of-32-bytes!!');
      const { db } = store;
      // Rows as an older version wrote them (as typed), past the store's own canonicalisation.
      const ban = (id: string, kind: string, value: string, createdAt: number, expiresAt: number | null) =>
        db
          .insertInto('bans')
          .values({
            id,
            tenant_id: 'default',
            kind,
            value,
            reason: id,
            created_at: createdAt,
            expires_at: expiresAt,
          })
          .execute();
      await ban('b1', 'ip', '2001:0DB8:0000::0001', 1, 1_000);
      await ban('b2', 'ip', '2001:db8::1', 2, null);
      await ban('b3', 'ip', '::ffff:203.0.113.9', 3, 5_000);
      await ban('b4', 'ip', '::FFFF:CB00:7109', 4, 9_000);
      await ban('b5', 'session', '2001:0DB8::1', 5, null);
      await ban('b6', 'ip', '198.51.100.1', 6, null);
      await ban('b7', 'ip', 'not an address', 7, null);
      const sighting = (banId: string, ip: string, first: number, last: number, hits: number) =>
        db
          .insertInto('ban_sightings')
          .values({ ban_id: banId, tenant_id: 'default', ip, first_seen: first, last_seen: last, hits })
          .execute();
      await sighting('b5', '2001:0DB8::5', 10, 20, 2);
      await sighting('b5', '2001:db8::5', 5, 30, 3);
      await sighting('b1', '::FFFF:1.2.3.4', 1, 2, 1);
      await sighting('b2', '1.2.3.4', 3, 4, 2);
      await sighting('b6', '10.0.0.1', 1, 1, 1);
      const log = (id: string, ip: string) =>
        db
          .insertInto('access_logs')
          .values({
            id,
            tenant_id: 'default',
            session_id: 's',
            resource_id: 'r',
            user_id: null,
            ip,
            user_agent: '',
            action: 'streamStart',
            at: 1,
            metadata: null,
          })
          .execute();
      await log('l1', '::FFFF:127.0.0.1');
      await log('l2', '2001:0db8::0001');
      await log('l3', '10.0.0.1');
      await db
        .insertInto('session_tags')
        .values({ tenant_id: 'default', tag: 12345, session_id: 's', first_seen: 1 })
        .execute();
      // Back to the state before the migrations ran: they (and the later ones, which are idempotent) run
      // again at the next open; migrations run in name order and may not skip back.
      await sql`DELETE FROM kysely_migration WHERE name >= '0006'`.execute(db);
      await store.close();

      store = await open();
      try {
        const bans = await store.db.selectFrom('bans').selectAll().orderBy('id').execute();
        assert.deepEqual(
          bans.map((b) => [b.id, b.kind, b.value, b.expires_at === null ? null : Number(b.expires_at)]),
          [
            // b1 joins b2 (already canonical), which was permanent.
            ['b2', 'ip', '2001:db8::1', null],
            // b3 and b4 are one address: the older stays, expiring when the later one did.
            ['b3', 'ip', '203.0.113.9', 9_000],
            ['b5', 'session', '2001:0DB8::1', null],
            ['b6', 'ip', '198.51.100.1', null],
            ['b7', 'ip', 'not an address', null],
          ],
        );
        const sightings = await store.db
          .selectFrom('ban_sightings')
          .selectAll()
          .orderBy('ban_id')
          .orderBy('ip')
          .execute();
        assert.deepEqual(
          sightings.map((s) => [s.ban_id, s.ip, Number(s.first_seen), Number(s.last_seen), Number(s.hits)]),
          [
            ['b2', '1.2.3.4', 1, 4, 3],
            ['b5', '2001:db8::5', 5, 30, 5],
            ['b6', '10.0.0.1', 1, 1, 1],
          ],
        );
        const logs = await store.db.selectFrom('access_logs').select(['id', 'ip']).orderBy('id').execute();
        assert.deepEqual(
          logs.map((l) => [l.id, l.ip]),
          [
            ['l1', '127.0.0.1'],
            ['l2', '2001:db8::1'],
            ['l3', '10.0.0.1'],
          ],
        );
        assert.equal((await store.db.selectFrom('session_tags').selectAll().execute()).length, 0);
        // And the bans are found by their canonical form.
        const active = await store.activeBans('default', 0);
        assert.ok(active.some((b) => b.value === '203.0.113.9' && b.id === 'b3'));
        assert.equal(await store.deleteBanByTarget('default', 'ip', '2001:0db8::0001'), true);
      } finally {
        await store.close();
      }
    });
  });
}
