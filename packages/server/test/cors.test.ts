/**
 * Browser access (credentialed CORS, per-tenant allowed origins) and the operational endpoints: the
 * OpenAPI document, health, Prometheus metrics, per-tenant stats and the stats chart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const GOOD = 'https://good.example';
const EVIL = 'https://evil.example';

describe('CORS and operations', () => {
  let server: TestServer;
  let kids: string[];

  before(async () => {
    server = await startVigil();
    kids = await createKeys(server, 'resource-1', 1);
  });
  after(() => server.close());

  const preflight = (origin: string, path = '/v1/license/clearkey') =>
    fetch(`${server.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  const license = async (origin: string | undefined, token?: string) =>
    call(`${server.url}/v1/license/clearkey`, {
      token: token ?? (await viewerToken(server.secret)),
      headers: origin ? { origin } : {},
      body: { kids: kids.map(kidB64) },
    });

  describe('CORS', () => {
    it('answers a credentialed preflight echoing the exact origin', async () => {
      for (const origin of [GOOD, 'http://localhost:8080']) {
        const res = await preflight(origin);
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), origin);
        assert.notEqual(res.headers.get('access-control-allow-origin'), '*');
        assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
        const methods = (res.headers.get('access-control-allow-methods') ?? '').split(/\s*,\s*/);
        assert.ok(methods.includes('POST'), `methods: ${methods}`);
        const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
        assert.ok(allowed.includes('authorization') && allowed.includes('content-type'), allowed);
        assert.match(res.headers.get('vary') ?? '', /origin/i);
        assert.equal((await res.arrayBuffer()).byteLength, 0);
      }
      // The same for the other viewer endpoints.
      for (const path of ['/v1/heartbeat', `/v1/license/hls/${kids[0]}`]) {
        const res = await preflight(GOOD, path);
        assert.equal(res.status, 204, path);
        assert.equal(res.headers.get('access-control-allow-origin'), GOOD);
      }
    });

    it('echoes the origin on the license and exposes the watermark header', async () => {
      const res = await license(GOOD);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('access-control-allow-origin'), GOOD);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
      assert.ok(exposed.split(/\s*,\s*/).includes('vigil-watermark'), exposed);
      assert.ok(res.headers.get('vigil-watermark'));
      // A refusal from an allowed origin is readable by the page too.
      const refused = await license(GOOD, await viewerToken(server.secret, { ip: '10.1.2.3' }));
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'ip_mismatch');
      assert.equal(refused.headers.get('access-control-allow-origin'), GOOD);
    });

    it('sends no CORS headers to requests without an Origin', async () => {
      const res = await license(undefined);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(res.headers.get('access-control-allow-credentials'), null);
    });

    it("refuses origins the tenant doesn't allow, once it lists them", async () => {
      const set = await call(`${server.url}/v1/tenant`, {
        method: 'PUT',
        token: server.apiKey,
        body: { allowedOrigins: [GOOD] },
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual(set.body.allowedOrigins, [GOOD]);

      const evil = await license(EVIL);
      assert.equal(evil.status, 403, JSON.stringify(evil.body));
      assert.equal(evil.body.code, 'origin_not_allowed');
      assert.equal(evil.headers.get('access-control-allow-origin'), null);
      assert.equal(evil.headers.get('access-control-allow-credentials'), null);
      assert.equal('keys' in evil.body, false);
      assert.equal(evil.headers.get('vigil-watermark'), null);

      const evilHb = await call(`${server.url}/v1/heartbeat`, {
        method: 'POST',
        token: await viewerToken(server.secret),
        headers: { origin: EVIL },
      });
      assert.equal(evilHb.status, 403);
      assert.equal(evilHb.body.code, 'origin_not_allowed');

      const evilPreflight = await preflight(EVIL);
      assert.equal(evilPreflight.status, 403);
      assert.equal(evilPreflight.headers.get('access-control-allow-origin'), null);
      assert.equal(((await evilPreflight.json()) as { code: string }).code, 'origin_not_allowed');

      const good = await license(GOOD);
      assert.equal(good.status, 200, JSON.stringify(good.body));
      assert.equal(good.headers.get('access-control-allow-origin'), GOOD);
      const goodPreflight = await preflight(GOOD);
      assert.equal(goodPreflight.status, 204);
      assert.equal(goodPreflight.headers.get('access-control-allow-origin'), GOOD);

      // Origins are compared exactly: no suffix, scheme or port tricks.
      for (const origin of ['https://good.example.evil.example', 'http://good.example', `${GOOD}:8443`]) {
        const res = await license(origin);
        assert.equal(res.status, 403, origin);
        assert.equal(res.body.code, 'origin_not_allowed', origin);
        assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      }
      // Server-to-server calls carry no Origin and are not affected.
      assert.equal((await license(undefined)).status, 200);

      const reset = await call(`${server.url}/v1/tenant`, {
        method: 'PUT',
        token: server.apiKey,
        body: { allowedOrigins: ['*'] },
      });
      assert.equal(reset.status, 200);
      assert.equal((await license(EVIL)).status, 200);
    });
  });

  describe('operations', () => {
    it('publishes an OpenAPI document of the API', async () => {
      const res = await call(`${server.url}/docs/json`);
      assert.equal(res.status, 200);
      assert.match(String(res.body.openapi), /^3\./);
      for (const path of [
        '/v1/license/clearkey',
        '/v1/bans',
        '/v1/watermark',
        '/v1/heartbeat',
        '/v1/stats',
      ]) {
        assert.ok(res.body.paths[path], `${path} is documented`);
      }
      assert.ok(res.body.paths['/v1/license/clearkey'].post);
      assert.ok(res.body.paths['/v1/bans'].post);
      assert.ok(res.body.paths['/v1/watermark'].put);
    });

    it('answers /healthz', async () => {
      const res = await call(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(res.body.status, 'ok');
    });

    it('exposes Prometheus metrics', async () => {
      await license(undefined);
      // A platform API key reads the metrics (anonymous requests are refused: token-confusion.test.ts).
      const res = await call(`${server.url}/metrics`, { token: server.apiKey });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(res.body, /# TYPE vigil_license_requests_total counter/);
      assert.match(res.body, /vigil_license_requests_total\{[^}]*outcome="granted"[^}]*\} [1-9]/);
      assert.match(res.body, /vigil_license_duration_seconds_bucket/);
    });

    it('counts granted and denied requests by reason in /v1/stats', async () => {
      const stats = async () => {
        const res = await call(`${server.url}/v1/stats?minutes=5`, { token: server.apiKey });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body;
      };
      const beforeCounts = (await stats()).totals;
      const granted = 3;
      for (let i = 0; i < granted; i++) assert.equal((await license(undefined)).status, 200);
      const mismatch = await viewerToken(server.secret, { ip: '10.1.2.3' });
      for (let i = 0; i < 2; i++) assert.equal((await license(undefined, mismatch)).status, 403);
      const token = await viewerToken(server.secret);
      const unknown = await call(`${server.url}/v1/license/clearkey`, {
        token,
        body: { kids: [kidB64('00112233445566778899aabbccddeeff')] },
      });
      assert.equal(unknown.status, 404);

      const after_ = await stats();
      assert.equal(after_.minutes.length, 5);
      for (const m of after_.minutes) assert.ok(!Number.isNaN(Date.parse(m.minute)));
      const { totals } = after_;
      assert.equal(totals.granted - beforeCounts.granted, granted);
      assert.equal(totals.denied - beforeCounts.denied, 3);
      assert.equal((totals.denials.ip_mismatch ?? 0) - (beforeCounts.denials.ip_mismatch ?? 0), 2);
      assert.equal((totals.denials.unknown_kid ?? 0) - (beforeCounts.denials.unknown_kid ?? 0), 1);
      // The per-minute rows add up to the totals.
      const sum = after_.minutes.reduce((n: number, m: { granted: number }) => n + m.granted, 0);
      assert.equal(sum, totals.granted);

      const unauth = await call(`${server.url}/v1/stats`);
      assert.equal(unauth.status, 401);
      assert.equal(unauth.body.code, 'api_key_missing');
    });

    it('renders the stats as a PNG chart', async () => {
      const res = await call(`${server.url}/v1/stats/chart.png?minutes=30`, { token: server.apiKey });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.ok(res.raw.length > 100, `${res.raw.length} bytes`);
      assert.deepEqual(res.raw.subarray(0, 8), PNG_SIGNATURE);
      assert.equal(res.raw.subarray(12, 16).toString('latin1'), 'IHDR');
      const unauth = await call(`${server.url}/v1/stats/chart.png`);
      assert.equal(unauth.status, 401);
    });
  });
});
