/**
 * The seed system's key server API under /qualabs, driven the way its sample integration, player and
 * admin page drive it: seed-style viewer tokens (createdAt, userIP, no exp) in `?token=`, and admin
 * calls whose body is a bare JWT (text/plain) or a JSON-quoted one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type JWTPayload, SignJWT } from 'jose';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Signs like the seed does: HS256, no typ, no iat/exp added. */
const sign = (payload: JWTPayload, secret: string) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
/** Signs an admin call like the seed's admin page does (`jsonwebtoken`: HS256, `iat` added, no `exp`). */
const signAdmin = (payload: JWTPayload, secret: string) => sign({ iat: nowSeconds(), ...payload }, secret);

describe('seed-compatible API (/qualabs)', () => {
  let server: TestServer;
  let base: string;
  let kids: string[];
  let otherKids: string[];

  const seedToken = (claims: Record<string, unknown> = {}, secret = server.secret) =>
    sign(
      {
        sessionId: 'seed-session',
        resourceId: 'movie-1',
        createdAt: nowSeconds(),
        userIP: '127.0.0.1',
        ...claims,
      },
      secret,
    );

  const ck = (token: string, requestKids = kids) =>
    call(`${base}/ck/?token=${token}`, { body: { kids: requestKids.map(kidB64), type: 'temporary' } });

  const np = (token: string) =>
    call(`${base}/np/?token=${token}`, { body: { kids: kids.map(kidB64), type: 'temporary' } });

  /** An admin call: the JWT as the whole body (text/plain, as the admin page sends it) or JSON-quoted. */
  const admin = async (
    path: 'config' | 'ban' | 'get',
    payload: JWTPayload,
    opts: { as?: 'text' | 'json'; secret?: string } = {},
  ) => {
    const jwt = await signAdmin(payload, opts.secret ?? server.secret);
    const json = opts.as === 'json';
    return call(`${base}/${path}/`, {
      rawBody: json ? JSON.stringify(jwt) : jwt,
      headers: { 'content-type': json ? 'application/json' : 'text/plain;charset=UTF-8' },
    });
  };

  const getState = async () => {
    const res = await admin('get', {});
    assert.equal(res.status, 200);
    return res.body as { watermarking: boolean; banned: string[]; wmOptions: Record<string, unknown> };
  };

  const decodeLicense = (license: string) => {
    assert.match(license, /^[A-Za-z0-9+/]+={0,2}$/, 'license is standard base64');
    return JSON.parse(Buffer.from(license, 'base64').toString('utf8'));
  };

  before(async () => {
    server = await startVigil();
    base = `${server.url}/qualabs`;
    kids = await createKeys(server, 'movie-1', 2);
    otherKids = await createKeys(server, 'movie-2', 1);
  });
  after(() => server.close());

  it('answers /ck/ with the same ClearKey license as the v1 endpoint, base64-encoded', async () => {
    const res = await ck(await seedToken());
    assert.equal(res.status, 200);
    assert.equal(res.body.sessionId, 'seed-session');
    assert.equal(typeof res.body.watermarking, 'boolean');
    assert.deepEqual(res.body.wmOptions, {});
    const license = decodeLicense(res.body.license);
    assert.equal(license.type, 'temporary');
    assert.deepEqual(
      license.keys.map((k: { kid: string }) => k.kid),
      kids.map(kidB64),
    );
    for (const key of license.keys) assert.equal(key.kty, 'oct');

    const v1 = await call(`${server.url}/v1/license/clearkey`, {
      token: await viewerToken(server.secret, { sessionId: 'v1-session', resourceId: 'movie-1' }),
      body: { kids: kids.map(kidB64), type: 'temporary' },
    });
    assert.equal(v1.status, 200);
    assert.deepEqual(license.keys, v1.body.keys);
  });

  it('answers /np/ with the watermark instructions and an empty license', async () => {
    const res = await np(await seedToken({ sessionId: 'np-session' }));
    assert.equal(res.status, 200);
    assert.equal(res.body.sessionId, 'np-session');
    assert.equal(res.body.license, '');
    assert.equal(typeof res.body.watermarking, 'boolean');
    assert.deepEqual(res.body.wmOptions, {});
  });

  it('switches watermarking off and on with /config/, reflected in /get/, /ck/, /np/ and v1', async () => {
    const offOptions = { size: 0.5, color: '#ff0000', position: { top: 10, left: 20 } };
    const off = await admin('config', { watermarking: false, wmOptions: offOptions });
    assert.equal(off.status, 200);
    assert.equal(off.body, 'OK');
    assert.match(off.headers.get('content-type') ?? '', /^text\/plain/);
    assert.deepEqual(await getState(), { watermarking: false, banned: [], wmOptions: offOptions });

    const token = await seedToken();
    const ckOff = await ck(token);
    assert.equal(ckOff.status, 200);
    assert.equal(ckOff.body.watermarking, false);
    assert.deepEqual(ckOff.body.wmOptions, offOptions);
    const npOff = await np(token);
    assert.equal(npOff.body.watermarking, false);
    assert.deepEqual(npOff.body.wmOptions, offOptions);
    const v1Off = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
    assert.equal(v1Off.body.enabled, false);

    // The same call with the JWT sent JSON-quoted.
    const onOptions = { size: 1, opacity: 0.3 };
    const on = await admin('config', { watermarking: true, wmOptions: onOptions }, { as: 'json' });
    assert.equal(on.status, 200);
    assert.equal(on.body, 'OK');
    assert.deepEqual(await getState(), { watermarking: true, banned: [], wmOptions: onOptions });
    const ckOn = await ck(token);
    assert.equal(ckOn.body.watermarking, true);
    assert.deepEqual(ckOn.body.wmOptions, onOptions);
    const v1On = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
    assert.equal(v1On.body.enabled, true);

    // A script posting the bare JWT with no content type at all is understood too.
    const bare = await call(`${base}/get/`, {
      method: 'POST',
      rawBody: Buffer.from(await signAdmin({}, server.secret)),
    });
    assert.equal(bare.status, 200);
    assert.equal(bare.body.watermarking, true);
  });

  it("maps the seed admin page's colour and id options onto the directive a license carries", async () => {
    const directive = async () => {
      const res = await call(`${server.url}/v1/license/clearkey`, {
        token: await viewerToken(server.secret, { sessionId: 'mode-viewer', resourceId: 'movie-1' }),
        body: { kids: kids.map(kidB64), type: 'temporary' },
      });
      assert.equal(res.status, 200);
      return JSON.parse(Buffer.from(res.headers.get('vigil-watermark') ?? '', 'base64url').toString('utf8'));
    };
    // The seed's colour box: x is its top and y its left (percent of the player), width/height pixels.
    const color = { type: 'color', x: 80, y: 5, width: 24, height: 16 };
    const set = await admin('config', { watermarking: true, wmOptions: color });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(await getState(), { watermarking: true, banned: [], wmOptions: color });
    const colored = await directive();
    assert.equal(colored.enabled, true);
    assert.equal(colored.mode, 'color');
    assert.deepEqual(colored.box, { x: 5, y: 80, width: 24, height: 16, sizeUnit: 'px' });
    assert.equal(colored.sessionId, 'mode-viewer');
    const v1 = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
    assert.deepEqual(v1.body.box, colored.box);

    const id = { type: 'id' };
    assert.equal((await admin('config', { watermarking: true, wmOptions: id }, { as: 'json' })).status, 200);
    assert.deepEqual(await getState(), { watermarking: true, banned: [], wmOptions: id });
    assert.equal((await directive()).mode, 'text');

    // Bad options are refused, naming the field, and change nothing.
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ type: 'blink' }, /wmOptions.type/],
      [{ type: 'color', x: 100, y: 5, width: 24, height: 16 }, /wmOptions.x/],
      [{ type: 'color', x: 10, y: -1, width: 24, height: 16 }, /wmOptions.y/],
      [{ type: 'color', x: 10, y: 5, width: 0, height: 16 }, /wmOptions.width/],
      [{ type: 'color', x: 10, y: 5, width: 24, height: 1e6 }, /wmOptions.height/],
      [{ type: 'color', x: '10', y: 5, width: 24, height: 16 }, /wmOptions.x/],
      [{ type: 'color', x: 10, y: 5, width: 24 }, /wmOptions.height/],
    ];
    for (const [wmOptions, message] of bad) {
      const res = await admin('config', { watermarking: true, wmOptions });
      assert.equal(res.status, 400, JSON.stringify(wmOptions));
      assert.equal(res.body.code, 'invalid_request');
      assert.match(res.body.message, message);
    }
    assert.deepEqual(await getState(), { watermarking: true, banned: [], wmOptions: id });
    assert.equal((await directive()).mode, 'text');

    // Empty options again for the cases below (no type: the mode stays).
    assert.equal((await admin('config', { watermarking: true, wmOptions: {} })).status, 200);
  });

  it('bans and unbans a session: /ck/ and /np/ answer 451, /get/ lists it', async () => {
    const banned = await seedToken({ sessionId: 'pirate-session' });
    const bystander = await seedToken({ sessionId: 'honest-session' });
    assert.equal((await ck(banned)).status, 200);

    const ban = await admin('ban', { sessionId: 'pirate-session', ban: true });
    assert.equal(ban.status, 200);
    assert.equal(ban.body, 'OK');
    const refused = await ck(banned);
    assert.equal(refused.status, 451);
    assert.equal(refused.body.statusCode, 451);
    assert.equal(refused.body.code, 'banned');
    assert.equal((await np(banned)).status, 451);
    assert.equal((await ck(bystander)).status, 200);
    assert.deepEqual((await getState()).banned, ['pirate-session']);
    // The ban is a real Vigil ban: the v1 API sees it too.
    const v1Bans = await call(`${server.url}/v1/bans`, { token: server.apiKey });
    assert.deepEqual(
      v1Bans.body.bans.map((b: { kind: string; value: string }) => [b.kind, b.value]),
      [['session', 'pirate-session']],
    );

    const unban = await admin('ban', { sessionId: 'pirate-session', ban: false }, { as: 'json' });
    assert.equal(unban.status, 200);
    assert.equal(unban.body, 'OK');
    assert.equal((await ck(banned)).status, 200);
    assert.deepEqual((await getState()).banned, []);
  });

  it('bans an IP when the ban names an IP instead of a session', async () => {
    const ban = await admin('ban', { sessionId: '127.0.0.1', ban: true }, { as: 'json' });
    assert.equal(ban.status, 200);
    try {
      assert.equal((await ck(await seedToken({ sessionId: 'any-session' }))).status, 451);
      assert.equal((await np(await seedToken({ sessionId: 'another-session' }))).status, 451);
      assert.deepEqual((await getState()).banned, ['127.0.0.1']);
      const v1Bans = await call(`${server.url}/v1/bans`, { token: server.apiKey });
      assert.deepEqual(
        v1Bans.body.bans.map((b: { kind: string; value: string }) => [b.kind, b.value]),
        [['ip', '127.0.0.1']],
      );
    } finally {
      assert.equal((await admin('ban', { sessionId: '127.0.0.1', ban: false })).status, 200);
    }
    assert.equal((await ck(await seedToken({ sessionId: 'any-session' }))).status, 200);
    assert.deepEqual((await getState()).banned, []);
  });

  it('honours createdAt: valid for 4 hours, refused with 400 once expired or when in the future', async () => {
    assert.equal((await ck(await seedToken({ createdAt: nowSeconds() - 3 * 3600 }))).status, 200);
    const expired = await ck(await seedToken({ createdAt: nowSeconds() - 5 * 3600 }));
    assert.equal(expired.status, 400);
    assert.equal(expired.body.code, 'token_expired');
    assert.equal(expired.body.statusCode, 400);
    assert.equal((await np(await seedToken({ createdAt: nowSeconds() - 5 * 3600 }))).status, 400);
    const future = await ck(await seedToken({ createdAt: nowSeconds() + 3600 }));
    assert.equal(future.status, 400);
    assert.equal(future.body.code, 'token_not_yet_valid');
  });

  it('refuses with 400 a token bound to another IP, a bad signature, or bad claims', async () => {
    const mismatch = await ck(await seedToken({ userIP: '203.0.113.9' }));
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.code, 'ip_mismatch');

    const forged = await ck(await seedToken({}, 'not-the-tenant-secret'));
    assert.equal(forged.status, 400);
    assert.equal(forged.body.code, 'token_invalid');

    const good = await seedToken();
    const [h, p, s] = good.split('.') as [string, string, string];
    const tamperedPayload = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), resourceId: 'movie-2' }),
    ).toString('base64url');
    assert.equal((await ck(`${h}.${tamperedPayload}.${s}`, otherKids)).status, 400);

    for (const claims of [
      { sessionId: undefined },
      { resourceId: 42 },
      { createdAt: String(nowSeconds()) },
      { userIP: 'not-an-ip' },
      { userIP: undefined },
    ]) {
      const res = await ck(await seedToken(claims));
      assert.equal(res.status, 400, JSON.stringify(claims));
    }
    // A valid token never grants another resource's keys.
    assert.equal((await ck(good, otherKids)).status, 400);
  });

  it('ignores admin JWTs signed with another secret (400, nothing changed)', async () => {
    const before = await getState();
    const wrong = 'the-wrong-secret-0123456789abcdef';
    const config = await admin(
      'config',
      { watermarking: !before.watermarking, wmOptions: { x: 1 } },
      { secret: wrong },
    );
    assert.equal(config.status, 400);
    const ban = await admin('ban', { sessionId: 'victim-session', ban: true }, { secret: wrong, as: 'json' });
    assert.equal(ban.status, 400);
    assert.equal((await admin('get', {}, { secret: wrong })).status, 400);
    assert.deepEqual(await getState(), before);
    assert.equal((await ck(await seedToken({ sessionId: 'victim-session' }))).status, 200);
  });

  it('answers malformed requests with 400, never 500', async () => {
    const token = await seedToken();
    const post = (path: string, rawBody: string | undefined, contentType = 'application/json') =>
      call(`${base}${path}`, {
        method: 'POST',
        ...(rawBody === undefined ? {} : { rawBody, headers: { 'content-type': contentType } }),
      });
    const jwtOf = (payload: JWTPayload) => signAdmin(payload, server.secret);
    const unsigned = (payload: object) =>
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

    const cases: [string, string | undefined, string?][] = [
      // License requests.
      [`/ck/?token=${token}`, undefined],
      [`/ck/?token=${token}`, ''],
      [`/ck/?token=${token}`, 'not json'],
      [`/ck/?token=${token}`, 'null'],
      [`/ck/?token=${token}`, '[]'],
      [`/ck/?token=${token}`, '"kids"'],
      [`/ck/?token=${token}`, '{}'],
      [`/ck/?token=${token}`, '{"kids":"abc"}'],
      [`/ck/?token=${token}`, '{"kids":[]}'],
      [`/ck/?token=${token}`, '{"kids":[42]}'],
      [`/ck/?token=${token}`, '{"kids":["%%%"]}'],
      [`/ck/?token=${token}`, '{"kids":["AAAA"]}'],
      [`/ck/?token=${token}`, JSON.stringify({ kids: [kidB64('00'.repeat(16))] })],
      [`/ck/?token=${token}`, JSON.stringify({ kids: kids.map(kidB64), type: 'forever' })],
      [`/ck/?token=${token}`, JSON.stringify({ kids: Array(65).fill(kidB64(kids[0]!)) })],
      [`/ck/?token=${token}`, JSON.stringify({ kids: [kidB64(kids[0]!)], pad: 'x'.repeat(20_000) })],
      [`/ck/?token=${token}`, '{"kids":["AAAAAAAAAAAAAAAAAAAAAA"]}', 'text/plain'],
      ['/ck/', JSON.stringify({ kids: kids.map(kidB64) })],
      ['/ck/?token=', JSON.stringify({ kids: kids.map(kidB64) })],
      ['/ck/?token=abc', JSON.stringify({ kids: kids.map(kidB64) })],
      ['/ck/?token=a.b.c', JSON.stringify({ kids: kids.map(kidB64) })],
      [`/ck/?token=${token}&token=${token}`, JSON.stringify({ kids: kids.map(kidB64) })],
      [`/ck/?token=${'x'.repeat(9000)}`, JSON.stringify({ kids: kids.map(kidB64) })],
      [
        `/ck/?token=${unsigned({ sessionId: 's', resourceId: 'movie-1', createdAt: nowSeconds(), userIP: '127.0.0.1' })}`,
        JSON.stringify({ kids: kids.map(kidB64) }),
      ],
      ['/np/', '{}'],
      ['/np/?token=e30.e30.e30', '{}'],
      // Admin calls.
      ...(['/config/', '/ban/', '/get/'] as const).flatMap(
        (path): [string, string | undefined, string?][] => [
          [path, undefined],
          [path, ''],
          [path, '   '],
          [path, 'not-a-jwt', 'text/plain'],
          [path, 'a.b.c', 'text/plain'],
          [path, '"unterminated'],
          [path, '{"token":'],
          [path, '{}'],
          [path, '{"token":42}'],
          [path, '{"token":null}'],
          [path, '[]'],
          [path, 'null'],
          [path, '42'],
          [path, '""'],
          [path, unsigned({ watermarking: false, sessionId: 's', ban: true }), 'text/plain'],
          [path, `${'x'.repeat(17_000)}`, 'text/plain'],
        ],
      ),
      ['/config/', await jwtOf({}), 'text/plain'],
      ['/config/', await jwtOf({ watermarking: 'yes' }), 'text/plain'],
      ['/config/', await jwtOf({ watermarking: true, wmOptions: [1, 2] }), 'text/plain'],
      ['/config/', await jwtOf({ watermarking: true, wmOptions: 'big' }), 'text/plain'],
      ['/config/', await jwtOf({ watermarking: true, wmOptions: null }), 'text/plain'],
      ['/config/', await jwtOf({ watermarking: true, exp: nowSeconds() - 3600 }), 'text/plain'],
      ['/ban/', await jwtOf({ ban: true }), 'text/plain'],
      ['/ban/', await jwtOf({ sessionId: '', ban: true }), 'text/plain'],
      ['/ban/', await jwtOf({ sessionId: 42, ban: true }), 'text/plain'],
      ['/ban/', await jwtOf({ sessionId: 's'.repeat(200), ban: true }), 'text/plain'],
      ['/ban/', await jwtOf({ sessionId: 'someone', ban: 'true' }), 'text/plain'],
      ['/ban/', await jwtOf({ sessionId: 'someone' }), 'text/plain'],
      ['/get/', await jwtOf({ tenant: 'no-such-tenant' }), 'text/plain'],
      ['/get/', await jwtOf({ tenant: 42 }), 'text/plain'],
    ];
    // Content types a browser or script may send that are no media type at all.
    cases.push([`/ck/?token=${token}`, JSON.stringify({ kids: kids.map(kidB64) }), 'garbage']);
    cases.push(['/get/', await jwtOf({}), '']);
    for (const [path, body, contentType] of cases) {
      const res = await post(path, body, contentType);
      const what = `${path.slice(0, 60)} with ${String(body).slice(0, 60)}`;
      assert.equal(res.status, 400, `${what}: ${res.status}`);
      assert.equal(res.body.statusCode, 400, `${what}: the error body names the status sent`);
    }
    // None of that changed anything.
    assert.deepEqual((await getState()).banned, []);
    assert.equal((await ck(token)).status, 200);
  });

  it('serves the license requests chart as a PNG', async () => {
    const res = await call(`${base}/graph/?token=${await signAdmin({}, server.secret)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(res.raw.subarray(0, 8), PNG_SIGNATURE);
    assert.equal((await call(`${base}/graph/`)).status, 400);
    assert.equal((await call(`${base}/graph/?token=${await signAdmin({}, 'wrong-secret')}`)).status, 400);
  });

  it('accepts the no-expiry seed JWTs on the compatibility path only', async () => {
    // A seed admin JWT (HS256, tenant secret, iat, no exp) is accepted by the compat admin calls...
    const adminJwt = await signAdmin({}, server.secret);
    const accepted = await call(`${base}/get/`, {
      rawBody: adminJwt,
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(accepted.status, 200);
    const request = { kids: kids.map(kidB64), type: 'temporary' };
    const asViewer = await call(`${server.url}/v1/license/clearkey`, { token: adminJwt, body: request });
    assert.equal(asViewer.status, 401);
    assert.equal(asViewer.body.code, 'token_wrong_type');
    // ...but a viewer-shaped JWT without exp is neither an admin token there nor a viewer token on v1.
    const relaxed = await sign(
      { sessionId: 'relaxed-session', resourceId: 'movie-1', ip: '127.0.0.1', iat: nowSeconds() },
      server.secret,
    );
    const refused = await call(`${base}/get/`, {
      rawBody: relaxed,
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'token_wrong_type');
    const v1 = await call(`${server.url}/v1/license/clearkey`, { token: relaxed, body: request });
    assert.equal(v1.status, 401);
    assert.equal(v1.body.code, 'token_claims_invalid');
    assert.equal((await call(`${server.url}/v1/license/hls/${kids[0]}?token=${relaxed}`)).status, 401);
    assert.equal((await call(`${server.url}/v1/heartbeat`, { method: 'POST', token: relaxed })).status, 401);
    // Nor is a seed viewer token.
    const seed = await seedToken();
    assert.equal(
      (await call(`${server.url}/v1/license/clearkey`, { token: seed, body: request })).status,
      401,
    );
    assert.equal((await ck(seed)).status, 200);
  });
});
