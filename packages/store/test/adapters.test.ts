/**
 * One conformance suite, run against both store adapters: the embedded SQLite store (in a temporary
 * folder) and PostgreSQL (in a schema of its own, dropped afterwards). Everything goes through the HTTP
 * API of a real server where the API can express it; the rest goes through the store object.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Envelope, generateContentKey } from '@vigil/keys';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import {
  call,
  kidB64,
  startVigil,
  TEST_DATABASE_URL,
  type TestServer,
  tempDir,
  uniqueSchema,
  viewerToken,
} from '../../../test/support/vigil.ts';

const MASTER_KEY = '5a'.repeat(32);
const OTHER_MASTER_KEY = 'c3'.repeat(32);

/** Fails (never skips) when the PostgreSQL the suite needs is not there. */
async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is required at ${TEST_DATABASE_URL} (set TEST_DATABASE_URL): ${(err as Error).message}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function pgQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface Adapter {
  name: 'sqlite' | 'postgres';
  /** Options for startVigil that point at the same data every time. */
  location(): { dataDir: string; databaseUrl?: string; pgSchema?: string };
  prepare(): Promise<void>;
  cleanup(): Promise<void>;
  /** The raw content_keys row of a kid, every column as stored. */
  rawContentKeyRow(kid: string): Promise<Record<string, unknown>>;
  rawTenantRow(id: string): Promise<Record<string, unknown>>;
  /** Every byte the adapter keeps on this machine's disk for us, if it is ours to read (SQLite). */
  rawFiles(): Buffer[];
  /** Connections listening for this data's changes (PostgreSQL), one per open store. */
  listeners?(): Promise<number>;
}

function sqliteAdapter(): Adapter {
  const dataDir = tempDir('vigil-conformance-sqlite-');
  const readRow = (sql: string, param: string) => {
    const db = new BetterSqlite3(join(dataDir, 'vigil.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare(sql).get(param) as Record<string, unknown> | undefined;
      assert.ok(row, `no row for ${param}`);
      return row;
    } finally {
      db.close();
    }
  };
  return {
    name: 'sqlite',
    location: () => ({ dataDir }),
    async prepare() {},
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
    async rawContentKeyRow(kid) {
      return readRow('SELECT * FROM content_keys WHERE kid = ?', kid);
    },
    async rawTenantRow(id) {
      return readRow('SELECT * FROM tenants WHERE id = ?', id);
    },
    rawFiles() {
      return ['vigil.db', 'vigil.db-wal']
        .map((f) => join(dataDir, f))
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f));
    },
  };
}

function postgresAdapter(): Adapter {
  const schema = uniqueSchema();
  const dataDir = tempDir('vigil-conformance-pg-');
  const readRow = async (table: string, column: string, value: string) => {
    const rows = await pgQuery(`SELECT * FROM "${schema}".${table} WHERE ${column} = $1`, [value]);
    assert.equal(rows.length, 1, `no ${table} row for ${value}`);
    return rows[0]!;
  };
  return {
    name: 'postgres',
    location: () => ({ dataDir, databaseUrl: TEST_DATABASE_URL, pgSchema: schema }),
    prepare: requirePostgres,
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
      await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    rawContentKeyRow: (kid) => readRow('content_keys', 'kid', kid),
    rawTenantRow: (id) => readRow('tenants', 'id', id),
    rawFiles: () => [],
    async listeners() {
      const rows = await pgQuery<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = $1',
        [`LISTEN "vigil_changes_${schema}"`],
      );
      return rows[0]!.n;
    },
  };
}

/** Outcome counts per tenant, as the server should report them in /v1/stats. */
class Tally {
  readonly byTenant = new Map<string, { granted: number; denials: Record<string, number> }>();

  add(tenant: string, outcome: string): void {
    let t = this.byTenant.get(tenant);
    if (!t) {
      t = { granted: 0, denials: {} };
      this.byTenant.set(tenant, t);
    }
    if (outcome === 'granted') t.granted++;
    else t.denials[outcome] = (t.denials[outcome] ?? 0) + 1;
  }

  expected(tenant: string) {
    const t = this.byTenant.get(tenant) ?? { granted: 0, denials: {} };
    const denied = Object.values(t.denials).reduce((a, b) => a + b, 0);
    return { granted: t.granted, denied, denials: t.denials };
  }
}

