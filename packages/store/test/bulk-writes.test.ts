/**
 * Batches bigger than a database's statement limits: the access log's flush hands the store whatever has
 * queued (tens of thousands of sessions after a burst), and PostgreSQL refuses a statement with more than
 * 65535 bind parameters (SQLite: 32766 variables). Both adapters must write such a batch whole.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ensureDefaultTenant, openStore } from '@vigil/server';
import type { AccessLogEntry, VigilStore } from '@vigil/store';
import pg from 'pg';
import { TEST_DATABASE_URL, tempDir, uniqueSchema } from '../../../test/support/vigil.ts';

/** 4 columns × 20 000 rows = 80 000 parameters for the tags; 10 × 20 000 for the entries. */
const ROWS = 20_000;

for (const adapter of ['sqlite', 'postgres'] as const) {
  describe(`large batches: ${adapter}`, { timeout: 120_000 }, () => {
    const dataDir = tempDir('vigil-bulk-');
    const schema = uniqueSchema();
    let store: VigilStore | undefined;
    after(async () => {
      await store?.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (adapter === 'postgres') {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    });

    it(`writes ${ROWS} session tags and ${ROWS} access-log entries in one call each`, async () => {
      store = await openStore({
        dataDir,
        masterKey: '42'.repeat(32),
        ...(adapter === 'postgres' ? { databaseUrl: TEST_DATABASE_URL, pgSchema: schema } : {}),
      });
      await ensureDefaultTenant(store, 'bulk-writes-test-secret-0123456789abcdef');
      const now = Date.now();
      const tags = Array.from({ length: ROWS }, (_, i) => ({
        tenantId: 'default',
        tag: i,
        sessionId: `bulk-${i}`,
        firstSeen: now + i,
      }));
      await store.recordSessionTags(tags);
      // Written again (a retried flush): nothing is duplicated.
      await store.recordSessionTags(tags.slice(0, 1_000));
      assert.deepEqual(await store.sessionsByTag('default', 0), [{ sessionId: 'bulk-0', firstSeen: now }]);
      assert.deepEqual(await store.sessionsByTag('default', ROWS - 1), [
        { sessionId: `bulk-${ROWS - 1}`, firstSeen: now + ROWS - 1 },
      ]);

      const entries: AccessLogEntry[] = Array.from({ length: ROWS }, (_, i) => ({
        id: randomUUID(),
        tenantId: 'default',
        sessionId: `bulk-${i % 100}`,
        resourceId: 'bulk-resource',
        userId: null,
        ip: '203.0.113.9',
        userAgent: 'bulk-test',
        action: 'streamProgress',
        at: now + i,
        metadata: { i },
      }));
      await store.appendAccessLogs(entries);
      const rows = await store.queryAccessLogs('default', { sessionId: 'bulk-7', limit: 1_000 });
      assert.equal(rows.length, ROWS / 100);
      assert.ok(rows.every((r) => r.sessionId === 'bulk-7' && (r.metadata as { i: number }).i % 100 === 7));
      const newest = await store.queryAccessLogs('default', { limit: 1 });
      assert.equal(newest[0]?.id, entries.at(-1)!.id);
    });
  });
}
