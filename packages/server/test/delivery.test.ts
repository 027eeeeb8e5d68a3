/**
 * Signed delivery: the origin serves published manifests and segments only to requests carrying a
 * valid delivery token (`?vd=` or the `vigil_delivery` cookie) whose prefix covers the path, before it
 * expires, from the bound address; `/v1/delivery` issues tokens to viewers with the license path's
 * checks (so a banned session can't renew) and `/v1/delivery/sign` to a tenant's backend.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { normalizeUrlPath, signDelivery, verifyDelivery } from '@vigil/core';
import { issueDelivery } from '@vigil/server';
import { call, startVigil, type TestServer, tempDir, viewerToken } from '../../../test/support/vigil.ts';

const MPD = '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"/>';
const SEGMENT = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

/** A GET with the path sent exactly as given (fetch would resolve `..` and `%2e%2e` first). */
function rawGet(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((done, fail) => {
    const req = httpRequest({ host: hostname, port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', fail);
    req.end();
  });
}

const code = (res: { body: string }) => (JSON.parse(res.body) as { code: string }).code;

describe('delivery tokens (core)', () => {
  const secret = Buffer.alloc(32, 7);
  const grant = { tenantId: 'default', prefix: '/origin/default/live/', expiresAt: 2_000_000_000_000 };
  const verify = (token: string | undefined, path: string, ip = '127.0.0.1', now = 1_000) =>
    verifyDelivery(token, { path, ip, now, secretFor: (t) => (t === 'default' ? secret : undefined) });

  it('normalises decoded paths and refuses climbing above the root', () => {
    assert.equal(normalizeUrlPath('/a/b/../c'), '/a/c');
    assert.equal(normalizeUrlPath('/a/%2e%2e/c'), '/c');
    assert.equal(normalizeUrlPath('/a/%2E%2e/%2e/c/'), '/c/');
    assert.equal(normalizeUrlPath('/a//b'), '/a/b');
    assert.equal(normalizeUrlPath('/a/%2e%2e/%2e%2e/c'), null);
    assert.equal(normalizeUrlPath('/a/..%2f..%2fc'), null);
    assert.equal(normalizeUrlPath('/a/%5c..'), null);
    assert.equal(normalizeUrlPath('/a/%00'), null);
    assert.equal(normalizeUrlPath('/a/%zz'), null);
  });

  it('accepts a good token and refuses each kind of bad one with its reason', () => {
    const token = signDelivery({ ...grant, ip: '::ffff:127.0.0.1', sessionId: 's1' }, secret);
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const ok = verify(token, '/origin/default/live/a/b.m4s');
    assert.ok(ok.ok);
    assert.deepEqual(ok.grant, { ...grant, ip: '127.0.0.1', sessionId: 's1' });

    const reason = (r: ReturnType<typeof verify>) => (r.ok ? 'ok' : r.reason);
    assert.equal(reason(verify(undefined, '/origin/default/live/x')), 'delivery_missing');
    assert.equal(reason(verify('abc', '/origin/default/live/x')), 'delivery_malformed');
    assert.equal(reason(verify(`${token}.x`, '/origin/default/live/x')), 'delivery_malformed');
    assert.equal(reason(verify('x'.repeat(3000), '/origin/default/live/x')), 'delivery_malformed');
    const [payload, mac] = token.split('.') as [string, string];
    const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    assert.equal(reason(verify(`${payload}.${flipped}`, '/origin/default/live/x')), 'delivery_signature');
    assert.equal(
      reason(verify(`${payload}.${mac.slice(0, 20)}`, '/origin/default/live/x')),
      'delivery_signature',
    );
    const forged = Buffer.from(
      JSON.stringify({ v: 1, t: 'default', p: '/origin/default/', e: grant.expiresAt }),
    ).toString('base64url');
    assert.equal(reason(verify(`${forged}.${mac}`, '/origin/default/live/x')), 'delivery_signature');
    const polluted = Buffer.from(
      '{"v":1,"t":"default","p":"/origin/default/live/","e":2000000000000,"__proto__":{"x":1}}',
    ).toString('base64url');
    assert.equal(reason(verify(`${polluted}.${mac}`, '/origin/default/live/x')), 'delivery_malformed');
    const other = signDelivery({ ...grant, tenantId: 'acme' }, Buffer.alloc(32, 8));
    assert.equal(reason(verify(other, '/origin/default/live/x')), 'delivery_signature');
    assert.equal(
      reason(verify(token, '/origin/default/live/x', '127.0.0.1', grant.expiresAt)),
      'delivery_expired',
    );
    assert.equal(reason(verify(token, '/origin/default/live/../other/x')), 'delivery_scope');
    assert.equal(reason(verify(token, '/origin/default/live/%2e%2e/other/x')), 'delivery_scope');
    assert.equal(reason(verify(token, '/origin/default/livex/a')), 'delivery_scope');
    assert.equal(reason(verify(token, '/origin/default/live')), 'delivery_scope');
    assert.equal(reason(verify(token, '/origin/default/live/x', '10.0.0.1')), 'delivery_ip');
    assert.equal(
      reason(
        verifyDelivery(token, {
          path: '/origin/default/live/x',
          ip: '127.0.0.1',
          now: 1_000,
          tenantId: 'acme',
          secretFor: () => secret,
        }),
      ),
      'delivery_scope',
    );
  });

  it('refuses to sign a prefix that is not a normalised folder', () => {
    assert.throws(() => signDelivery({ ...grant, prefix: '/origin/default/live' }, secret));
    assert.throws(() => signDelivery({ ...grant, prefix: '/origin/default/../x/' }, secret));
  });
});

describe('signed delivery from the origin', () => {
  let server: TestServer;
  let originRoot: string;
  let acme: { jwtSecret: string; apiKey: string };
  const base = () => server.url;
  const live = '/origin/default/live-demo/';

  const deliveryFor = async (token: string) => {
    const res = await call(`${base()}/v1/delivery`, { method: 'POST', token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as {
      token: string;
      param: string;
      prefix: string;
      expiresAt: string;
      ttlSeconds: number;
    };
  };
  const viewer = (extra: Record<string, unknown> = {}) =>
    viewerToken(server.secret, { resourceId: 'live-demo', ...extra });

  before(async () => {
    originRoot = tempDir('vigil-origin-');
    server = await startVigil({ config: { originRoot } });
    const write = (rel: string, data: string | Buffer) => {
      const file = join(originRoot, rel);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, data);
    };
    write('default/live-demo/manifest.mpd', MPD);
    write('default/live-demo/master.m3u8', '#EXTM3U\n');
    write('default/live-demo/video/360p/seg-1.m4s', SEGMENT);
    write('default/live-demo/video/360p/init.mp4', SEGMENT.subarray(0, 100));
    write('default/live-demo/.hidden.m4s', SEGMENT);
    write('default/live-demo/keyinfo.json', '{"key":"secret"}');
    write('default/other/manifest.mpd', MPD);
    write('acme/live-demo/manifest.mpd', MPD);
    mkdirSync(join(originRoot, 'default/live-demo/dir.m4s'));
    symlinkSync(
      join(originRoot, 'acme/live-demo/manifest.mpd'),
      join(originRoot, 'default/live-demo/escape.mpd'),
    );
    const created = await call(`${base()}/v1/tenants`, {
      token: server.apiKey,
      body: { id: 'acme', name: 'Acme' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    acme = { jwtSecret: created.body.jwtSecret, apiKey: created.body.apiKey };
  });
  after(async () => {
    await server.close();
    rmSync(originRoot, { recursive: true, force: true });
  });

  it('refuses a request without a delivery token', async () => {
    const res = await call(`${base()}${live}manifest.mpd`);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'delivery_missing');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('issues a token to a viewer and serves manifests and segments with it', async () => {
    const d = await deliveryFor(await viewer());
    assert.equal(d.param, 'vd');
    assert.equal(d.prefix, live);
    assert.ok(d.ttlSeconds > 590 && d.ttlSeconds <= 600, String(d.ttlSeconds));
    assert.ok(Math.abs(Date.parse(d.expiresAt) - Date.now() - 600_000) < 5_000);

    const mpd = await call(`${base()}${live}manifest.mpd?vd=${d.token}`);
    assert.equal(mpd.status, 200);
    assert.equal(mpd.headers.get('content-type'), 'application/dash+xml');
    assert.equal(mpd.headers.get('cache-control'), 'private, no-cache');
    assert.equal(mpd.body, MPD);
    const etag = mpd.headers.get('etag');
    assert.ok(etag && mpd.headers.get('last-modified'));

    const m3u8 = await call(`${base()}${live}master.m3u8?vd=${d.token}`);
    assert.equal(m3u8.headers.get('content-type'), 'application/vnd.apple.mpegurl');

    const seg = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${d.token}`);
    assert.equal(seg.status, 200);
    assert.equal(seg.headers.get('content-type'), 'video/iso.segment');
    assert.equal(seg.headers.get('cache-control'), 'private, max-age=3600');
    assert.deepEqual(seg.raw, SEGMENT);
    const init = await call(`${base()}${live}video/360p/init.mp4?vd=${d.token}`);
    assert.equal(init.headers.get('content-type'), 'video/mp4');

    // Conditional and range requests.
    const again = await call(`${base()}${live}manifest.mpd?vd=${d.token}`, {
      headers: { 'if-none-match': etag! },
    });
    assert.equal(again.status, 304);
    const part = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${d.token}`, {
      headers: { range: 'bytes=10-19' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-19/${SEGMENT.length}`);
    assert.deepEqual(part.raw, SEGMENT.subarray(10, 20));
    const tail = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${d.token}`, {
      headers: { range: 'bytes=-5' },
    });
    assert.deepEqual(tail.raw, SEGMENT.subarray(-5));
    const beyond = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${d.token}`, {
      headers: { range: 'bytes=5000-' },
    });
    assert.equal(beyond.status, 416);
    const head = await fetch(`${base()}${live}video/360p/seg-1.m4s?vd=${d.token}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(SEGMENT.length));
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    // The cookie works as well as the query parameter.
    const byCookie = await call(`${base()}${live}manifest.mpd`, {
      headers: { cookie: `theme=dark; vigil_delivery=${d.token}` },
    });
    assert.equal(byCookie.status, 200);
  });

  it('refuses an expired token', async () => {
    const expired = issueDelivery(server.store, {
      tenantId: 'default',
      resourceId: 'live-demo',
      ttlSeconds: 1,
      now: Date.now() - 10_000,
    });
    const res = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${expired.token}`);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'delivery_expired');
  });

  it('refuses tampered tokens', async () => {
    const { token } = await deliveryFor(await viewer());
    const [payload, mac] = token.split('.') as [string, string];
    const flip = (s: string, i: number) => `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    const badMac = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${payload}.${flip(mac, 5)}`);
    assert.equal(badMac.status, 403);
    assert.equal(badMac.body.code, 'delivery_signature');
    const badPayload = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${flip(payload, 8)}.${mac}`);
    assert.equal(badPayload.status, 403);
    assert.ok(
      ['delivery_signature', 'delivery_malformed'].includes(badPayload.body.code),
      badPayload.body.code,
    );
    // A payload widened to the whole tenant, with the old MAC.
    const grant = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const widened = Buffer.from(JSON.stringify({ ...grant, p: '/origin/default/' })).toString('base64url');
    const res = await call(`${base()}/origin/default/other/manifest.mpd?vd=${widened}.${mac}`);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'delivery_signature');
  });

  it('refuses paths outside the prefix, however spelled, and serves nothing but files of known types', async () => {
    const { token } = await deliveryFor(await viewer());
    const q = `?vd=${token}`;
    for (const path of [
      '/origin/default/other/manifest.mpd',
      `${live}../other/manifest.mpd`,
      `${live}%2e%2e/other/manifest.mpd`,
      `${live}%2E%2E/%2E%2E/acme/live-demo/manifest.mpd`,
      `${live}..%2f..%2facme/live-demo/manifest.mpd`,
      `${live}..%5c..%5cacme/live-demo/manifest.mpd`,
      `${live}../../../../etc/passwd`,
      '/origin/default/live-demo',
    ]) {
      const res = await rawGet(base(), `${path}${q}`);
      assert.ok([403, 404].includes(res.status), `${path}: ${res.status}`);
      if (res.status === 403) assert.equal(code(res), 'delivery_scope', path);
    }
    for (const path of [
      `${live}.hidden.m4s`,
      `${live}keyinfo.json`,
      `${live}dir.m4s`,
      `${live}missing.m4s`,
      `${live}escape.mpd`,
      live,
    ]) {
      const res = await rawGet(base(), `${path}${q}`);
      assert.equal(res.status, 404, path);
    }
  });

  it('refuses a token bound to another address, and signs for a tenant backend', async () => {
    const bound = await call(`${base()}/v1/delivery/sign`, {
      token: server.apiKey,
      body: { resourceId: 'live-demo', ip: '203.0.113.9', ttlSeconds: 60 },
    });
    assert.equal(bound.status, 200, JSON.stringify(bound.body));
    assert.equal(bound.body.ip, '203.0.113.9');
    const res = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${bound.body.token}`);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'delivery_ip');

    const withUrl = await call(`${base()}/v1/delivery/sign`, {
      token: server.apiKey,
      body: { resourceId: 'live-demo', path: 'manifest.mpd' },
    });
    assert.equal(withUrl.status, 200, JSON.stringify(withUrl.body));
    assert.equal(withUrl.body.ttlSeconds, 600);
    assert.ok(withUrl.body.url.startsWith(`${base()}${live}manifest.mpd?vd=`), withUrl.body.url);
    assert.equal((await call(withUrl.body.url)).status, 200);

    // A viewer token's delivery is bound to the viewer's address.
    const d = await deliveryFor(await viewer());
    const grant = JSON.parse(Buffer.from(d.token.split('.')[0]!, 'base64url').toString('utf8'));
    assert.equal(grant.i, '127.0.0.1');
  });

  it('checks input and roles of the signing API', async () => {
    const readonlyKey = await call(`${base()}/v1/apikeys`, {
      token: server.apiKey,
      body: { role: 'readonly' },
    });
    assert.equal(readonlyKey.status, 201);
    const cases: [unknown, string | undefined, number, string][] = [
      [{ resourceId: 'live-demo' }, readonlyKey.body.key, 403, 'forbidden'],
      [{ resourceId: 'live-demo' }, undefined, 401, 'api_key_missing'],
      [{ resourceId: 'a/b' }, server.apiKey, 400, 'invalid_resource'],
      [{ resourceId: '..' }, server.apiKey, 400, 'invalid_resource'],
      [{ resourceId: 'live-demo', ip: 'nope' }, server.apiKey, 400, 'invalid_ip'],
      [{ resourceId: 'live-demo', ttlSeconds: 0 }, server.apiKey, 400, 'invalid_request'],
      [{ resourceId: 'live-demo', ttlSeconds: '60' }, server.apiKey, 400, 'invalid_request'],
      [{ resourceId: 'live-demo', path: '../other/manifest.mpd' }, server.apiKey, 400, 'invalid_path'],
      [{ resourceId: 'live-demo', extra: 1 }, server.apiKey, 400, 'invalid_request'],
    ];
    for (const [body, token, status, expected] of cases) {
      const res = await call(`${base()}/v1/delivery/sign`, { token, body });
      assert.equal(res.status, status, JSON.stringify({ body, res: res.body }));
      assert.equal(res.body.code, expected, JSON.stringify(body));
    }
  });

  it("refuses viewers the license path refuses, and stops a banned session's delivery", async () => {
    const none = await call(`${base()}/v1/delivery`, { method: 'POST' });
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'token_missing');
    const elsewhere = await call(`${base()}/v1/delivery`, {
      method: 'POST',
      token: await viewer({ ip: '198.51.100.7' }),
    });
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.body.code, 'ip_mismatch');

    const token = await viewer({ sessionId: 'to-ban' });
    const d = await deliveryFor(token);
    assert.equal((await call(`${base()}${live}manifest.mpd?vd=${d.token}`)).status, 200);
    const ban = await call(`${base()}/v1/bans`, { token: server.apiKey, body: { sessionId: 'to-ban' } });
    assert.equal(ban.status, 201);
    const renewal = await call(`${base()}/v1/delivery`, { method: 'POST', token });
    assert.equal(renewal.status, 403);
    assert.equal(renewal.body.code, 'banned');
    const segment = await call(`${base()}${live}video/360p/seg-1.m4s?vd=${d.token}`);
    assert.equal(segment.status, 403);
    assert.equal(segment.body.code, 'banned');
  });

  it("keeps tenants apart: one tenant's token can't fetch another's files", async () => {
    const acmeViewer = await viewerToken(acme.jwtSecret, { tenant: 'acme', resourceId: 'live-demo' });
    const d = await deliveryFor(acmeViewer);
    assert.equal(d.prefix, '/origin/acme/live-demo/');
    assert.equal((await call(`${base()}/origin/acme/live-demo/manifest.mpd?vd=${d.token}`)).status, 200);
    const foreign = await call(`${base()}${live}manifest.mpd?vd=${d.token}`);
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.code, 'delivery_scope');
    const signed = await call(`${base()}/v1/delivery/sign`, {
      token: acme.apiKey,
      body: { resourceId: 'live-demo' },
    });
    assert.equal(signed.body.prefix, '/origin/acme/live-demo/');
    const alsoForeign = await call(`${base()}${live}manifest.mpd?vd=${signed.body.token}`);
    assert.equal(alsoForeign.status, 403);
  });

  it('answers CORS for allowed origins and refuses origins the tenant does not allow', async () => {
    const { token } = await deliveryFor(await viewer());
    const res = await call(`${base()}${live}manifest.mpd?vd=${token}`, {
      headers: { origin: 'https://player.example' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://player.example');
    const set = await call(`${base()}/v1/tenant`, {
      method: 'PUT',
      token: acme.apiKey,
      body: { allowedOrigins: ['https://acme.example'] },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const acmeToken = issueDelivery(server.store, {
      tenantId: 'acme',
      resourceId: 'live-demo',
      ttlSeconds: 60,
    });
    const refused = await call(`${base()}/origin/acme/live-demo/manifest.mpd?vd=${acmeToken.token}`, {
      headers: { origin: 'https://player.example' },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'origin_not_allowed');
  });

  it('counts refusals in the stats', async () => {
    const metrics = await call(`${base()}/metrics`, { token: server.apiKey });
    assert.match(
      metrics.body,
      /vigil_license_requests_total\{tenant="default",endpoint="origin",outcome="delivery_missing"\} \d+/,
    );
  });
});

describe('the origin without an origin root', () => {
  it('is not there', async () => {
    const server = await startVigil();
    try {
      const d = issueDelivery(server.store, { tenantId: 'default', resourceId: 'x', ttlSeconds: 60 });
      const res = await call(`${server.url}/origin/default/x/manifest.mpd?vd=${d.token}`);
      assert.equal(res.status, 404);
    } finally {
      await server.close();
    }
  });
});
