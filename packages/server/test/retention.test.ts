/**
 * Retention: access logs, session tags, per-minute stats and ban sightings older than the configured
 * days are purged in bounded batches; newer rows stay. Old rows are written through the store (the
 * server has no clock to wind back), new ones through the HTTP API. Embedded store and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { purgeRetained, retentionFromEnv, startRetention } from '@vigil/server';
import pg from 'pg';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  TEST_DATABASE_URL,
  type TestServer,
  uniqueSchema,
  viewerToken,
} from '../../../test/support/vigil.ts';

const DAY = 86_400_000;

async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const until = Date.now() + 10_000;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function suite(
  name: string,
  start: () => Promise<TestServer>,
  cleanup: () => Promise<void> = async () => {},
) {
  describe(`retention (${name})`, () => {
    let server: TestServer;
    let banId: string;
    const now = Date.now();
    const old = now - 100 * DAY;

    before(async () => {
      server = await start();
      // New rows, through the API: a viewer's events and license (its session tag), stats, a banned
      // session's sighting.
      const [kid] = await createKeys(server, 'kept-res');
      const token = await viewerToken(server.secret, { sessionId: 'kept-session', resourceId: 'kept-res' });
      assert.equal(
        (await call(`${server.url}/v1/license/clearkey`, { token, body: { kids: [kidB64(kid!)] } })).status,
        200,
      );
      assert.equal(
        (await call(`${server.url}/v1/events`, { token, body: { action: 'streamComplete' } })).status,
        202,
      );
      const banned = await call(`${server.url}/v1/bans`, {
        token: server.apiKey,
        body: { sessionId: 'banned-session' },
      });
      banId = banned.body.id;
      const bannedToken = await viewerToken(server.secret, { sessionId: 'banned-session' });
      assert.equal((await call(`${server.url}/v1/heartbeat`, { token: bannedToken, body: {} })).status, 403);

      // Old rows, as they would be after 100 days.
      await server.store.appendAccessLogs(
        Array.from({ length: 25 }, (_, i) => ({
          id: `old-entry-${i}`,
          tenantId: 'default',
          sessionId: 'old-session',
          resourceId: 'old-res',
          userId: null,
          ip: '127.0.0.1',
          userAgent: 'test',
          action: 'streamProgress',
          at: old + i,
          metadata: null,
        })),
      );
      await server.store.recordSessionTags([
        { tenantId: 'default', tag: 77, sessionId: 'old-session', firstSeen: old },
        { tenantId: 'default', tag: 77, sessionId: 'recent-session', firstSeen: now - DAY },
      ]);
      await server.store.addStats([
        { tenantId: 'default', minute: old - (old % 60_000), outcome: 'granted', count: 3 },
      ]);
      await server.store.recordBanSighting('default', banId, '192.0.2.9', old);
    });
    after(async () => {
      await server?.close();
      await cleanup();
    });

    it('purges only what is older than the retention, in batches', async () => {
      const policy = retentionFromEnv({ VIGIL_RETENTION_DAYS: '90' });
      // Wait for the banned call's sighting and the access log flush, so the new rows are in the store.
      await waitFor(
        () => call(`${server.url}/v1/bans`, { token: server.apiKey }),
        (r) => r.body.bans[0]?.sightings.length === 2,
        'the sighting',
      );
      await waitFor(
        () => server.store.readStats('default', Date.now() - DAY),
        (rows) => rows.length > 0,
        'the recent stats',
      );
      const purged = await purgeRetained(server.store, policy, Date.now(), 10);
      assert.deepEqual(purged, { accessLogs: 25, sessionTags: 1, stats: 1, banSightings: 1 });

      const logs = await call(`${server.url}/v1/access-logs?limit=1000`, { token: server.apiKey });
      const sessions = new Set(logs.body.entries.map((e: { sessionId: string }) => e.sessionId));
      assert.ok(!sessions.has('old-session'), 'old access-log entries are gone');
      assert.ok(sessions.has('kept-session'), 'recent ones stay');
      assert.ok(sessions.has('banned-session'));

      const tagged = await call(`${server.url}/v1/sessions/by-tag/77`, { token: server.apiKey });
      assert.deepEqual(
        tagged.body.sessions.map((s: { sessionId: string }) => s.sessionId),
        ['recent-session'],
      );

      const bans = await call(`${server.url}/v1/bans`, { token: server.apiKey });
      assert.deepEqual(
        bans.body.bans[0].sightings.map((s: { ip: string }) => s.ip),
        ['127.0.0.1'],
      );

      const stats = await server.store.readStats('default', 0);
      assert.ok(stats.length > 0, 'recent stats stay');
      assert.ok(
        stats.every((r) => r.minute > Date.now() - 90 * DAY),
        'old stats are gone',
      );

      // Nothing more to do the second time.
      assert.deepEqual(await purgeRetained(server.store, policy, Date.now()), {
        accessLogs: 0,
        sessionTags: 0,
        stats: 0,
        banSightings: 0,
      });
    });

    it('per-kind days override the default, 0 keeps for ever, and the periodic purger runs them', async () => {
      await server.store.appendAccessLogs([
        {
          id: 'old-again',
          tenantId: 'default',
          sessionId: 'old-again',
          resourceId: 'old-res',
          userId: null,
          ip: '127.0.0.1',
          userAgent: 'test',
          action: 'streamProgress',
          at: Date.now() - 10 * DAY,
          metadata: null,
        },
      ]);
      await server.store.recordSessionTags([
        { tenantId: 'default', tag: 78, sessionId: 'tag-10-days', firstSeen: Date.now() - 10 * DAY },
      ]);
      const policy = retentionFromEnv({
        VIGIL_RETENTION_DAYS: '0',
        VIGIL_RETENTION_ACCESS_LOG_DAYS: '7',
      });
      assert.deepEqual(policy, { accessLogs: 7, sessionTags: 0, stats: 0, banSightings: 0 });
      const messages: string[] = [];
      const stop = startRetention(server.store, policy, 60_000, (m) => messages.push(m));
      try {
        await waitFor(
          () => call(`${server.url}/v1/access-logs?sessionId=old-again`, { token: server.apiKey }),
          (r) => r.body.entries.length === 0,
          'the periodic purge',
        );
      } finally {
        stop();
      }
      assert.match(messages.join('\n'), /purged 1 access-log entries/);
      const tagged = await call(`${server.url}/v1/sessions/by-tag/78`, { token: server.apiKey });
      assert.equal(tagged.body.sessions.length, 1, 'session tags kept for ever with 0 days');
    });

    it('refuses a bad setting with a clear message', () => {
      assert.throws(
        () => retentionFromEnv({ VIGIL_RETENTION_DAYS: 'ninety' }),
        /VIGIL_RETENTION_DAYS must be/,
      );
      assert.throws(
        () => retentionFromEnv({ VIGIL_RETENTION_STATS_DAYS: '-1' }),
        /VIGIL_RETENTION_STATS_DAYS must be/,
      );
      assert.deepEqual(retentionFromEnv({}), {
        accessLogs: 90,
        sessionTags: 90,
        stats: 90,
        banSightings: 90,
      });
    });
  });
}

suite('embedded store', () => startVigil());

const schema = uniqueSchema();
suite(
  'PostgreSQL',
  () =>
    startVigil({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema }).catch((err) => {
      throw new Error(`PostgreSQL is required at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    }),
  async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  },
);
