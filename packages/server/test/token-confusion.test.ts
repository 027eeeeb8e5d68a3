/**
 * Token confusion: every kind of credential Vigil takes, presented to every endpoint family. Each family
 * accepts its own kind only and refuses every other with a clear code (`token_wrong_type` wherever the
 * credential can be recognised); the seed's admin tokens are accepted only shortly after their `iat`;
 * short HS256 secrets stop `vigil serve` with one line; `/metrics` needs a credential; a revoked
 * VIGIL_API_KEY stays revoked across restarts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyGrantKeyLabel, signKeyGrant } from '@vigil/core';
import { type JWTPayload, SignJWT } from 'jose';
import {
  call,
  createKeys,
  kidB64,
  runCli,
  spawnVigil,
  startVigil,
  type TestServer,
  tempDir,
  viewerToken,
} from '../../../test/support/vigil.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const RESOURCE = 'movie-1';

/** HS256 without typ or exp, as the seed's `jsonwebtoken` signs (it adds `iat`). */
const seedSign = (payload: JWTPayload, secret: string) =>
  new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(secret));

type Kind =
  | 'viewer'
  | 'compat-viewer'
  | 'compat-admin'
  | 'key-grant'
  | 'hls-grant'
  | 'delivery'
  | 'platform-key'
  | 'readonly-key'
  | 'metrics-token'
  | 'console-session';

type Family =
  | 'license'
  | 'hls-key'
  | 'heartbeat'
  | 'delivery-issue'
  | 'compat-ck'
  | 'compat-np'
  | 'compat-get'
  | 'compat-graph'
  | 'control'
  | 'delivery-sign'
  | 'origin'
  | 'metrics';

/** What each family takes. */
const OWN: Record<Family, Kind[]> = {
  license: ['viewer'],
  'hls-key': ['viewer', 'hls-grant'],
  heartbeat: ['viewer'],
  'delivery-issue': ['viewer'],
  'compat-ck': ['compat-viewer'],
  'compat-np': ['compat-viewer'],
  'compat-get': ['compat-admin'],
  'compat-graph': ['compat-admin'],
  control: ['platform-key', 'readonly-key'],
  'delivery-sign': ['platform-key'],
  origin: ['delivery'],
  metrics: ['platform-key', 'metrics-token'],
};

/** The seed's API answers every refusal but a ban with 400 (its status codes), with the same codes. */
const COMPAT = new Set<Family>(['compat-ck', 'compat-np', 'compat-get', 'compat-graph']);

/** The one refusal code expected when `kind` is presented to `family`. */
function expectedCode(family: Family, kind: Kind): string {
  if (family === 'origin') return 'delivery_malformed';
  // Random secrets look like nothing: each family says its own credential is bad.
  if (kind === 'metrics-token') {
    if (family === 'control' || family === 'delivery-sign') return 'api_key_invalid';
    return 'token_malformed';
  }
  if (kind === 'readonly-key' && (family === 'metrics' || family === 'delivery-sign')) return 'forbidden';
  return 'token_wrong_type';
}

function expectedStatus(family: Family, code: string): number {
  if (COMPAT.has(family)) return code === 'token_wrong_type' ? 401 : 400;
  if (family === 'origin' || code === 'forbidden') return 403;
  return 401;
}

