/**
 * Changes made through one Vigil instance are enforced by the others within a second: two instances
 * over one PostgreSQL schema (LISTEN/NOTIFY), and a server plus the `vigil` CLI over one embedded store
 * (the server polls PRAGMA data_version). Measured times are printed.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import {
  call,
  createKeys,
  kidB64,
  runCli,
  startVigil,
  TEST_DATABASE_URL,
  type TestServer,
  tempDir,
  uniqueSchema,
  viewerToken,
} from '../../../test/support/vigil.ts';

const LIMIT_MS = 1_000;
const POLL_MS = 25;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `probe` every POLL_MS until it returns true; the time from `since` to that moment, in ms. */
async function msUntil(since: number, what: string, probe: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await probe()) return performance.now() - since;
    const waited = performance.now() - since;
    if (waited > 5 * LIMIT_MS) assert.fail(`${what}: not seen after ${Math.round(waited)} ms`);
    await sleep(POLL_MS);
  }
}

async function license(server: TestServer, token: string, kids: string[]) {
  return call(`${server.url}/v1/license/clearkey`, { token, body: { kids: kids.map(kidB64) } });
}

const modeOf = (res: { headers: Headers }) =>
  JSON.parse(Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString('utf8')).mode;

describe('propagation between two instances on one PostgreSQL schema', () => {
  const schema = uniqueSchema();
  const masterKey = '7e'.repeat(32);
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  /** A tenant of its own, so the token secret stays put while both instances start. */
  let tenant: { id: string; jwtSecret: string; apiKey: string };
  let kids: string[];
  const token = (sessionId: string) =>
    viewerToken(tenant.jwtSecret, { tenant: tenant.id, resourceId: 'live-1', sessionId });

  before(async () => {
    try {
      a = await startVigil({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema, masterKey });
    } catch (err) {
      throw new Error(`PostgreSQL is required at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    }
    b = await startVigil({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema, masterKey });
    const created = await call(`${a.url}/v1/tenants`, { token: a.apiKey, body: { id: 'prop' } });
    assert.equal(created.status, 201);
    tenant = created.body;
    const keys = await call(`${a.url}/v1/keys`, {
      token: tenant.apiKey,
      body: { resourceId: 'live-1', periods: 2 },
    });
    assert.equal(keys.status, 201);
    kids = keys.body.keys.map((k: { kid: string }) => k.kid);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });

  it('a ban through A is enforced by B within 1 s, and so is lifting it', async () => {
    const viewer = await token('prop-viewer');
    // Warm both: the tenant state (bans, config) is now cached on each.
    for (const s of [a!, b!]) {
      for (let i = 0; i < 2; i++) assert.equal((await license(s, viewer, kids)).status, 200);
    }

    const sent = performance.now();
    const ban = await call(`${a!.url}/v1/bans`, { token: tenant.apiKey, body: { sessionId: 'prop-viewer' } });
    const acked = performance.now();
    assert.equal(ban.status, 201);
    const banMs = await msUntil(sent, 'ban on B', async () => {
      const res = await license(b!, viewer, kids);
      if (res.status === 403) assert.equal(res.body.code, 'banned');
      else assert.equal(res.status, 200);
      return res.status === 403;
    });
    console.log(
      `[propagation] PG ban A->B: ${banMs.toFixed(1)} ms from request (${(sent + banMs - acked).toFixed(1)} ms after A's ack)`,
    );
    assert.ok(banMs < LIMIT_MS, `B refused after ${banMs} ms`);
    assert.equal((await license(a!, viewer, kids)).status, 403);

    const unbanSent = performance.now();
    const lift = await call(`${a!.url}/v1/bans/${ban.body.id}`, { method: 'DELETE', token: tenant.apiKey });
    assert.equal(lift.status, 204);
    const unbanMs = await msUntil(unbanSent, 'unban on B', async () => {
      const res = await license(b!, viewer, kids);
      return res.status === 200;
    });
    console.log(`[propagation] PG unban A->B: ${unbanMs.toFixed(1)} ms from request`);
    assert.ok(unbanMs < LIMIT_MS, `B served again after ${unbanMs} ms`);
  });

  it('a ban through B is enforced by A within 1 s', async () => {
    const viewer = await token('prop-viewer-2');
    for (const s of [a!, b!]) assert.equal((await license(s, viewer, kids)).status, 200);
    const sent = performance.now();
    const ban = await call(`${b!.url}/v1/bans`, {
      token: tenant.apiKey,
      body: { sessionId: 'prop-viewer-2' },
    });
    assert.equal(ban.status, 201);
    const ms = await msUntil(sent, 'ban on A', async () => (await license(a!, viewer, kids)).status === 403);
    console.log(`[propagation] PG ban B->A: ${ms.toFixed(1)} ms from request`);
    assert.ok(ms < LIMIT_MS, `A refused after ${ms} ms`);
  });

  it('a watermark config change through A reaches B within 1 s', async () => {
    const viewer = await token('prop-wm');
    for (const s of [a!, b!]) assert.equal(modeOf(await license(s, viewer, kids)), 'text');
    const sent = performance.now();
    const put = await call(`${a!.url}/v1/watermark`, {
      method: 'PUT',
      token: tenant.apiKey,
      body: { mode: 'color' },
    });
    assert.equal(put.status, 200);
    const ms = await msUntil(
      sent,
      'config on B',
      async () => modeOf(await license(b!, viewer, kids)) === 'color',
    );
    console.log(`[propagation] PG watermark config A->B: ${ms.toFixed(1)} ms from request`);
    assert.ok(ms < LIMIT_MS, `B's directive changed after ${ms} ms`);
    const beat = await call(`${b!.url}/v1/heartbeat`, { method: 'POST', token: viewer });
    assert.equal(beat.body.watermark.mode, 'color');
  });
});

describe('propagation from the CLI to a server on the same embedded store', () => {
  const dir = tempDir('vigil-propagation-');
  const masterKey = '11'.repeat(32);
  // The CLI must open the same embedded store, whatever this process's environment says.
  const cliEnv = { VIGIL_MASTER_KEY: masterKey, DATABASE_URL: '', VIGIL_PG_SCHEMA: '', VIGIL_JWT_SECRET: '' };
  let server: TestServer | undefined;
  let kids: string[];

  before(async () => {
    server = await startVigil({ dataDir: dir, masterKey });
    kids = await createKeys(server, 'resource-1');
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs a CLI command while watching, from a connection of our own, for the moment its write commits
   * (`committed`) and polling the server for the moment it enforces it (`enforced`).
   */
  async function cliChange(
    args: string[],
    committed: (db: BetterSqlite3.Database) => boolean,
    enforced: () => Promise<boolean>,
  ): Promise<{ ms: number; sinceExitMs: number }> {
    const watcher = new BetterSqlite3(join(dir, 'vigil.db'), { readonly: true, fileMustExist: true });
    let committedAt: number | undefined;
    const watch = setInterval(() => {
      if (committedAt === undefined && committed(watcher)) committedAt = performance.now();
    }, 5);
    let enforcedAt: number | undefined;
    let stop = false;
    const poller = (async () => {
      while (!stop && enforcedAt === undefined) {
        if (await enforced()) enforcedAt = performance.now();
        else await sleep(POLL_MS);
      }
    })();
    try {
      const cli = await runCli([...args, '--data', dir], cliEnv);
      const exitedAt = performance.now();
      assert.equal(cli.code, 0, cli.stderr);
      for (let i = 0; committedAt === undefined && i < 100; i++) await sleep(5);
      assert.ok(committedAt !== undefined, 'the CLI write is in the database');
      const deadline = performance.now() + 5 * LIMIT_MS;
      while (enforcedAt === undefined && performance.now() < deadline) await sleep(5);
      assert.ok(enforcedAt !== undefined, 'the server never enforced the CLI change');
      return { ms: enforcedAt - committedAt, sinceExitMs: enforcedAt - exitedAt };
    } finally {
      stop = true;
      clearInterval(watch);
      await poller;
      watcher.close();
    }
  }

  it('a ban made by `vigil ban` is enforced by the running server within 1 s, and so is `vigil unban`', async () => {
    const viewer = await viewerToken(server!.secret, { sessionId: 'cli-pirate' });
    for (let i = 0; i < 2; i++) assert.equal((await license(server!, viewer, kids)).status, 200);

    const banned = await cliChange(
      ['ban', '--session', 'cli-pirate', '--reason', 'from the CLI'],
      (db) =>
        db.prepare("SELECT 1 FROM bans WHERE kind = 'session' AND value = 'cli-pirate'").get() !== undefined,
      async () => {
        const res = await license(server!, viewer, kids);
        return res.status === 403 && res.body.code === 'banned';
      },
    );
    console.log(
      `[propagation] CLI ban -> embedded server: ${banned.ms.toFixed(1)} ms after commit (${banned.sinceExitMs.toFixed(1)} ms after the CLI exited)`,
    );
    assert.ok(banned.ms < LIMIT_MS, `enforced ${banned.ms} ms after the commit`);
    const listed = await call(`${server!.url}/v1/bans`, { token: server!.apiKey });
    assert.deepEqual(
      listed.body.bans.map((x: { value: string; reason: string }) => [x.value, x.reason]),
      [['cli-pirate', 'from the CLI']],
    );

    const lifted = await cliChange(
      ['unban', '--session', 'cli-pirate'],
      (db) => db.prepare("SELECT 1 FROM bans WHERE value = 'cli-pirate'").get() === undefined,
      async () => (await license(server!, viewer, kids)).status === 200,
    );
    console.log(`[propagation] CLI unban -> embedded server: ${lifted.ms.toFixed(1)} ms after commit`);
    assert.ok(lifted.ms < LIMIT_MS, `served again ${lifted.ms} ms after the commit`);
  });

  it('a watermark change made by `vigil config set` reaches the running server within 1 s', async () => {
    const viewer = await viewerToken(server!.secret, { sessionId: 'cli-wm' });
    assert.equal(modeOf(await license(server!, viewer, kids)), 'text');
    const changed = await cliChange(
      ['config', 'set', 'mode=color'],
      (db) =>
        (
          db.prepare("SELECT config FROM watermark_configs WHERE tenant_id = 'default'").get() as
            | { config: string }
            | undefined
        )?.config.includes('"color"') === true,
      async () => modeOf(await license(server!, viewer, kids)) === 'color',
    );
    console.log(`[propagation] CLI config set -> embedded server: ${changed.ms.toFixed(1)} ms after commit`);
    assert.ok(changed.ms < LIMIT_MS, `directive changed ${changed.ms} ms after the commit`);
  });
});
