import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type ChildServer, call, kidB64, runCli, spawnVigil, tempDir } from '../../../test/support/vigil.ts';

const env = { VIGIL_MASTER_KEY: '33'.repeat(32), VIGIL_JWT_SECRET: 'cli-test-secret-0123456789abcdefghij' };

describe('vigil CLI', () => {
  const dir = tempDir();
  const data = ['--data', dir];
  let server: ChildServer;
  before(async () => {
    server = await spawnVigil(data, env);
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints usage, and one line with exit 2 for an unknown command or option', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /serve/);
    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.trim().split('\n').length, 1);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badOption = await runCli(['ban', '--bogus', ...data], env);
    assert.equal(badOption.code, 2);
    assert.equal(badOption.stderr.trim().split('\n').length, 1);
  });

  it('mints a viewer token and creates keys that the running server serves', async () => {
    const keys = await runCli(['keys', 'create', '--resource', 'film', '--periods', '2', ...data], env);
    assert.equal(keys.code, 0, keys.stderr);
    const kids = keys.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/)[0]!);
    assert.equal(kids.length, 2);
    const token = await runCli(
      ['token', '--session', 'cli-viewer', '--resource', 'film', '--ip', '127.0.0.1', ...data],
      env,
    );
    assert.equal(token.code, 0, token.stderr);
    const res = await call(`${server.url}/v1/license/clearkey`, {
      token: token.stdout.trim(),
      body: { kids: kids.map(kidB64), type: 'temporary' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.keys.length, 2);
  });

  it('bans and unbans a session; the running server follows within a second', async () => {
    const token = (
      await runCli(['token', '--session', 'pirate', '--resource', 'film', '--ip', '127.0.0.1', ...data], env)
    ).stdout.trim();
    const heartbeat = () => call(`${server.url}/v1/heartbeat`, { token, method: 'POST' });
    assert.equal((await heartbeat()).status, 200);
    const ban = await runCli(['ban', '--session', 'pirate', '--reason', 'restream', ...data], env);
    assert.equal(ban.code, 0, ban.stderr);
    assert.match(ban.stdout, /banned session pirate/);
    const deadline = Date.now() + 1000;
    let res = await heartbeat();
    // Polled as a player would hurry, not flat out: heartbeats are rate limited per session (burst 30).
    while (res.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 40));
      res = await heartbeat();
    }
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'banned');
    const list = await runCli(['bans', ...data], env);
    assert.match(list.stdout, /session\s+pirate\s+restream/);
    const unban = await runCli(['unban', '--session', 'pirate', ...data], env);
    assert.equal(unban.code, 0, unban.stderr);
    const again = await runCli(['unban', '--session', 'pirate', ...data], env);
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim(), 'vigil: no such ban');
  });

  it('changes the watermark config, refusing bad values with one line', async () => {
    const set = await runCli(['config', 'set', 'mode=color', 'symbolSeconds=0.5', ...data], env);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).mode, 'color');
    const bad = await runCli(['config', 'set', 'mode=rainbow', ...data], env);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), 'vigil: "mode" must be "text" or "color"');
    const get = await runCli(['config', 'get', ...data], env);
    assert.equal(JSON.parse(get.stdout).mode, 'color');
  });

  it('creates API keys and tenants that work against the running server', async () => {
    const key = await runCli(['apikey', 'create', '--role', 'readonly', ...data], env);
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout.trim(), /^vk_[A-Za-z0-9_-]{32}$/);
    const watermark = await call(`${server.url}/v1/watermark`, { token: key.stdout.trim() });
    assert.equal(watermark.status, 200);
    const tenant = await runCli(['tenant', 'create', 'acme', ...data], env);
    assert.equal(tenant.code, 0, tenant.stderr);
    const acmeKey = /admin API key: (\S+)/.exec(tenant.stdout)![1]!;
    const acmeBans = await call(`${server.url}/v1/bans`, { token: acmeKey });
    assert.equal(acmeBans.status, 200);
    assert.deepEqual(acmeBans.body.bans, []);
    const dup = await runCli(['tenant', 'create', 'acme', ...data], env);
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr.trim(), 'vigil: tenant "acme" exists');
  });

  it('refuses a bad port and a bad IP with a clear line', async () => {
    const port = await runCli(['serve', '--port', '99999', ...data], env);
    assert.equal(port.code, 2);
    assert.equal(port.stderr.trim(), 'vigil: --port must be 0..65535');
    const ip = await runCli(['token', '--session', 's', '--resource', 'r', '--ip', 'nope', ...data], env);
    assert.equal(ip.code, 2);
    assert.equal(ip.stderr.trim(), 'vigil: --ip must be an IP address');
  });
});
