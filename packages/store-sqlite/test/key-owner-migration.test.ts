/**
 * 0005_live_key_owner on a store made before it: the rotating keys live channels made (short-lived, on a
 * channel's resource) become the channel's; a package's long-lived keys on the same resource, and keys of
 * resources no channel has, stay the tenant's. (The adapters' conformance suite runs the migration on
 * PostgreSQL and SQLite alike.)
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { migrationProvider } from '@vigil/store';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { tempDir } from '../../../test/support/vigil.ts';

describe('migration 0005_live_key_owner', () => {
  const dir = tempDir();
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives live channels the keys they made, and nothing else', async () => {
    const db = new Kysely<unknown>({
      dialect: new SqliteDialect({ database: new BetterSqlite3(join(dir, 'vigil.db')) }),
    });
    try {
      const migrator = new Migrator({ db, provider: migrationProvider });
      const before = await migrator.migrateTo('0003_live_channels');
      assert.equal(before.error, undefined);
      const now = Date.now();
      await sql`INSERT INTO tenants (id, name, secret_sealed, jwks, allowed_origins, created_at, updated_at)
        VALUES ('default', 'default', 'x', NULL, '["*"]', ${now}, ${now})`.execute(db);
      await sql`INSERT INTO live_channels (tenant_id, id, resource_id, settings, desired, status, created_at, updated_at)
        VALUES ('default', 'ch1', 'match-1', '{}', 'running', NULL, ${now}, ${now})`.execute(db);
      const key = (kid: string, resource: string, ttlMs: number) =>
        sql`INSERT INTO content_keys (tenant_id, kid, resource_id, key_sealed, iv, key_period, track_type, expires_at, created_at)
          VALUES ('default', ${kid}, ${resource}, 'x', 'x', 0, 'sd', ${now + ttlMs}, ${now})`.execute(db);
      await key('live-key', 'match-1', 3 * 60_000);
      await key('package-key', 'match-1', 10 * 365 * 86_400_000);
      await key('other-key', 'film-2', 60_000);
      const result = await migrator.migrateToLatest();
      assert.equal(result.error, undefined);
      const rows = await sql<{ kid: string; owner: string | null }>`
        SELECT kid, owner FROM content_keys ORDER BY kid`.execute(db);
      assert.deepEqual(rows.rows, [
        { kid: 'live-key', owner: 'live:ch1' },
        { kid: 'other-key', owner: null },
        { kid: 'package-key', owner: null },
      ]);
    } finally {
      await db.destroy();
    }
  });
});