describe('token confusion', () => {
  let server: TestServer;
  let kids: string[];
  const metricsToken = `metrics-${randomBytes(16).toString('hex')}`;
  const tokens = {} as Record<Kind, string>;

  before(async () => {
    server = await startVigil({ config: { metricsToken } });
    kids = await createKeys(server, RESOURCE, 1);
    const folder = join(server.dataDir!, 'origin', 'default', RESOURCE);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'manifest.mpd'), '<MPD/>');

    tokens.viewer = await viewerToken(server.secret, { resourceId: RESOURCE, sessionId: 'viewer-1' });
    tokens['compat-viewer'] = await seedSign(
      { sessionId: 'seed-1', resourceId: RESOURCE, createdAt: nowSeconds(), userIP: '127.0.0.1' },
      server.secret,
    );
    tokens['compat-admin'] = await seedSign({ iat: nowSeconds() }, server.secret);
    // A JWT claiming a purpose that is not a JWT's: typed, with every viewer claim besides.
    tokens['key-grant'] = await viewerToken(server.secret, { resourceId: RESOURCE, typ: 'hls-key' });
    // A real HLS key grant, as the origin writes into key URIs (kg1., its own derived secret).
    tokens['hls-grant'] = signKeyGrant(
      { tenantId: 'default', sessionId: 'grant-1', resourceId: RESOURCE, expiresAt: Date.now() + 600_000 },
      server.store.envelope.deriveKey(keyGrantKeyLabel('default')),
    );
    const issued = await call(`${server.url}/v1/delivery`, { method: 'POST', token: tokens.viewer });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    tokens.delivery = issued.body.token;
    tokens['platform-key'] = server.apiKey;
    const readonly = await call(`${server.url}/v1/apikeys`, {
      token: server.apiKey,
      body: { role: 'readonly', name: 'confusion' },
    });
    assert.equal(readonly.status, 201);
    tokens['readonly-key'] = readonly.body.key;
    tokens['metrics-token'] = metricsToken;
    // A real console session cookie: it works as the cookie only, never as a bearer credential.
    const operator = await call(`${server.url}/v1/operators`, {
      token: server.apiKey,
      body: { name: 'confused', role: 'platform', password: 'confused-operator-1' },
    });
    assert.equal(operator.status, 201, JSON.stringify(operator.body));
    const signedIn = await call(`${server.url}/v1/console/session`, {
      body: { username: 'confused', password: 'confused-operator-1' },
    });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    tokens['console-session'] = /vigil_console=([^;]+)/.exec(signedIn.headers.get('set-cookie') ?? '')![1]!;
  });
  after(() => server.close());

  const present: Record<Family, (token: string) => ReturnType<typeof call>> = {
    license: (token) =>
      call(`${server.url}/v1/license/clearkey`, {
        token,
        body: { kids: kids.map(kidB64), type: 'temporary' },
      }),
    // Key grants travel in the key URI's `kg`, everything else as `token`.
    'hls-key': (token) =>
      call(
        `${server.url}/v1/license/hls/${kids[0]}?${token.startsWith('kg1.') ? 'kg' : 'token'}=${encodeURIComponent(token)}`,
      ),
    heartbeat: (token) => call(`${server.url}/v1/heartbeat`, { method: 'POST', token }),
    'delivery-issue': (token) => call(`${server.url}/v1/delivery`, { method: 'POST', token }),
    'compat-ck': (token) =>
      call(`${server.url}/qualabs/ck/?token=${encodeURIComponent(token)}`, {
        body: { kids: kids.map(kidB64), type: 'temporary' },
      }),
    'compat-np': (token) =>
      call(`${server.url}/qualabs/np/?token=${encodeURIComponent(token)}`, { body: { kids: [] } }),
    'compat-get': (token) =>
      call(`${server.url}/qualabs/get/`, { rawBody: token, headers: { 'content-type': 'text/plain' } }),
    'compat-graph': (token) => call(`${server.url}/qualabs/graph/?token=${encodeURIComponent(token)}`),
    control: (token) => call(`${server.url}/v1/bans`, { token }),
    'delivery-sign': (token) =>
      call(`${server.url}/v1/delivery/sign`, { token, body: { resourceId: RESOURCE } }),
    origin: (token) =>
      call(`${server.url}/origin/default/${RESOURCE}/manifest.mpd?vd=${encodeURIComponent(token)}`),
    metrics: (token) => call(`${server.url}/metrics`, { token }),
  };

  for (const family of Object.keys(OWN) as Family[]) {
    it(`${family}: takes ${OWN[family].join(' and ')}, refuses every other credential`, async () => {
      for (const kind of Object.keys(tokens) as Kind[]) {
        const res = await present[family](tokens[kind]);
        const what = `${kind} at ${family}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
        if (OWN[family].includes(kind)) {
          assert.equal(res.status, 200, what);
          continue;
        }
        const code = expectedCode(family, kind);
        assert.equal(res.status, expectedStatus(family, code), what);
        assert.equal(res.body.code, code, what);
        assert.ok(typeof res.body.message === 'string' && res.body.message.length > 0, what);
        if (code === 'token_wrong_type') {
          assert.match(res.body.message, /^this is (a|an) [A-Za-z -]+; expected /, what);
        }
      }
    });
  }

  it("refuses a viewer's own token as a compat admin call: no ban list, no ban, no config change", async () => {
    await call(`${server.url}/v1/bans`, { token: server.apiKey, body: { ip: '203.0.113.7', reason: 'x' } });
    const before = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
    for (const kind of ['viewer', 'compat-viewer'] as const) {
      for (const path of ['get', 'ban', 'config']) {
        const res = await call(`${server.url}/qualabs/${path}/`, {
          rawBody: JSON.stringify(tokens[kind]),
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.status, 401, `${kind} ${path}`);
        assert.equal(res.body.code, 'token_wrong_type', `${kind} ${path}`);
        assert.equal(res.body.banned, undefined);
      }
    }
    // The viewer claims plus the admin ones are still a viewer's token.
    const forged = await viewerToken(server.secret, { resourceId: RESOURCE, ban: true, watermarking: false });
    for (const path of ['get', 'ban', 'config']) {
      const res = await call(`${server.url}/qualabs/${path}/`, {
        rawBody: forged,
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(res.status, 401, path);
      assert.equal(res.body.code, 'token_wrong_type', path);
    }
    assert.deepEqual((await call(`${server.url}/v1/watermark`, { token: server.apiKey })).body, before.body);
    const bans = await call(`${server.url}/v1/bans`, { token: server.apiKey });
    assert.deepEqual(
      bans.body.bans.map((b: { value: string }) => b.value),
      ['203.0.113.7'],
    );
  });

  it('accepts compat admin tokens only within the window after their iat', async () => {
    const at = (age: number) => seedSign({ iat: nowSeconds() - age }, server.secret);
    assert.equal((await present['compat-get'](await at(200))).status, 200);
    for (const age of [400, 3600, 30 * 86_400]) {
      const res = await present['compat-get'](await at(age));
      assert.equal(res.status, 400, `${age} s old`);
      assert.equal(res.body.code, 'token_expired', `${age} s old`);
      assert.match(res.body.message, /300 s/);
      const graph = await present['compat-graph'](await at(age));
      assert.equal(graph.body.code, 'token_expired');
    }
    const future = await present['compat-get'](await at(-3600));
    assert.equal(future.body.code, 'token_not_yet_valid');
    const noIat = await present['compat-get'](
      await new SignJWT({ watermarking: true })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(server.secret)),
    );
    assert.equal(noIat.status, 400);
    assert.equal(noIat.body.code, 'token_claims_invalid');
  });

  it('refuses anonymous /metrics with 401', async () => {
    const anonymous: Record<string, string>[] = [
      {},
      { authorization: 'Bearer ' },
      { authorization: `Basic ${metricsToken}` },
    ];
    for (const headers of anonymous) {
      const res = await call(`${server.url}/metrics`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(res.body.code, 'metrics_credential_missing');
      assert.doesNotMatch(res.raw.toString(), /vigil_license_requests_total/);
    }
    const wrong = await call(`${server.url}/metrics`, { token: `${metricsToken}x` });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'metrics_credential_invalid');
  });
});

describe('vigil serve: secrets, the compat admin secret, metrics and API key revocation', () => {
  const masterKey = '44'.repeat(32);
  const jwtSecret = `confusion-${randomBytes(16).toString('hex')}`;
  let dataDir: string;
  before(() => {
    dataDir = tempDir();
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses HS256 secrets shorter than 32 bytes at start, with one line', async () => {
    for (const [name, value] of [
      ['VIGIL_JWT_SECRET', 'short-secret'],
      ['VIGIL_JWT_SECRET', 'x'.repeat(31)],
      ['VIGIL_COMPAT_ADMIN_SECRET', 'tiny'],
    ] as const) {
      const env = { VIGIL_MASTER_KEY: masterKey, VIGIL_JWT_SECRET: jwtSecret, [name]: value };
      const res = await runCli(['serve', '--port', '0', '--data', dataDir], env);
      assert.equal(res.code, 1, `${name}: ${res.stderr}`);
      const lines = res.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(
        lines[0]!,
        new RegExp(
          `^vigil: ${name} is ${Buffer.byteLength(value)} bytes; HS256 secrets must be at least 32 bytes`,
        ),
      );
      assert.doesNotMatch(res.stderr, new RegExp(value), 'the secret itself is never printed');
      assert.equal(res.stdout, '');
    }
  });

  it('verifies compat admin calls with VIGIL_COMPAT_ADMIN_SECRET, within VIGIL_COMPAT_ADMIN_TOKEN_MAX_AGE', async () => {
    const adminSecret = `compat-admin-${randomBytes(16).toString('hex')}`;
    const apiKey = `vk_confusion_${randomBytes(16).toString('hex')}`;
    const server = await spawnVigil(['--data', dataDir], {
      VIGIL_MASTER_KEY: masterKey,
      VIGIL_JWT_SECRET: jwtSecret,
      VIGIL_API_KEY: apiKey,
      VIGIL_COMPAT_ADMIN_SECRET: adminSecret,
      VIGIL_COMPAT_ADMIN_TOKEN_MAX_AGE: '60',
    });
    try {
      const get = (token: string) =>
        call(`${server.url}/qualabs/get/`, { rawBody: token, headers: { 'content-type': 'text/plain' } });
      const fresh = await get(await seedSign({ iat: nowSeconds() }, adminSecret));
      assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
      assert.deepEqual(fresh.body.banned, []);
      // The viewer-token secret no longer signs admin calls.
      const withViewerSecret = await get(await seedSign({ iat: nowSeconds() }, jwtSecret));
      assert.equal(withViewerSecret.status, 400);
      assert.equal(withViewerSecret.body.code, 'token_invalid');
      // The configured window.
      assert.equal((await get(await seedSign({ iat: nowSeconds() - 45 }, adminSecret))).status, 200);
      const old = await get(await seedSign({ iat: nowSeconds() - 120 }, adminSecret));
      assert.equal(old.status, 400);
      assert.equal(old.body.code, 'token_expired');
      assert.match(old.body.message, /60 s/);
      // An admin token signed with the admin secret doesn't even verify as a viewer token.
      const asViewer = await call(`${server.url}/v1/heartbeat`, {
        method: 'POST',
        token: await seedSign({ iat: nowSeconds() }, adminSecret),
      });
      assert.equal(asViewer.status, 401);
      assert.equal(asViewer.body.code, 'token_invalid');
      // Viewers are unaffected.
      const viewer = await viewerToken(jwtSecret, { sessionId: 'v' });
      assert.equal((await call(`${server.url}/v1/heartbeat`, { method: 'POST', token: viewer })).status, 200);
      // Metrics: refused anonymously, open to the platform key.
      assert.equal((await call(`${server.url}/metrics`)).status, 401);
      assert.equal((await call(`${server.url}/metrics`, { token: apiKey })).status, 200);
    } finally {
      await server.stop();
    }
  });

  it('opens /metrics with VIGIL_METRICS_PUBLIC=1 and takes VIGIL_METRICS_TOKEN', async () => {
    const metricsToken = `scrape-${randomBytes(16).toString('hex')}`;
    const env = { VIGIL_MASTER_KEY: masterKey, VIGIL_JWT_SECRET: jwtSecret };
    const closed = await spawnVigil(['--data', dataDir], { ...env, VIGIL_METRICS_TOKEN: metricsToken });
    try {
      const anonymous = await call(`${closed.url}/metrics`);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.code, 'metrics_credential_missing');
      const scraped = await call(`${closed.url}/metrics`, { token: metricsToken });
      assert.equal(scraped.status, 200);
      assert.match(scraped.raw.toString(), /# TYPE vigil_license_requests_total counter/);
    } finally {
      await closed.stop();
    }
    const open = await spawnVigil(['--data', dataDir], { ...env, VIGIL_METRICS_PUBLIC: '1' });
    try {
      const res = await call(`${open.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.raw.toString(), /# TYPE vigil_license_requests_total counter/);
    } finally {
      await open.stop();
    }
  });

  it('keeps a revoked VIGIL_API_KEY revoked across restarts', async () => {
    const apiKey = `vk_seeded_${randomBytes(16).toString('hex')}`;
    const env = { VIGIL_MASTER_KEY: masterKey, VIGIL_JWT_SECRET: jwtSecret, VIGIL_API_KEY: apiKey };
    const first = await spawnVigil(['--data', dataDir], env);
    try {
      assert.equal((await call(`${first.url}/v1/bans`, { token: apiKey })).status, 200);
      const revoked = await call(`${first.url}/v1/apikeys/${apiKey.slice(0, 8)}`, {
        method: 'DELETE',
        token: apiKey,
      });
      assert.equal(revoked.status, 204);
      const refused = await call(`${first.url}/v1/bans`, { token: apiKey });
      assert.equal(refused.status, 401);
      assert.equal(refused.body.code, 'api_key_invalid');
    } finally {
      await first.stop();
    }
    for (let restart = 0; restart < 2; restart++) {
      const again = await spawnVigil(['--data', dataDir], env);
      try {
        const res = await call(`${again.url}/v1/bans`, { token: apiKey });
        assert.equal(res.status, 401, `restart ${restart + 1}`);
        assert.equal(res.body.code, 'api_key_invalid');
        assert.equal((await call(`${again.url}/metrics`, { token: apiKey })).status, 401);
      } finally {
        await again.stop();
      }
    }
    const list = await runCli(['apikey', 'list', '--data', dataDir], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${apiKey.slice(0, 8)}.*revoked`));
  });
});
