/**
 * Console operators and sign-in, through a real `vigil serve` (HTTP and the CLI only): the admin account
 * made on first start (its password printed once), sign-in and sign-out, the session cookie's attributes,
 * CSRF on every change made with the cookie, roles, throttled and locked sign-in, idle expiry (on
 * PostgreSQL), `vigil user`, sessions ending with their operator, and the built console at /admin.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  type ChildServer,
  call,
  runCli,
  spawnVigil,
  TEST_DATABASE_URL,
  tempDir,
  uniqueSchema,
  waitFor,
} from '../../../test/support/vigil.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Session {
  cookie: string;
  csrf: string;
  body: Record<string, unknown>;
  setCookie: string;
  raw: string;
}

describe('console operators and sign-in', () => {
  const dataDir = tempDir('vigil-console-');
  const dist = tempDir('vigil-console-dist-');
  const apiKey = `vk_console_${randomBytes(16).toString('hex')}`;
  const env = {
    VIGIL_LIVE: '0',
    VIGIL_API_KEY: apiKey,
    VIGIL_CONSOLE_DIR: dist,
    VIGIL_CONSOLE_LOCK_SECONDS: '3',
    VIGIL_MASTER_KEY: '22'.repeat(32),
    // The test's own requests stand for a TLS-terminating proxy when they say so.
    VIGIL_TRUSTED_PROXIES: '127.0.0.1',
  };
  let server: ChildServer | undefined;
  let url = '';
  let adminPassword = '';

  before(async () => {
    mkdirSync(join(dist, 'assets'));
    writeFileSync(
      join(dist, 'index.html'),
      '<!doctype html><title>Vigil console</title><div id="root"></div>',
    );
    writeFileSync(join(dist, 'assets', 'app-3f9a1c.js'), 'console.log("console app");\n');
  });
  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
  });

  const signIn = async (username: string, password: string, tenant?: string) =>
    call(`${url}/v1/console/session`, { body: { username, password, ...(tenant ? { tenant } : {}) } });

  const session = async (username: string, password: string): Promise<Session> => {
    const res = await signIn(username, password);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const setCookie = res.headers.get('set-cookie') ?? '';
    const cookie = /^(vigil_console=[^;]+)/.exec(setCookie)?.[1];
    assert.ok(cookie, setCookie);
    return { cookie, csrf: res.body.csrfToken, body: res.body, setCookie, raw: res.raw.toString('utf8') };
  };

  /** A call made with the session's cookie (and, with `csrf`, its token). */
  const withCookie = (
    s: Session,
    path: string,
    init: { method?: string; body?: unknown; csrf?: string | false } = {},
  ) => {
    const headers: Record<string, string> = { cookie: s.cookie };
    const csrf = init.csrf === undefined ? s.csrf : init.csrf;
    if (csrf !== false) headers['x-csrf-token'] = csrf;
    return call(`${url}${path}`, { method: init.method, body: init.body, headers });
  };

  it('first start creates admin and prints its password once; the second start does not', async () => {
    const first = await spawnVigil(['--data', dataDir], env);
    const printed = await waitFor('the admin password', 20_000, async () => {
      const m = /Console operator "admin" created[^\n]*\n[^\n]*\n\s+(\S+)/.exec(first.output());
      return m?.[1];
    });
    adminPassword = printed;
    assert.ok(adminPassword.length >= 12);
    await first.stop();
    server = await spawnVigil(['--data', dataDir], env);
    url = server.url;
    await waitFor('the start-up lines', 20_000, async () => server!.output().includes('console: '));
    await sleep(300);
    assert.match(server.output(), new RegExp(`console: ${url}/admin`));
    assert.doesNotMatch(server.output(), /Console operator "admin" created/);
    assert.ok(!server.output().includes(adminPassword), 'the password is never printed again');
  });

  it('signs in with a cookie that is HttpOnly, SameSite=Strict, Path=/ and no secret in any answer', async () => {
    const s = await session('admin', adminPassword);
    assert.match(s.setCookie, /HttpOnly/);
    assert.match(s.setCookie, /SameSite=Strict/);
    assert.match(s.setCookie, /Path=\//);
    assert.doesNotMatch(s.setCookie, /Secure/, 'plain HTTP: no Secure flag');
    const overTls = await call(`${url}/v1/console/session`, {
      body: { username: 'admin', password: adminPassword },
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.match(overTls.headers.get('set-cookie') ?? '', /; Secure/, 'HTTPS at the proxy: Secure');
    assert.deepEqual(s.body.operator, { name: 'admin', role: 'admin', tenantId: 'default' });
    assert.equal(typeof s.csrf, 'string');
    assert.ok(Date.parse(s.body.expiresAt as string) > Date.parse(s.body.idleExpiresAt as string));
    const value = s.cookie.slice('vigil_console='.length);
    assert.ok(!s.raw.includes(value) && !s.raw.includes(adminPassword) && !s.raw.includes('scrypt'));

    const shown = await withCookie(s, '/v1/console/session');
    assert.equal(shown.status, 200);
    assert.equal(shown.body.csrfToken, s.csrf);
    const operators = await withCookie(s, '/v1/operators');
    assert.equal(operators.status, 200);
    const text = operators.raw.toString('utf8');
    assert.ok(!text.includes('scrypt') && !text.includes('password_hash') && !text.includes('passwordHash'));
    assert.deepEqual(
      operators.body.operators.map((o: { name: string }) => o.name),
      ['admin'],
    );

    // The cookie is no bearer credential anywhere: named, never accepted.
    const asBearer = await call(`${url}/v1/bans`, { token: value });
    assert.equal(asBearer.status, 401);
    assert.equal(asBearer.body.code, 'token_wrong_type');
    const asViewer = await call(`${url}/v1/license/clearkey`, {
      token: value,
      body: { kids: ['AAAAAAAAAAAAAAAAAAAAAA'], type: 'temporary' },
    });
    assert.equal(asViewer.status, 401, JSON.stringify(asViewer.body));
    assert.equal(asViewer.body.code, 'token_wrong_type');

    // Sign-out needs the CSRF token too, then ends the session for good.
    const refused = await withCookie(s, '/v1/console/session', { method: 'DELETE', csrf: false });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'csrf_missing');
    const out = await withCookie(s, '/v1/console/session', { method: 'DELETE' });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^vigil_console=;.*Max-Age=0/);
    const gone = await withCookie(s, '/v1/console/session');
    assert.equal(gone.status, 401);
    assert.equal(gone.body.code, 'console_session_expired');
    const none = await call(`${url}/v1/console/session`);
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'console_session_missing');
  });

  it('a wrong password and an unknown name get the same 401', async () => {
    const wrong = await signIn('admin', 'not the password at all');
    const unknown = await signIn('nobody-here', 'not the password at all');
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, unknown.body);
    assert.equal(wrong.body.code, 'signin_failed');
    assert.equal(wrong.headers.get('set-cookie'), null);
    // A parallel burst from one address: a few are checked at once, the rest refused at the door.
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) => signIn(`burst-${i}`, 'not the password at all')),
    );
    const statuses = burst.map((r) => r.status).sort();
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429, 429, 429]);
  });

  it('state-changing calls with the cookie need the CSRF token; API keys work as before', async () => {
    const s = await session('admin', adminPassword);
    const ban = { ip: '198.51.100.7', reason: 'console test' };
    const missing = await withCookie(s, '/v1/bans', { body: ban, csrf: false });
    assert.equal(missing.status, 403);
    assert.equal(missing.body.code, 'csrf_missing');
    const invalid = await withCookie(s, '/v1/bans', { body: ban, csrf: `${s.csrf.slice(0, -2)}xx` });
    assert.equal(invalid.status, 403);
    assert.equal(invalid.body.code, 'csrf_invalid');
    const made = await withCookie(s, '/v1/bans', { body: ban });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal((await withCookie(s, '/v1/bans', { csrf: false })).status, 200, 'reads need no token');
    const removed = await withCookie(s, `/v1/bans/${made.body.id}`, { method: 'DELETE' });
    assert.equal(removed.status, 204);
    const byKey = await call(`${url}/v1/bans`, { token: apiKey, body: { ip: '198.51.100.8' } });
    assert.equal(byKey.status, 201, 'an API key needs no CSRF token');
    // Another site's page can't use the cookie (the browser says where a call comes from).
    const cross = await call(`${url}/v1/bans`, {
      headers: { cookie: s.cookie, 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(cross.status, 403);
  });

  it('operators: weak passwords refused, duplicates 409, readonly gets 403 on writes, own password', async () => {
    const admin = await session('admin', adminPassword);
    const weak = await withCookie(admin, '/v1/operators', {
      body: { name: 'watcher', role: 'readonly', password: 'short' },
    });
    assert.equal(weak.status, 400);
    assert.equal(weak.body.code, 'weak_password');
    const password = 'watcher-password-1';
    const made = await withCookie(admin, '/v1/operators', {
      body: { name: 'watcher', role: 'readonly', password },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.role, 'readonly');
    const again = await withCookie(admin, '/v1/operators', {
      body: { name: 'watcher', role: 'admin', password },
    });
    assert.equal(again.status, 409);

    const watcher = await session('watcher', password);
    assert.equal((await withCookie(watcher, '/v1/bans')).status, 200);
    const write = await withCookie(watcher, '/v1/bans', { body: { ip: '198.51.100.9' } });
    assert.equal(write.status, 403);
    assert.equal(write.body.code, 'forbidden');
    assert.equal((await withCookie(watcher, '/v1/operators')).status, 403);

    // Their own password: any role; their current session stays, the old password stops working.
    const changed = await withCookie(watcher, '/v1/operators/watcher/password', {
      method: 'PUT',
      body: { password: 'watcher-password-2' },
    });
    assert.equal(changed.status, 204, JSON.stringify(changed.body));
    assert.equal((await withCookie(watcher, '/v1/console/session')).status, 200);
    assert.equal((await signIn('watcher', password)).status, 401);
    const other = await session('watcher', 'watcher-password-2');
    // Not someone else's.
    const notTheirs = await withCookie(watcher, '/v1/operators/admin/password', {
      method: 'PUT',
      body: { password: 'another-password-3' },
    });
    assert.equal(notTheirs.status, 403);

    // Removed: every session of theirs ends at once.
    const removed = await withCookie(admin, '/v1/operators/watcher', { method: 'DELETE' });
    assert.equal(removed.status, 204);
    for (const s of [watcher, other]) {
      const res = await withCookie(s, '/v1/bans');
      assert.equal(res.status, 401);
      assert.equal(res.body.code, 'console_session_expired');
    }
    assert.equal((await withCookie(admin, '/v1/operators/watcher', { method: 'DELETE' })).status, 404);
  });

  it("tenants: a platform caller names another tenant; that tenant's operators see only their own", async () => {
    const tenant = await call(`${url}/v1/tenants`, { token: apiKey, body: { id: 'acme' } });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    const password = 'acme-admin-password';
    const made = await call(`${url}/v1/operators`, {
      token: apiKey,
      body: { name: 'boss', role: 'admin', password, tenant: 'acme' },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.tenantId, 'acme');
    assert.equal((await signIn('boss', password)).status, 401, 'not an operator of the default tenant');
    const res = await signIn('boss', password, 'acme');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.operator, { name: 'boss', role: 'admin', tenantId: 'acme' });
    const boss: Session = {
      cookie: /^(vigil_console=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!,
      csrf: res.body.csrfToken,
      body: res.body,
      setCookie: '',
      raw: '',
    };
    const list = await withCookie(boss, '/v1/operators');
    assert.deepEqual(
      list.body.operators.map((o: { name: string }) => o.name),
      ['boss'],
    );
    assert.equal((await withCookie(boss, '/v1/operators?tenant=default')).status, 403);
    const foreign = await withCookie(boss, '/v1/operators', {
      body: { name: 'mole', role: 'admin', password: 'mole-password-12', tenant: 'default' },
    });
    assert.equal(foreign.status, 403);
    assert.equal((await withCookie(boss, '/v1/operators/admin', { method: 'DELETE' })).status, 404);
    const platformOnly = await withCookie(boss, '/v1/operators', {
      body: { name: 'root', role: 'platform', password: 'root-password-123' },
    });
    assert.equal(platformOnly.status, 403, 'an admin makes no platform operators');
    const bans = await withCookie(boss, '/v1/bans');
    assert.equal(bans.status, 200);
    assert.ok(
      !bans.body.bans.some((b: { value: string }) => b.value === '198.51.100.8'),
      "the default tenant's bans are not acme's",
    );
  });

  it('ten wrong passwords in a row lock the account, even for the right password, until the lock ends', async () => {
    const admin = await session('admin', adminPassword);
    const password = 'target-password-1';
    const made = await withCookie(admin, '/v1/operators', {
      body: { name: 'target', role: 'operator', password },
    });
    assert.equal(made.status, 201);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await signIn('target', `wrong-password-${i}`);
      statuses.push(res.status);
      if (res.status === 429) {
        assert.equal(res.body.code, 'signin_throttled');
        assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
      }
    }
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(
      statuses.slice(5).every((s) => s === 429),
      statuses.join(' '),
    );
    const locked = await signIn('target', password);
    assert.equal(locked.status, 429, 'the right password is refused while locked');
    assert.ok(Number(locked.headers.get('retry-after')) >= 1);
    // Other accounts from the same address still sign in.
    assert.equal((await signIn('admin', adminPassword)).status, 200);
    await sleep(3_500);
    assert.equal((await signIn('target', password)).status, 200, 'the lock ended');
  });

  it('vigil user add/list/passwd/remove, with the password on stdin', async () => {
    const cli = (args: string[], input?: string) => runCli(['user', ...args, '--data', dataDir], env, input);
    const weak = await cli(['add', 'carol', '--role', 'operator'], 'tooshort\n');
    assert.notEqual(weak.code, 0);
    assert.match(weak.stderr, /weak_password/);
    const added = await cli(
      ['add', 'carol', '--role', 'operator'],
      'carol-password-1\nignored second line\n',
    );
    assert.equal(added.code, 0, added.stderr);
    const list = await cli(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^carol\s+operator/m);
    assert.match(list.stdout, /^admin\s+admin/m);
    assert.ok(!list.stdout.includes('scrypt'));

    const carol = await session('carol', 'carol-password-1');
    assert.equal(carol.body.operator && (carol.body.operator as { role: string }).role, 'operator');
    const passwd = await cli(['passwd', 'carol'], 'carol-password-2\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    assert.equal((await withCookie(carol, '/v1/bans')).status, 401, 'a changed password ends the sessions');
    const again = await session('carol', 'carol-password-2');
    const removed = await cli(['remove', 'carol']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await withCookie(again, '/v1/bans')).status, 401);
    assert.equal((await signIn('carol', 'carol-password-2')).status, 401);
    const admin = await session('admin', adminPassword);
    const names = (await withCookie(admin, '/v1/operators')).body.operators.map(
      (o: { name: string }) => o.name,
    );
    assert.ok(!names.includes('carol'), names.join(' '));
  });

  it('/admin serves the built app with its security headers', async () => {
    const index = await call(`${url}/admin`);
    assert.equal(index.status, 200);
    assert.match(index.body, /Vigil console/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(index.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(index.headers.get('x-frame-options'), 'DENY');
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const route = await call(`${url}/admin/sessions/198.51.100.7`);
    assert.equal(route.status, 200, 'an app route gets the app');
    assert.match(route.body, /Vigil console/);
    const asset = await call(`${url}/admin/assets/app-3f9a1c.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await call(`${url}/admin/assets/gone-000000.js`)).status, 404);
    assert.equal((await call(`${url}/admin/%2e%2e/%2e%2e/package.json`)).status, 404);
    const doc = await call(`${url}/docs/json`);
    for (const path of ['/v1/console/session', '/v1/operators', '/v1/operators/{name}/password'])
      assert.ok(doc.body.paths[path], `${path} is in the OpenAPI document`);
    assert.equal(doc.body.components.securitySchemes.consoleSession.in, 'cookie');
  });

  it('on PostgreSQL: VIGIL_ADMIN_PASSWORD, operators, an idle session expires, /admin is a 503 without a build', async () => {
    const schema = uniqueSchema();
    const password = 'env-admin-password-1';
    const pgData = tempDir('vigil-console-pg-');
    const pgServer = await spawnVigil(['--data', pgData], {
      ...env,
      DATABASE_URL: TEST_DATABASE_URL,
      VIGIL_PG_SCHEMA: schema,
      VIGIL_ADMIN_PASSWORD: password,
      VIGIL_CONSOLE_IDLE_SECONDS: '1',
      VIGIL_CONSOLE_DIR: join(dist, 'missing'),
    });
    const saved = url;
    url = pgServer.url;
    try {
      await waitFor('the start-up lines', 20_000, async () => pgServer.output().includes('console: '));
      await sleep(300);
      assert.doesNotMatch(
        pgServer.output(),
        /Console operator "admin" created/,
        'a set password is not printed',
      );
      const s = await session('admin', password);
      assert.equal((await withCookie(s, '/v1/console/session')).status, 200);
      await sleep(2_500);
      const expired = await withCookie(s, '/v1/bans');
      assert.equal(expired.status, 401);
      assert.equal(expired.body.code, 'console_session_expired');

      // Operators stored in PostgreSQL: created, listed, a new password, removed.
      const made = await call(`${url}/v1/operators`, {
        token: apiKey,
        body: { name: 'pg-op', role: 'operator', password: 'pg-operator-pass-1' },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const dup = await call(`${url}/v1/operators`, {
        token: apiKey,
        body: { name: 'pg-op', role: 'readonly', password: 'pg-operator-pass-1' },
      });
      assert.equal(dup.status, 409);
      const listed = await call(`${url}/v1/operators`, { token: apiKey });
      assert.deepEqual(
        listed.body.operators.map((o: { name: string }) => o.name),
        ['admin', 'pg-op'],
      );
      const reset = await call(`${url}/v1/operators/pg-op/password`, {
        method: 'PUT',
        token: apiKey,
        body: { password: 'pg-operator-pass-2' },
      });
      assert.equal(reset.status, 204);
      assert.equal((await signIn('pg-op', 'pg-operator-pass-1')).status, 401);
      assert.equal((await signIn('pg-op', 'pg-operator-pass-2')).status, 200);
      const removed = await call(`${url}/v1/operators/pg-op`, { method: 'DELETE', token: apiKey });
      assert.equal(removed.status, 204);
      assert.equal((await signIn('pg-op', 'pg-operator-pass-2')).status, 401);

      // Failed sign-ins are counted in the store: the lock holds here too.
      const tries: number[] = [];
      for (let i = 0; i < 10; i++) tries.push((await signIn('admin', `wrong-password-${i}`)).status);
      assert.deepEqual(tries, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      assert.equal((await signIn('admin', password)).status, 429);

      const page = await call(`${url}/admin/`);
      assert.equal(page.status, 503);
      assert.match(page.body, /npm install/);
    } finally {
      url = saved;
      await pgServer.stop();
      rmSync(pgData, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    }
  });
});
