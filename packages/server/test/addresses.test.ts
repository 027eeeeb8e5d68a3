/**
 * Addresses compared in one canonical form: however a ban, a token's `ip` claim, a delivery binding or a
 * trusted proxy is written (`2001:0db8:0000::0001`, `2001:DB8::1`, `::ffff:127.0.0.1`), it matches the
 * viewer connecting over IPv6 loopback (`[::1]`) or over IPv4 to a dual-stack socket (which reports
 * `::ffff:127.0.0.1`), for licenses, heartbeats, delivery tokens and the origin.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalBanTarget, canonicalIp, IpMatcher } from '@vigil/core';
import { buildApp, openStore } from '@vigil/server';
import {
  call,
  createKeys,
  kidB64,
  runCli,
  startVigil,
  type TestServer,
  tempDir,
  viewerToken,
} from '../../../test/support/vigil.ts';

const MPD = '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"/>';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('canonical addresses (core)', () => {
  it('writes every address one way', () => {
    const same: [string, string][] = [
      ['2001:0db8:0000::0001', '2001:db8::1'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['::', '::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['::ffff:127.0.0.1', '127.0.0.1'],
      ['::FFFF:7f00:1', '127.0.0.1'],
      ['0:0:0:0:0:ffff:203.0.113.9', '203.0.113.9'],
      [' 203.0.113.9 ', '203.0.113.9'],
      ['::1.2.3.4', '::102:304'],
    ];
    for (const [written, canonical] of same) assert.equal(canonicalIp(written), canonical, written);
    for (const bad of [
      'fe80::1%eth0',
      '01.2.3.4',
      '1.2.3',
      '1.2.3.256',
      ':::',
      '1:::2',
      '1::2::3',
      '',
      'x',
      '::ffff:1.2.3.04',
    ])
      assert.equal(canonicalIp(bad), null, bad);
  });

  it('writes ranges one way, host bits cleared, IPv4-mapped ranges as IPv4', () => {
    assert.equal(canonicalBanTarget('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(canonicalBanTarget('2001:0DB8:ffff::/32'), '2001:db8::/32');
    assert.equal(canonicalBanTarget('::ffff:10.0.0.0/104'), '10.0.0.0/8');
    assert.equal(canonicalBanTarget('203.0.113.9/32'), '203.0.113.9');
    assert.equal(canonicalBanTarget('2001:db8::1/128'), '2001:db8::1');
    for (const bad of ['1.2.3.4/33', '::/129', '10.0.0.0/08', '10.0.0.0/', 'fe80::/10%eth0', '1.2.3.4/-1'])
      assert.equal(canonicalBanTarget(bad), null, bad);
    const m = new IpMatcher(['10.0.0.0/8', '0:0::1', '2001:DB8::/32']);
    assert.deepEqual(m.entries, ['10.0.0.0/8', '::1', '2001:db8::/32']);
    for (const hit of ['10.9.9.9', '::ffff:10.1.1.1', '::1', '2001:0db8:1::5']) assert.ok(m.has(hit), hit);
    for (const miss of ['11.0.0.1', '2001:db9::', '::2', 'fe80::1%lo']) assert.ok(!m.has(miss), miss);
    assert.throws(() => new IpMatcher(['10.0.0.0/8', 'proxy.local']), /"proxy.local" is not an IP address/);
  });
});

describe('addresses over IPv6 and IPv4-mapped connections', () => {
  let server: TestServer;
  let kid: string;
  let port: string;
  const v6 = (path: string) => `http://[::1]:${port}${path}`;
  // The server listens on `::`: an IPv4 client's socket address is `::ffff:127.0.0.1`.
  const v4 = (path: string) => `http://127.0.0.1:${port}${path}`;
  type At = typeof v6;

  before(async () => {
    server = await startVigil({ host: '::' });
    port = new URL(server.url).port;
    kid = (await createKeys(server, 'res-a'))[0]!;
    mkdirSync(join(server.dataDir!, 'origin/default/res-a'), { recursive: true });
    writeFileSync(join(server.dataDir!, 'origin/default/res-a/manifest.mpd'), MPD);
  });
  after(() => server.close());

  const token = (ip: string, sessionId = 'viewer-1') =>
    viewerToken(server.secret, { ip, sessionId, resourceId: 'res-a' });
  const license = async (at: At, ip: string, sessionId?: string) =>
    call(at('/v1/license/clearkey'), {
      token: await token(ip, sessionId),
      body: { kids: [kidB64(kid)], type: 'temporary' },
    });
  const ban = (target: { ip: string } | { sessionId: string }) =>
    call(v6('/v1/bans'), { token: server.apiKey, body: { ...target, reason: 'test' } });
  const unban = async (id: string) =>
    assert.equal((await call(v6(`/v1/bans/${id}`), { method: 'DELETE', token: server.apiKey })).status, 204);

  it('binds viewer tokens to the address however the claim writes it', async () => {
    for (const ip of ['::1', '0:0:0:0:0:0:0:1', '0000::0001'])
      assert.equal((await license(v6, ip)).status, 200, ip);
    for (const ip of ['127.0.0.1', '::ffff:127.0.0.1', '::FFFF:7f00:1'])
      assert.equal((await license(v4, ip)).status, 200, ip);
    const other = await license(v4, '::1');
    assert.equal(other.status, 403);
    assert.equal(other.body.code, 'ip_mismatch');
    assert.equal((await license(v6, '127.0.0.1')).body.code, 'ip_mismatch');
  });

  it('an IP ban typed in any form refuses the viewer connecting in any form', async () => {
    const cases: [string, string, At, string][] = [
      ['0000:0000::0001', '::1', v6, '::1'],
      ['0:0:0:0:0:0:0:1', '::1', v6, '0::1'],
      ['::ffff:127.0.0.1', '127.0.0.1', v4, '127.0.0.1'],
      ['127.0.0.1', '127.0.0.1', v4, '::ffff:127.0.0.1'],
      ['::FFFF:7F00:0001', '127.0.0.1', v4, '127.0.0.1'],
    ];
    for (const [typed, stored, at, claim] of cases) {
      const made = await ban({ ip: typed });
      assert.equal(made.status, 201, typed);
      assert.equal(made.body.value, stored, typed);
      const refused = await license(at, claim, 'ban-case');
      assert.equal(refused.status, 403, typed);
      assert.equal(refused.body.code, 'banned', typed);
      const heartbeat = await call(at('/v1/heartbeat'), { token: await token(claim, 'ban-case'), body: {} });
      assert.equal(heartbeat.status, 403, typed);
      const delivery = await call(at('/v1/delivery'), { token: await token(claim, 'ban-case'), body: {} });
      assert.equal(delivery.status, 403, typed);
      assert.equal(delivery.body.code, 'banned', typed);
      // The same address in another form is the same ban, not a second one.
      const again = await ban({ ip: stored === '::1' ? '::0:1' : '::ffff:7f00:1' });
      assert.equal(again.body.id, made.body.id, typed);
      await unban(made.body.id);
      assert.equal((await license(at, claim, 'ban-case')).status, 200, typed);
    }
    const bans = await call(v6('/v1/bans'), { token: server.apiKey });
    assert.equal(bans.body.bans.length, 0);
  });

  it('bans address ranges (CIDR) of either family', async () => {
    const v6Range = await ban({ ip: '0:0::0:0/120' });
    assert.equal(v6Range.body.value, '::/120');
    assert.equal((await license(v6, '::1')).body.code, 'banned');
    assert.equal((await license(v4, '127.0.0.1')).status, 200);
    await unban(v6Range.body.id);
    const v4Range = await ban({ ip: '::ffff:127.0.2.3/112' });
    assert.equal(v4Range.body.value, '127.0.0.0/16');
    assert.equal((await license(v4, '127.0.0.1')).body.code, 'banned');
    assert.equal((await license(v6, '::1')).status, 200);
    await unban(v4Range.body.id);
    assert.equal((await license(v4, '127.0.0.1')).status, 200);
  });

  it('refuses what is no address or range with 400 invalid_ban', async () => {
    for (const ip of [
      '10.0.0.0/8',
      '2001:db8::/32',
      '1.2.3.4/33',
      'fe80::1%eth0',
      '1.2.3',
      '::ffff:1.2.3.04',
      '10.0.0.0/08',
      'localhost',
    ]) {
      const res = await ban({ ip });
      assert.equal(res.status, 400, ip);
      assert.equal(res.body.code, 'invalid_ban', ip);
    }
  });

  it('binds delivery tokens to the canonical address and serves the origin over IPv6', async () => {
    const issued = await call(v6('/v1/delivery'), { token: await token('0:0::1'), body: {} });
    assert.equal(issued.status, 200);
    assert.equal(issued.body.ip, '::1');
    const path = `${issued.body.prefix}manifest.mpd?vd=${issued.body.token}`;
    assert.equal((await call(v6(path))).status, 200);
    const elsewhere = await call(v4(path));
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.body.code, 'delivery_ip');

    const mapped = await call(v4('/v1/delivery'), { token: await token('::ffff:127.0.0.1'), body: {} });
    assert.equal(mapped.body.ip, '127.0.0.1');
    assert.equal((await call(v4(`${mapped.body.prefix}manifest.mpd?vd=${mapped.body.token}`))).status, 200);

    const signed = await call(v6('/v1/delivery/sign'), {
      token: server.apiKey,
      body: { resourceId: 'res-a', ip: '0000:0000:0000:0000:0000:0000:0000:0001', path: 'manifest.mpd' },
    });
    assert.equal(signed.status, 200);
    assert.equal(signed.body.ip, '::1');
    const signedPath = `${new URL(signed.body.url).pathname}${new URL(signed.body.url).search}`;
    assert.equal((await call(v6(signedPath))).status, 200);
    assert.equal((await call(v4(signedPath))).body.code, 'delivery_ip');

    // An IP ban written another way stops the origin too, even for a token that names no session.
    const made = await ban({ ip: '::0001' });
    const refused = await call(v6(signedPath));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'banned');
    await unban(made.body.id);
    assert.equal((await call(v6(signedPath))).status, 200);

    const bad = await call(v6('/v1/delivery/sign'), {
      token: server.apiKey,
      body: { resourceId: 'res-a', ip: 'fe80::1%eth0' },
    });
    assert.equal(bad.status, 400);
  });

  it('records ban sightings and access logs in canonical form', async () => {
    const made = await ban({ sessionId: 'seen-session' });
    assert.equal((await license(v4, '::ffff:127.0.0.1', 'seen-session')).status, 403);
    assert.equal((await license(v6, '0::1', 'seen-session')).status, 403);
    const sightings = await until('two sightings', async () => {
      const bans = await call(v6('/v1/bans'), { token: server.apiKey });
      const b = bans.body.bans.find((x: { id: string }) => x.id === made.body.id);
      return b.sightings.length === 2 ? (b.sightings as { ip: string }[]) : undefined;
    });
    assert.deepEqual(sightings.map((s) => s.ip).sort(), ['127.0.0.1', '::1']);
    await unban(made.body.id);

    const logs = await call(v6('/v1/access-logs?limit=1000'), { token: server.apiKey });
    assert.equal(logs.status, 200);
    const ips = new Set<string>(logs.body.entries.map((e: { ip: string }) => e.ip));
    assert.deepEqual([...ips].sort(), ['127.0.0.1', '::1']);
  });
});

describe('trusted proxies', () => {
  it('refuses to start with an entry that is no address or range, with one clear line', async () => {
    const dataDir = tempDir();
    try {
      const res = await runCli(['serve', '--port', '0', '--data', dataDir], {
        VIGIL_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,proxy.internal',
      });
      assert.equal(res.code, 2);
      assert.equal(
        res.stderr.trim(),
        'vigil: VIGIL_TRUSTED_PROXIES: "proxy.internal" is not an IP address or CIDR range',
      );
      assert.equal(res.stdout, '');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    const appDir = tempDir();
    const store = await openStore({ dataDir: appDir, masterKey: '11'.repeat(32) });
    try {
      await assert.rejects(
        buildApp({ store, config: { trustedProxies: ['fe80::1%eth0'] } }),
        /trusted proxies: "fe80::1%eth0" is not an IP address or CIDR range/,
      );
    } finally {
      await store.close();
      rmSync(appDir, { recursive: true, force: true });
    }
  });

  it('believes a proxy written in any form, over IPv6, and canonicalises what it reports', async () => {
    const server = await startVigil({ host: '::1', config: { trustedProxies: ['0:0:0:0:0:0:0:1'] } });
    try {
      const kid = (await createKeys(server, 'res-p'))[0]!;
      const license = async (ip: string, headers: Record<string, string>) =>
        call(`${server.url}/v1/license/clearkey`, {
          token: await viewerToken(server.secret, { ip, resourceId: 'res-p' }),
          body: { kids: [kidB64(kid)], type: 'temporary' },
          headers,
        });
      assert.equal((await license('2001:db8::7', { 'x-forwarded-for': '2001:DB8:0::0007' })).status, 200);
      assert.equal((await license('203.0.113.9', { 'x-forwarded-for': '::ffff:203.0.113.9' })).status, 200);
      assert.equal((await license('198.51.100.4', { 'x-real-ip': '::FFFF:c633:6404' })).status, 200);
      // The nearest untrusted hop, read from the right: the left one was written by the client.
      assert.equal(
        (await license('2001:db8::8', { 'x-forwarded-for': '192.0.2.1, 2001:db8::8, ::1' })).status,
        200,
      );
      const banned = await call(`${server.url}/v1/bans`, {
        token: server.apiKey,
        body: { ip: '2001:db8::/64' },
      });
      assert.equal(banned.body.value, '2001:db8::/64');
      const refused = await license('2001:db8::7', { 'x-forwarded-for': '2001:db8:0:0::7' });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'banned');
    } finally {
      await server.close();
    }
  });
});