for (const makeAdapter of [sqliteAdapter, postgresAdapter]) {
  const adapter = makeAdapter();

  describe(`store conformance: ${adapter.name}`, () => {
    let server: TestServer;
    const tally = new Tally();
    /** What the earlier tests wrote, for checking it all after a restart. */
    const memo = {
      tenantB: { id: 'tenant-b', apiKey: '', jwtSecret: '' },
      operatorKey: '',
      revokedKey: '',
      firstPlatformKey: '',
      keys: new Map<string, string>(), // kid (hex) -> k (base64url)
      bKid: '',
      bKey: '',
      watermark: {} as Record<string, unknown>,
      bans: [] as { id: string; kind: string; value: string }[],
    };

    const start = () => startVigil({ ...adapter.location(), masterKey: MASTER_KEY });

    /** A ClearKey license request from 127.0.0.1, counted in the tally. */
    async function license(
      kids: string[],
      claims: Record<string, unknown> = {},
      secret = server.secret,
      tenant = 'default',
    ) {
      const token = await viewerToken(secret, claims);
      const res = await call(`${server.url}/v1/license/clearkey`, {
        token,
        body: { kids: kids.map(kidB64) },
      });
      tally.add(tenant, res.status === 200 ? 'granted' : res.body.code);
      return res;
    }

    before(async () => {
      await adapter.prepare();
      server = await start();
      memo.firstPlatformKey = server.apiKey;
    });

    after(async () => {
      await server?.close();
      await adapter.cleanup();
    });

    it('uses the adapter it was asked for and reports healthy', async () => {
      assert.equal(server.store.kind, adapter.name);
      const res = await call(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ok', store: adapter.name });
    });

    it('tenants: creates, lists and refuses a duplicate', async () => {
      const created = await call(`${server.url}/v1/tenants`, {
        token: server.apiKey,
        body: { id: memo.tenantB.id, name: 'Tenant B', allowedOrigins: ['https://b.example'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.id, memo.tenantB.id);
      assert.match(created.body.apiKey, /^vk_/);
      assert.ok(created.body.jwtSecret.length >= 32);
      memo.tenantB = created.body;

      const dup = await call(`${server.url}/v1/tenants`, { token: server.apiKey, body: { id: 'tenant-b' } });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.code, 'tenant_exists');

      const list = await call(`${server.url}/v1/tenants`, { token: server.apiKey });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.tenants.map((t: { id: string }) => t.id),
        ['default', 'tenant-b'],
      );

      const own = await call(`${server.url}/v1/tenant`, { token: memo.tenantB.apiKey });
      assert.equal(own.status, 200);
      assert.deepEqual(own.body, {
        id: 'tenant-b',
        name: 'Tenant B',
        allowedOrigins: ['https://b.example'],
        jwks: null,
        // Leak tracing (issue 12): the tenant's policy, the defaults until it is set.
        leakPolicy: { autoBan: false, maxFalseMatchProbability: 1e-4, agreeingWindows: 2 },
      });

      const renamed = await call(`${server.url}/v1/tenant`, {
        method: 'PUT',
        token: memo.tenantB.apiKey,
        body: { name: 'Tenant B (renamed)' },
      });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, 'Tenant B (renamed)');
      assert.deepEqual(renamed.body.allowedOrigins, ['https://b.example']);
    });

    it('API keys: creates with a role, enforces it, lists prefixes only and revokes', async () => {
      const op = await call(`${server.url}/v1/apikeys`, {
        token: server.apiKey,
        body: { role: 'operator', name: 'ops' },
      });
      assert.equal(op.status, 201);
      assert.equal(op.body.role, 'operator');
      memo.operatorKey = op.body.key;

      const ro = await call(`${server.url}/v1/apikeys`, {
        token: server.apiKey,
        body: { role: 'readonly', name: 'dashboard' },
      });
      assert.equal(ro.status, 201);
      memo.revokedKey = ro.body.key;

      // readonly may read but not ban; operator may ban but not create keys.
      assert.equal((await call(`${server.url}/v1/bans`, { token: ro.body.key })).status, 200);
      const roBan = await call(`${server.url}/v1/bans`, { token: ro.body.key, body: { sessionId: 'x' } });
      assert.equal(roBan.status, 403);
      const opKeys = await call(`${server.url}/v1/keys`, {
        token: memo.operatorKey,
        body: { resourceId: 'r' },
      });
      assert.equal(opKeys.status, 403);

      const list = await call(`${server.url}/v1/apikeys`, { token: server.apiKey });
      assert.equal(list.status, 200);
      const names = list.body.apiKeys.map((k: { name: string }) => k.name).sort();
      assert.deepEqual(names, ['VIGIL_API_KEY', 'dashboard', 'ops']);
      assert.ok(list.body.apiKeys.every((k: Record<string, unknown>) => k.key === undefined));
      assert.ok(!JSON.stringify(list.body).includes(op.body.key));

      const revoke = await call(`${server.url}/v1/apikeys/${ro.body.prefix}`, {
        method: 'DELETE',
        token: server.apiKey,
      });
      assert.equal(revoke.status, 204);
      const after = await call(`${server.url}/v1/bans`, { token: ro.body.key });
      assert.equal(after.status, 401);
      assert.equal(after.body.code, 'api_key_invalid');
      const again = await call(`${server.url}/v1/apikeys/${ro.body.prefix}`, {
        method: 'DELETE',
        token: server.apiKey,
      });
      assert.equal(again.status, 404);
    });

    it('content keys: created over the API, listed without bytes, served by the license endpoint', async () => {
      const created = await call(`${server.url}/v1/keys`, {
        token: server.apiKey,
        body: { resourceId: 'movie-1', firstPeriod: 5, periods: 2, trackTypes: ['sd', 'hd'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.keys.length, 4);
      const kids: string[] = created.body.keys.map((k: { kid: string }) => k.kid);
      for (const k of created.body.keys) {
        assert.match(k.kid, /^[0-9a-f]{32}$/);
        assert.match(k.iv, /^[0-9a-f]{32}$/);
        assert.equal(k.k, undefined);
        assert.equal(k.key, undefined);
      }

      const listed = await call(`${server.url}/v1/keys?resourceId=movie-1`, { token: memo.operatorKey });
      assert.equal(listed.status, 200);
      type Meta = { kid: string; keyPeriod: number; trackType: string; iv: string; expiresAt: string };
      const summary = (keys: Meta[]) =>
        keys.map((k) => `${k.keyPeriod}/${k.trackType}/${k.kid}/${k.iv}/${k.expiresAt}`).sort();
      assert.deepEqual(summary(listed.body.keys), summary(created.body.keys));
      // Ordered by period, then track type.
      assert.deepEqual(
        listed.body.keys.map((k: Meta) => `${k.keyPeriod}/${k.trackType}`),
        ['5/hd', '5/sd', '6/hd', '6/sd'],
      );
      const none = await call(`${server.url}/v1/keys?resourceId=movie-9`, { token: memo.operatorKey });
      assert.deepEqual(none.body, { keys: [], next: null });

      const res = await license(kids, { resourceId: 'movie-1' });
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.keys.map((k: { kid: string }) => k.kid),
        kids.map(kidB64),
      );
      const ks = new Set<string>();
      for (const k of res.body.keys) {
        assert.equal(Buffer.from(k.k, 'base64url').length, 16);
        ks.add(k.k);
        memo.keys.set(Buffer.from(k.kid, 'base64url').toString('hex'), k.k);
      }
      assert.equal(ks.size, 4, 'every key is different');

      // The HLS endpoint gives the same bytes.
      const hls = await call(`${server.url}/v1/license/hls/${kids[0]}`, {
        token: await viewerToken(server.secret, { resourceId: 'movie-1' }),
      });
      tally.add('default', hls.status === 200 ? 'granted' : hls.body.code);
      assert.equal(hls.status, 200);
      assert.equal(hls.raw.toString('base64url'), memo.keys.get(kids[0]!));

      // Another resource's token gets none of them; an unknown kid is a 404.
      const other = await license(kids, { resourceId: 'movie-2' });
      assert.equal(other.status, 403);
      assert.equal(other.body.code, 'resource_mismatch');
      const unknown = await license(['00'.repeat(16)], { resourceId: 'movie-1' });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'unknown_kid');

      // Tenant B's keys, with B's own token.
      const bCreated = await call(`${server.url}/v1/keys`, {
        token: memo.tenantB.apiKey,
        body: { resourceId: 'movie-1' },
      });
      assert.equal(bCreated.status, 201);
      memo.bKid = bCreated.body.keys[0].kid;
      const bRes = await license(
        [memo.bKid],
        { resourceId: 'movie-1', tenant: 'tenant-b' },
        memo.tenantB.jwtSecret,
        'tenant-b',
      );
      assert.equal(bRes.status, 200);
      memo.bKey = bRes.body.keys[0].k;
    });

    it('watermark config: defaults, partial update, validation, and the directive follows', async () => {
      const initial = await call(`${server.url}/v1/watermark`, { token: memo.operatorKey });
      assert.equal(initial.status, 200);
      assert.equal(initial.body.enabled, true);
      assert.equal(initial.body.mode, 'text');

      const put = await call(`${server.url}/v1/watermark`, {
        method: 'PUT',
        token: server.apiKey,
        body: { mode: 'color', textOpacity: 0.3, box: { x: 10 }, legacyOptions: { foo: 'bar' } },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.mode, 'color');
      assert.equal(put.body.textOpacity, 0.3);
      assert.equal(put.body.box.x, 10);
      assert.equal(put.body.box.width, initial.body.box.width);
      assert.equal(put.body.heartbeatSeconds, initial.body.heartbeatSeconds);

      const bad = await call(`${server.url}/v1/watermark`, {
        method: 'PUT',
        token: server.apiKey,
        body: { textOpacity: 5 },
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'invalid_watermark_config');
      const forbidden = await call(`${server.url}/v1/watermark`, {
        method: 'PUT',
        token: memo.operatorKey,
        body: { enabled: false },
      });
      assert.equal(forbidden.status, 403);

      const got = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
      assert.deepEqual(got.body, put.body);
      memo.watermark = got.body;

      const [kid] = memo.keys.keys();
      const res = await license([kid!], { resourceId: 'movie-1', sessionId: 'wm-session' });
      assert.equal(res.status, 200);
      const directive = JSON.parse(
        Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString('utf8'),
      );
      assert.equal(directive.sessionId, 'wm-session');
      assert.equal(directive.mode, 'color');
      assert.equal(directive.textOpacity, 0.3);
      assert.equal(directive.legacyOptions, undefined);
    });

    it('bans: ban, refuse, record sightings, list, lift; expired bans do not refuse and are purged', async () => {
      const [kid] = memo.keys.keys();
      const viewer = { resourceId: 'movie-1', sessionId: 'pirate-1' };
      assert.equal((await license([kid!], viewer)).status, 200);

      const ban = await call(`${server.url}/v1/bans`, {
        token: memo.operatorKey,
        body: { sessionId: 'pirate-1', reason: 'leaked' },
      });
      assert.equal(ban.status, 201, JSON.stringify(ban.body));
      assert.equal(ban.body.kind, 'session');
      assert.equal(ban.body.value, 'pirate-1');
      assert.equal(ban.body.expiresAt, null);

      const refused = await license([kid!], viewer);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'banned');

      // Banning the same target again updates it and keeps its id.
      const again = await call(`${server.url}/v1/bans`, {
        token: memo.operatorKey,
        body: { sessionId: 'pirate-1', reason: 'leaked twice' },
      });
      assert.equal(again.status, 201);
      assert.equal(again.body.id, ban.body.id);
      assert.equal(again.body.reason, 'leaked twice');

      // The refused viewer's address is recorded against the ban (off the request path).
      let listed: { id: string; kind: string; value: string; sightings: { ip: string; hits: number }[] }[] =
        [];
      for (const deadline = Date.now() + 3_000; Date.now() < deadline; ) {
        listed = (await call(`${server.url}/v1/bans`, { token: memo.operatorKey })).body.bans;
        if (listed.find((b) => b.id === ban.body.id)?.sightings.length) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const pirate = listed.find((b) => b.id === ban.body.id);
      assert.ok(pirate);
      assert.equal(pirate.sightings.length, 1);
      assert.equal(pirate.sightings[0]!.ip, '127.0.0.1');
      assert.ok(pirate.sightings[0]!.hits >= 1);

      // An IP ban, normalised; one on this machine's address refuses every session until lifted.
      const ipBan = await call(`${server.url}/v1/bans`, {
        token: memo.operatorKey,
        body: { ip: '::ffff:203.0.113.7', reason: 'proxy' },
      });
      assert.equal(ipBan.status, 201);
      assert.equal(ipBan.body.value, '203.0.113.7');
      const local = await call(`${server.url}/v1/bans`, {
        token: memo.operatorKey,
        body: { ip: '127.0.0.1' },
      });
      assert.equal(local.status, 201);
      const byIp = await license([kid!], { resourceId: 'movie-1', sessionId: 'innocent' });
      assert.equal(byIp.status, 403);
      assert.equal(byIp.body.code, 'banned');
      const lift = await call(`${server.url}/v1/bans/${local.body.id}`, {
        method: 'DELETE',
        token: memo.operatorKey,
      });
      assert.equal(lift.status, 204);
      assert.equal((await license([kid!], { resourceId: 'movie-1', sessionId: 'innocent' })).status, 200);
      const liftAgain = await call(`${server.url}/v1/bans/${local.body.id}`, {
        method: 'DELETE',
        token: memo.operatorKey,
      });
      assert.equal(liftAgain.status, 404);

      // A temporary ban: in the future is accepted, in the past is refused.
      const past = await call(`${server.url}/v1/bans`, {
        token: memo.operatorKey,
        body: { sessionId: 'late', expiresAt: new Date(Date.now() - 1000).toISOString() },
      });
      assert.equal(past.status, 400);
      const until = new Date(Date.now() + 3_600_000).toISOString();
      const temp = await call(`${server.url}/v1/bans`, {
        token: memo.operatorKey,
        body: { sessionId: 'pirate-2', expiresAt: until },
      });
      assert.equal(temp.status, 201);
      assert.equal(temp.body.expiresAt, until);

      // A ban that has expired (written through the store: the API refuses past dates) refuses nobody.
      const expired = await server.store.upsertBan({
        tenantId: 'default',
        kind: 'session',
        value: 'pirate-3',
        reason: '',
        expiresAt: Date.now() - 1,
      });
      assert.equal((await license([kid!], { resourceId: 'movie-1', sessionId: 'pirate-3' })).status, 200);
      assert.ok((await server.store.purgeExpiredBans(Date.now())) >= 1);
      const afterPurge = (await call(`${server.url}/v1/bans`, { token: memo.operatorKey })).body.bans;
      assert.ok(!afterPurge.some((b: { id: string }) => b.id === expired.id));

      // Tenant B's bans are its own.
      const bBan = await call(`${server.url}/v1/bans`, {
        token: memo.tenantB.apiKey,
        body: { sessionId: 'b-pirate' },
      });
      assert.equal(bBan.status, 201);

      memo.bans = afterPurge.map((b: { id: string; kind: string; value: string }) => ({
        id: b.id,
        kind: b.kind,
        value: b.value,
      }));
      assert.deepEqual(memo.bans.map((b) => b.value).sort(), ['203.0.113.7', 'pirate-1', 'pirate-2']);
    });

    it('stats: counts exactly the requests made, per tenant, granted and denied by reason', async () => {
      const res = await call(`${server.url}/v1/stats?minutes=60`, { token: memo.operatorKey });
      assert.equal(res.status, 200);
      assert.equal(res.body.minutes.length, 60);
      assert.deepEqual(res.body.totals, tally.expected('default'));
      assert.ok(res.body.totals.granted > 0);
      assert.ok(res.body.totals.denials.banned >= 2);

      const b = await call(`${server.url}/v1/stats`, { token: memo.tenantB.apiKey });
      assert.deepEqual(b.body.totals, tally.expected('tenant-b'));

      const chart = await call(`${server.url}/v1/stats/chart.png`, { token: memo.operatorKey });
      assert.equal(chart.status, 200);
      assert.equal(chart.headers.get('content-type'), 'image/png');
    });

    it('content keys and tenant secrets are sealed at rest', async () => {
      const envelope = new Envelope(Buffer.from(MASTER_KEY, 'hex'));
      for (const [kid, k] of memo.keys) {
        const raw = Buffer.from(k, 'base64url');
        const row = await adapter.rawContentKeyRow(kid);
        const forms = [
          raw.toString('hex'),
          raw.toString('base64'),
          k,
          raw.toString('base64').replace(/=+$/, ''),
        ];
        for (const [column, value] of Object.entries(row)) {
          const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8');
          assert.equal(bytes.indexOf(raw), -1, `raw key bytes in column ${column}`);
          for (const form of forms)
            assert.ok(!String(value).toLowerCase().includes(form.toLowerCase()), `key in ${column}`);
          if (typeof value === 'string' && /^[A-Za-z0-9+/]+=*$/.test(value)) {
            assert.equal(Buffer.from(value, 'base64').indexOf(raw), -1, `key in ${column} (base64)`);
          }
        }
        // What is stored is the key sealed under the master key, bound to its row.
        assert.deepEqual(envelope.open(String(row.key_sealed), `content-key:default:${kid}`), raw);
        assert.throws(() => envelope.open(String(row.key_sealed), `content-key:tenant-b:${kid}`));
        for (const file of adapter.rawFiles()) assert.equal(file.indexOf(raw), -1, 'raw key bytes on disk');
      }

      const tenantRow = await adapter.rawTenantRow('tenant-b');
      const secret = Buffer.from(memo.tenantB.jwtSecret, 'utf8');
      assert.ok(!JSON.stringify(tenantRow).includes(memo.tenantB.jwtSecret));
      assert.deepEqual(envelope.open(String(tenantRow.secret_sealed), 'tenant-secret:tenant-b'), secret);
      for (const file of adapter.rawFiles()) assert.equal(file.indexOf(secret), -1, 'tenant secret on disk');
    });

    it('expired content keys are refused, and purged from the store', async () => {
      const now = Date.now();
      const expired = generateContentKey({
        tenantId: 'default',
        resourceId: 'movie-1',
        keyPeriod: 100,
        trackType: 'all',
        expiresAt: now - 1_000,
      });
      const live = generateContentKey({
        tenantId: 'default',
        resourceId: 'movie-1',
        keyPeriod: 101,
        trackType: 'all',
        expiresAt: now + 3_600_000,
      });
      const soon = generateContentKey({
        tenantId: 'tenant-b',
        resourceId: 'movie-1',
        keyPeriod: 100,
        trackType: 'all',
        expiresAt: now + 1_000,
      });
      await server.store.putContentKeys([expired, live, soon]);

      const viewer = { resourceId: 'movie-1' };
      const refused = await license([expired.kid], viewer);
      assert.equal(refused.status, 404);
      assert.equal(refused.body.code, 'unknown_kid');
      const served = await license([live.kid], viewer);
      assert.equal(served.status, 200);
      assert.equal(served.body.keys[0].k, live.key.toString('base64url'));
      // Asked together, only the live key comes back.
      const both = await license([expired.kid, live.kid], viewer);
      assert.equal(both.status, 200);
      assert.deepEqual(
        both.body.keys.map((k: { kid: string }) => k.kid),
        [kidB64(live.kid)],
      );

      // A key served (and cached) while valid is refused once it has expired.
      const bViewer = { resourceId: 'movie-1', tenant: 'tenant-b' };
      const bSecret = memo.tenantB.jwtSecret;
      assert.equal((await license([soon.kid], bViewer, bSecret, 'tenant-b')).status, 200);
      await new Promise((r) => setTimeout(r, Math.max(0, soon.expiresAt - Date.now() + 20)));
      const late = await license([soon.kid], bViewer, bSecret, 'tenant-b');
      assert.equal(late.status, 404);
      assert.equal(late.body.code, 'unknown_kid');

      const purged = await server.store.purgeExpiredKeys(Date.now());
      assert.equal(purged, 2);
      assert.equal(await server.store.getContentKey('default', expired.kid), undefined);
      assert.equal(await server.store.getContentKey('tenant-b', soon.kid), undefined);
      assert.deepEqual((await server.store.getContentKey('default', live.kid))?.key, live.key);
      const listed = await call(`${server.url}/v1/keys?resourceId=movie-1`, { token: server.apiKey });
      const kids = listed.body.keys.map((k: { kid: string }) => k.kid);
      assert.ok(!kids.includes(expired.kid));
      assert.ok(kids.includes(live.kid));
      assert.equal(kids.length, memo.keys.size + 1);
      assert.equal(await server.store.purgeExpiredKeys(Date.now()), 0);
      memo.keys.set(live.kid, live.key.toString('base64url'));

      const stillRefused = await license([expired.kid], viewer);
      assert.equal(stillRefused.status, 404);
    });

    it('a restart on the same data keeps everything', async () => {
      const statsBefore = (await call(`${server.url}/v1/stats`, { token: memo.operatorKey })).body.totals;
      assert.deepEqual(statsBefore, tally.expected('default'));
      await server.close();
      server = await start();
      assert.equal(server.store.kind, adapter.name);

      // Tenants and API keys (the revoked one stays revoked).
      const tenants = await call(`${server.url}/v1/tenants`, { token: memo.firstPlatformKey });
      assert.equal(tenants.status, 200);
      assert.deepEqual(
        tenants.body.tenants.map((t: { id: string; name: string }) => [t.id, t.name]),
        [
          ['default', 'Default tenant'],
          ['tenant-b', 'Tenant B (renamed)'],
        ],
      );
      assert.equal((await call(`${server.url}/v1/bans`, { token: memo.operatorKey })).status, 200);
      assert.equal((await call(`${server.url}/v1/bans`, { token: memo.revokedKey })).status, 401);
      const own = await call(`${server.url}/v1/tenant`, { token: memo.tenantB.apiKey });
      assert.deepEqual(own.body.allowedOrigins, ['https://b.example']);

      // Content keys: the same bytes for every kid.
      const res = await license([...memo.keys.keys()], { resourceId: 'movie-1' });
      assert.equal(res.status, 200);
      assert.deepEqual(
        new Map(
          res.body.keys.map((k: { kid: string; k: string }) => [
            Buffer.from(k.kid, 'base64url').toString('hex'),
            k.k,
          ]),
        ),
        memo.keys,
      );
      const bRes = await license(
        [memo.bKid],
        { resourceId: 'movie-1', tenant: 'tenant-b' },
        memo.tenantB.jwtSecret,
        'tenant-b',
      );
      assert.equal(bRes.status, 200);
      assert.equal(bRes.body.keys[0].k, memo.bKey);

      // Watermark config, and the directive the license carries.
      const wm = await call(`${server.url}/v1/watermark`, { token: memo.operatorKey });
      assert.deepEqual(wm.body, memo.watermark);
      const directive = JSON.parse(
        Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString('utf8'),
      );
      assert.equal(directive.mode, 'color');

      // Bans, with their sightings, and still enforced.
      const bans = (await call(`${server.url}/v1/bans`, { token: memo.operatorKey })).body.bans;
      assert.deepEqual(
        bans.map((b: { id: string; kind: string; value: string }) => ({
          id: b.id,
          kind: b.kind,
          value: b.value,
        })),
        memo.bans,
      );
      assert.equal(bans.find((b: { value: string }) => b.value === 'pirate-1').sightings.length, 1);
      const refused = await license([...memo.keys.keys()], { resourceId: 'movie-1', sessionId: 'pirate-1' });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'banned');
      const bBans = (await call(`${server.url}/v1/bans`, { token: memo.tenantB.apiKey })).body.bans;
      assert.deepEqual(
        bBans.map((b: { value: string }) => b.value),
        ['b-pirate'],
      );

      // Stats written before the restart, plus the two requests just made.
      const stats = await call(`${server.url}/v1/stats`, { token: memo.operatorKey });
      assert.deepEqual(stats.body.totals, tally.expected('default'));
      assert.equal(stats.body.totals.granted, statsBefore.granted + 1);
    });

    it('refuses to start with another master key, saying so', async () => {
      await assert.rejects(
        startVigil({ ...adapter.location(), masterKey: OTHER_MASTER_KEY }),
        (err: Error) => {
          assert.match(err.message, /master key/i);
          assert.match(err.message, /VIGIL_MASTER_KEY/);
          return true;
        },
      );
      // The refused store let go of its connections (or they would keep the process alive).
      if (adapter.listeners) {
        for (let i = 0; i < 40 && (await adapter.listeners()) !== 1; i++)
          await new Promise((r) => setTimeout(r, 25));
        assert.equal(await adapter.listeners(), 1, 'only the running server listens');
      }
      // The running server and its data are untouched.
      const res = await call(`${server.url}/v1/watermark`, { token: memo.operatorKey });
      assert.deepEqual(res.body, memo.watermark);
    });
  });
}
