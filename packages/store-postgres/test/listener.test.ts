/**
 * The PostgreSQL change listener: one LISTEN connection per open store, whatever happens to it. Its
 * backend is terminated from outside (as a failover, an idle-session killer or an operator would): the
 * store reconnects once, never leaves a second connection behind, and changes made by another instance
 * still arrive.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ensureDefaultTenant, openStore } from '@vigil/server';
import type { Change, VigilStore } from '@vigil/store';
import pg from 'pg';
import { TEST_DATABASE_URL, tempDir, uniqueSchema } from '../../../test/support/vigil.ts';

const MASTER_KEY = '6b'.repeat(32);

describe('PostgreSQL change listener', { timeout: 120_000 }, () => {
  const schema = uniqueSchema();
  const dirs = [tempDir('vigil-listener-a-'), tempDir('vigil-listener-b-')];
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  let a: VigilStore;
  let b: VigilStore;

  /** Backend pids of the connections listening for this schema's changes. */
  const listeners = async (): Promise<number[]> =>
    (
      await admin.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1 ORDER BY pid',
        [`LISTEN "vigil_changes_${schema}"`],
      )
    ).rows.map((r) => r.pid);

  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    await admin.connect();
    const open = (dataDir: string) =>
      openStore({ dataDir, databaseUrl: TEST_DATABASE_URL, pgSchema: schema, masterKey: MASTER_KEY });
    a = await open(dirs[0]!);
    await ensureDefaultTenant(a, 'listener-test-secret-0123456789abcdef');
    b = await open(dirs[1]!);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps exactly one listening connection per store across terminated backends, and changes still propagate', async () => {
    await until('both stores listening', async () => (await listeners()).length === 2);
    const seen: Change[] = [];
    const unsubscribe = a.changes.subscribe((c) => seen.push(c));
    try {
      for (let round = 0; round < 3; round++) {
        const old = await listeners();
        assert.equal(old.length, 2, `round ${round}: ${old.length} listening connections`);
        for (const pid of old) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        await until(`round ${round}: both stores listening again on new connections`, async () => {
          const now = await listeners();
          return now.length >= 2 && now.every((pid) => !old.includes(pid));
        });
        // Past the first reconnection delay: a second reconnection would have shown up by now.
        await new Promise((r) => setTimeout(r, 1_500));
        const now = await listeners();
        assert.equal(now.length, 2, `round ${round}: ${now.length} listening connections after a drop`);
        assert.ok(
          seen.some((c) => c.tenantId === '*' && c.topic === '*'),
          'a reconnected store drops every cache',
        );
        seen.length = 0;
        // A change made on the other instance reaches this one through the new connection.
        const ban = await b.upsertBan({
          tenantId: 'default',
          kind: 'session',
          value: `after-drop-${round}`,
          reason: 'listener test',
          expiresAt: null,
        });
        await until(`round ${round}: the ban's change notification`, async () =>
          seen.some((c) => c.tenantId === 'default' && c.topic === 'ban'),
        );
        await b.deleteBan('default', ban.id);
      }
    } finally {
      unsubscribe();
    }
    // Closing a store closes its listener.
    await b.close();
    await until('one listener left', async () => (await listeners()).length === 1);
    b = undefined as unknown as VigilStore;
  });
});
