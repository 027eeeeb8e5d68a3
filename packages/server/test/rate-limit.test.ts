/**
 * Rate limits on viewer-facing writes: a flood of /v1/events from one session is answered 429
 * `rate_limited` with Retry-After while other sessions on the same server (and address) carry on;
 * addresses are limited too (IPv6 by /64); licenses are not limited; memory stays bounded.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { addressBucketKey, rateLimitsFromEnv, ViewerRateLimiter } from '@vigil/server';
import { SignJWT } from 'jose';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

const event = (server: TestServer, token: string, headers: Record<string, string> = {}) =>
  call(`${server.url}/v1/events`, { token, headers, body: { action: 'streamProgress' } });

describe('rate limits (default settings)', () => {
  let server: TestServer;
  before(async () => {
    server = await startVigil();
  });
  after(() => server.close());

  it('throttles a flood of /v1/events from one session; another session is unaffected', async () => {
    const [kid] = await createKeys(server, 'resource-1');
    const flooder = await viewerToken(server.secret, { sessionId: 'flooder' });
    const other = await viewerToken(server.secret, { sessionId: 'bystander' });
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof event>> | undefined;
    for (let i = 0; i < 80; i++) {
      const res = await event(server, flooder);
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    const accepted = statuses.filter((s) => s === 202).length;
    assert.ok(accepted >= 30 && accepted < 40, `the burst (30) and little more pass: ${accepted}`);
    assert.ok(
      statuses.every((s) => s === 202 || s === 429),
      statuses.join(','),
    );
    assert.equal(statuses[statuses.length - 1], 429);
    assert.ok(refused);
    assert.equal(refused.body.code, 'rate_limited');
    assert.match(refused.headers.get('retry-after') ?? '', /^[1-9]\d*$/);

    // The same session's heartbeats and delivery renewals share its bucket ...
    const beat = await call(`${server.url}/v1/heartbeat`, { token: flooder, body: {} });
    assert.equal(beat.status, 429);
    assert.equal((await call(`${server.url}/v1/delivery`, { token: flooder, body: {} })).status, 429);
    // ... but its licenses are not limited.
    const license = await call(`${server.url}/v1/license/clearkey`, {
      token: flooder,
      body: { kids: [kidB64(kid!)] },
    });
    assert.equal(license.status, 200);

    // Another session from the same address is served as usual.
    assert.equal((await event(server, other)).status, 202);
    assert.equal((await call(`${server.url}/v1/heartbeat`, { token: other, body: {} })).status, 200);
    assert.equal((await call(`${server.url}/v1/delivery`, { token: other, body: {} })).status, 200);

    // Counted in the metrics (asked with the platform key, which may read them).
    const metrics = await call(`${server.url}/metrics`, { token: server.apiKey });
    const m = /vigil_rate_limited_total\{bucket="session"\} (\d+)/.exec(String(metrics.body));
    assert.ok(m && Number(m[1]) >= 40, String(m?.[0]));
  });
});

describe('rate limits (small settings)', () => {
  let server: TestServer;
  before(async () => {
    server = await startVigil({
      config: {
        trustedProxies: ['127.0.0.1'],
        rateLimits: {
          session: { burst: 3, perSecond: 2 },
          address: { burst: 6, perSecond: 0.01 },
          maxBuckets: 1000,
        },
      },
    });
  });
  after(() => server.close());

  it('a throttled session is served again after Retry-After', async () => {
    const token = await viewerToken(server.secret, { sessionId: 'waits', ip: '198.51.100.1' });
    const from = { 'x-real-ip': '198.51.100.1' };
    for (let i = 0; i < 3; i++) assert.equal((await event(server, token, from)).status, 202);
    const refused = await event(server, token, from);
    assert.equal(refused.status, 429);
    const wait = Number(refused.headers.get('retry-after'));
    assert.equal(wait, 1);
    await new Promise((r) => setTimeout(r, wait * 1000));
    assert.equal((await event(server, token, from)).status, 202);
  });

  it('limits an address (an IPv6 /64) across its sessions, even before the token is checked', async () => {
    const viewer = async (sessionId: string, ip: string) =>
      event(server, await viewerToken(server.secret, { sessionId, ip }), { 'x-real-ip': ip });
    // Six requests from one /64, each from another session and address inside it.
    for (let i = 1; i <= 6; i++) assert.equal((await viewer(`v6-${i}`, `2001:db8::${i}`)).status, 202);
    const same64 = await viewer('v6-7', '2001:0db8:0000:0000:0000:0000:0000:0007');
    assert.equal(same64.status, 429);
    assert.equal(same64.body.code, 'rate_limited');
    assert.ok(Number(same64.headers.get('retry-after')) >= 1);
    // Not even a bad token gets through to be verified.
    const bad = await event(server, 'not-a-token', { 'x-real-ip': '2001:db8::99' });
    assert.equal(bad.status, 429);
    // The next /64 and an IPv4 address are their own.
    assert.equal((await viewer('v6-other', '2001:db8:0:1::1')).status, 202);
    assert.equal((await viewer('v4', '203.0.113.7')).status, 202);
  });

  it('the seed API’s /np/ answers 429 rate_limited too (not its usual 400)', async () => {
    const seed = await new SignJWT({
      sessionId: 'seed-flooder',
      resourceId: 'resource-1',
      createdAt: Math.floor(Date.now() / 1000),
      userIP: '192.0.2.50',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(server.secret));
    const np = () =>
      call(`${server.url}/qualabs/np/?token=${seed}`, {
        headers: { 'x-real-ip': '192.0.2.50' },
        body: { kids: [], type: 'temporary' },
      });
    for (let i = 0; i < 3; i++) assert.equal((await np()).status, 200);
    const refused = await np();
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'rate_limited');
    assert.ok(refused.headers.get('retry-after'));
  });
});

describe('rate limiter bounds and settings', () => {
  it('holds at most maxBuckets buckets, however many sessions and addresses call', () => {
    let n = 0;
    const limiter = new ViewerRateLimiter(
      { session: { burst: 5, perSecond: 1 }, address: { burst: 5, perSecond: 1 }, maxBuckets: 100 },
      () => `10.0.${(n >> 8) & 255}.${n & 255}`,
    );
    try {
      const req = {} as IncomingMessage;
      for (n = 0; n < 5000; n++) {
        limiter.address(req, 1_000);
        limiter.session({ tenantId: 'default', sessionId: `s-${n}` } as never, 1_000);
      }
      assert.ok(limiter.size.sessions <= 100, String(limiter.size.sessions));
      assert.ok(limiter.size.addresses <= 100, String(limiter.size.addresses));
    } finally {
      limiter.close();
    }
  });

  it('keys IPv6 by /64 and IPv4(-mapped) by address', () => {
    assert.equal(addressBucketKey('2001:db8::1'), addressBucketKey('2001:0db8:0:0:ffff::2'));
    assert.notEqual(addressBucketKey('2001:db8::1'), addressBucketKey('2001:db8:0:1::1'));
    assert.equal(addressBucketKey('::ffff:203.0.113.9'), '203.0.113.9');
  });

  it('reads its settings from the environment', () => {
    assert.equal(rateLimitsFromEnv({ VIGIL_RATE_LIMIT: '0' }), null);
    const custom = rateLimitsFromEnv({
      VIGIL_RATE_LIMIT_SESSION_BURST: '10',
      VIGIL_RATE_LIMIT_ADDRESS_PER_SECOND: '500',
    });
    assert.deepEqual(custom?.session, { burst: 10, perSecond: 1 });
    assert.deepEqual(custom?.address, { burst: 1000, perSecond: 500 });
    assert.throws(
      () => rateLimitsFromEnv({ VIGIL_RATE_LIMIT_SESSION_PER_SECOND: 'fast' }),
      /VIGIL_RATE_LIMIT_SESSION_PER_SECOND must be a positive number/,
    );
  });
});
