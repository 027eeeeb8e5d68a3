/**
 * Every way the key server refuses a viewer: bad, forged, expired, foreign or misbound tokens, unknown
 * or foreign kids, bans, and client addresses claimed through proxy headers. Each refusal is checked for
 * its status, its machine-readable code, and that no key material leaked into the body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

type Response = Awaited<ReturnType<typeof call>>;
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs arbitrary claims (nothing added) with an HS256 secret. */
const signHs = (claims: JWTPayload, secret: string | Uint8Array, alg = 'HS256') =>
  new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);

const viewerClaims = (extra: Record<string, unknown> = {}): JWTPayload => ({
  sessionId: 'session-1',
  resourceId: 'resource-1',
  ip: '127.0.0.1',
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  ...extra,
});

describe('viewer tokens and the key server', () => {
  let server: TestServer;
  let kids: string[];
  let otherKids: string[];
  /** Every content key of the default tenant, as raw bytes. */
  const keyBytes: Buffer[] = [];
  let acme: { jwtSecret: string; apiKey: string; kids: string[] };
  let rsa: KeyPair;
  let ec: KeyPair;

  before(async () => {
    server = await startVigil();
    kids = await createKeys(server, 'resource-1', 2);
    otherKids = await createKeys(server, 'resource-2', 1);
    for (const kid of [...kids, ...otherKids]) {
      const key = await server.store.getContentKey('default', kid);
      assert.ok(key, `key ${kid} is stored`);
      keyBytes.push(Buffer.from(key.key));
    }
    const created = await call(`${server.url}/v1/tenants`, {
      token: server.apiKey,
      body: { id: 'acme', name: 'Acme' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const acmeKeys = await call(`${server.url}/v1/keys`, {
      token: created.body.apiKey,
      body: { resourceId: 'resource-1' },
    });
    assert.equal(acmeKeys.status, 201);
    acme = {
      jwtSecret: created.body.jwtSecret,
      apiKey: created.body.apiKey,
      kids: acmeKeys.body.keys.map((k: { kid: string }) => k.kid),
    };
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    const registered = await call(`${server.url}/v1/tenant`, {
      method: 'PUT',
      token: server.apiKey,
      body: { jwks: { keys: [await exportJWK(rsa.publicKey), await exportJWK(ec.publicKey)] } },
    });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
    assert.equal(registered.body.jwks.keys.length, 2);
  });
  after(() => server.close());

  /** No content key, in any encoding, and no license shape anywhere in the answer. */
  function assertNoKeyMaterial(res: Response): void {
    if (typeof res.body === 'object' && res.body !== null) {
      assert.equal('keys' in res.body, false, 'a refusal carries no "keys"');
      assert.equal('k' in res.body, false, 'a refusal carries no "k"');
    }
    const text = res.raw.toString('latin1');
    for (const key of keyBytes) {
      assert.equal(res.raw.includes(key), false, 'raw key bytes in the body');
      for (const encoded of [key.toString('hex'), key.toString('base64url'), key.toString('base64')]) {
        assert.equal(text.includes(encoded), false, `key ${encoded} in the body`);
      }
    }
  }

  function assertRefused(res: Response, status: number, code: string): void {
    assert.equal(
      res.status,
      status,
      `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`,
    );
    assert.equal(res.body.code, code, JSON.stringify(res.body));
    assert.equal(res.body.statusCode, status);
    assert.equal(typeof res.body.message, 'string');
    assert.equal(res.headers.get('vigil-watermark'), null, 'a refusal carries no watermark directive');
    assertNoKeyMaterial(res);
  }

  const license = (
    token: string | undefined,
    requestKids: string[] = kids,
    headers: Record<string, string> = {},
    base = server.url,
  ) =>
    call(`${base}/v1/license/clearkey`, {
      ...(token === undefined ? {} : { token }),
      headers,
      body: { kids: requestKids.map(kidB64), type: 'temporary' },
    });

  const hls = (token: string | undefined, kid = kids[0]!) =>
    call(
      `${server.url}/v1/license/hls/${kid}${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`,
    );

  const heartbeat = (token: string | undefined) =>
    call(`${server.url}/v1/heartbeat`, { method: 'POST', ...(token === undefined ? {} : { token }) });

  function assertGranted(res: Response, expectedKids: string[] = kids): void {
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.keys.map((k: { kid: string }) => k.kid),
      expectedKids.map(kidB64),
    );
  }

  describe('missing and garbage tokens', () => {
    it('refuses a request without a token on every viewer endpoint', async () => {
      assertRefused(await license(undefined), 401, 'token_missing');
      assertRefused(await hls(undefined), 401, 'token_missing');
      assertRefused(await heartbeat(undefined), 401, 'token_missing');
      // Another scheme is not a viewer token, and "Bearer " alone carries none.
      const basic = await call(`${server.url}/v1/license/clearkey`, {
        headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
        body: { kids: kids.map(kidB64) },
      });
      assertRefused(basic, 401, 'token_missing');
      const empty = await call(`${server.url}/v1/license/clearkey`, {
        headers: { authorization: 'Bearer    ' },
        body: { kids: kids.map(kidB64) },
      });
      assertRefused(empty, 401, 'token_missing');
    });

    it('refuses tokens that are not compact JWS', async () => {
      const valid = await viewerToken(server.secret);
      const [h, p, s] = valid.split('.');
      const garbage = [
        'not-a-jwt',
        `${h}.${p}`, // two parts
        `${h}.${p}.${s}.${s}`, // four parts
        '!!!.@@@.###', // not base64url
        `${h}.%%%%.${s}`,
        `${b64json('just a string')}.${p}.${s}`, // header not an object
        `${h}.${b64json(null)}.${s}`, // payload not an object
        `${b64json({ typ: 'JWT' })}.${p}.${s}`, // no alg
        `${h}.${p}.${s}${'A'.repeat(9000)}`, // over 8 KiB
        `${'a'.repeat(9000)}.b.c`,
      ];
      for (const token of garbage) {
        const res = await license(token);
        assertRefused(res, 401, 'token_malformed');
      }
      assertRefused(await hls('not-a-jwt'), 401, 'token_malformed');
      assertRefused(await heartbeat('not-a-jwt'), 401, 'token_malformed');
    });

    it('refuses an unsigned token (alg: none) and algorithms it does not accept', async () => {
      const claims = b64json(viewerClaims());
      for (const alg of ['none', 'None', 'NONE']) {
        const unsigned = `${b64json({ alg, typ: 'JWT' })}.${claims}.`;
        assertRefused(await license(unsigned), 401, 'alg_not_allowed');
        assertRefused(await hls(unsigned), 401, 'alg_not_allowed');
      }
      // A validly signed HS512 token: the algorithm alone refuses it.
      const hs512 = await signHs(viewerClaims(), server.secret, 'HS512');
      assertRefused(await license(hs512), 401, 'alg_not_allowed');
    });

    it('refuses a bad signature, a wrong secret and a tampered payload', async () => {
      const valid = await viewerToken(server.secret);
      const [h, p, s] = valid.split('.') as [string, string, string];
      const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
      assertRefused(await license(flipped), 401, 'token_invalid');
      assertRefused(await license(`${h}.${p}.`), 401, 'token_invalid');
      assertRefused(await license(await viewerToken('not-the-secret')), 401, 'token_invalid');
      const tampered = `${h}.${b64json({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), resourceId: 'resource-2' })}.${s}`;
      assertRefused(await license(tampered, otherKids), 401, 'token_invalid');
      assertRefused(await hls(flipped), 401, 'token_invalid');
      assertRefused(await heartbeat(flipped), 401, 'token_invalid');
      // The genuine token still works.
      assertGranted(await license(valid));
    });
  });

  describe('asymmetric tokens and algorithm confusion', () => {
    it('accepts RS256 and ES256 tokens signed with the registered keys', async () => {
      const rs = await new SignJWT(viewerClaims({ sessionId: 'rs-session' }))
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .sign(rsa.privateKey);
      assertGranted(await license(rs));
      const es = await new SignJWT(viewerClaims({ sessionId: 'es-session' }))
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .sign(ec.privateKey);
      assertGranted(await license(es));
      const hb = await heartbeat(es);
      assert.equal(hb.status, 200);
      assert.equal(hb.body.watermark.sessionId, 'es-session');
    });

    it('refuses RS256/ES256 tokens signed with keys that are not registered', async () => {
      const strangerRsa = await generateKeyPair('RS256');
      const strangerEc = await generateKeyPair('ES256');
      const rs = await new SignJWT(viewerClaims())
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .sign(strangerRsa.privateKey);
      assertRefused(await license(rs), 401, 'token_invalid');
      const es = await new SignJWT(viewerClaims())
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .sign(strangerEc.privateKey);
      assertRefused(await license(es), 401, 'token_invalid');
    });

    it('refuses HS256 tokens whose HMAC secret is the registered public key (algorithm confusion)', async () => {
      const secrets = [
        await exportSPKI(rsa.publicKey),
        (await exportSPKI(rsa.publicKey)).trim(),
        JSON.stringify(await exportJWK(rsa.publicKey)),
        await exportSPKI(ec.publicKey),
        JSON.stringify(await exportJWK(ec.publicKey)),
      ];
      for (const secret of secrets) {
        const forged = await signHs(viewerClaims(), secret);
        assertRefused(await license(forged), 401, 'token_invalid');
        assertRefused(await hls(forged), 401, 'token_invalid');
      }
      // The same forgery with an RS256 header but an HMAC signature cannot verify either.
      const hmac = await signHs(viewerClaims(), await exportSPKI(rsa.publicKey));
      const [, p, s] = hmac.split('.');
      assertRefused(
        await license(`${b64json({ alg: 'RS256', typ: 'JWT' })}.${p}.${s}`),
        401,
        'token_invalid',
      );
    });

    it('refuses RS256 for a tenant that registered no public key', async () => {
      const rs = await new SignJWT(viewerClaims({ tenant: 'acme' }))
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .sign(rsa.privateKey);
      assertRefused(await license(rs, acme.kids), 401, 'alg_not_allowed');
    });
  });

  describe('time claims', () => {
    it('refuses a token expired beyond the clock skew, accepts one expired within it', async () => {
      assertRefused(
        await license(await viewerToken(server.secret, { expiresIn: -60 })),
        401,
        'token_expired',
      );
      assertRefused(await hls(await viewerToken(server.secret, { expiresIn: -60 })), 401, 'token_expired');
      assertRefused(
        await heartbeat(await viewerToken(server.secret, { expiresIn: -60 })),
        401,
        'token_expired',
      );
      // 10 s past exp is inside the 30 s skew.
      assertGranted(await license(await viewerToken(server.secret, { expiresIn: -10 })));
    });

    it('refuses nbf and iat in the future (beyond the skew) as token_not_yet_valid', async () => {
      const nbf = await viewerToken(server.secret, { nbf: nowSeconds() + 300 });
      assertRefused(await license(nbf), 401, 'token_not_yet_valid');
      assertRefused(await hls(nbf), 401, 'token_not_yet_valid');
      const iat = await viewerToken(server.secret, { iat: nowSeconds() + 300 });
      assertRefused(await license(iat), 401, 'token_not_yet_valid');
      assertRefused(await heartbeat(iat), 401, 'token_not_yet_valid');
      // nbf within the skew is fine.
      assertGranted(await license(await viewerToken(server.secret, { nbf: nowSeconds() + 5 })));
    });
  });

  describe('claims', () => {
    it('refuses tokens with missing or malformed viewer claims', async () => {
      const bad: Record<string, unknown>[] = [
        { sessionId: undefined },
        { resourceId: undefined },
        { ip: undefined },
        { exp: undefined },
        { iat: undefined },
        { sessionId: 42 },
        { sessionId: '' },
        { sessionId: 'has space' },
        { sessionId: 'x'.repeat(129) },
        { resourceId: ['resource-1'] },
        { ip: 'not-an-ip' },
        { ip: '999.1.2.3' },
        { ip: 2130706433 },
        { iat: 'yesterday' },
        { nbf: 'now' },
        { sub: 17 },
        { tenant: 5 },
        { tenant: '' },
        { tenant: 'x'.repeat(65) },
      ];
      for (const change of bad) {
        const claims = viewerClaims(change);
        for (const [k, v] of Object.entries(change)) if (v === undefined) delete claims[k];
        const token = await signHs(claims, server.secret);
        const res = await license(token);
        assert.equal(
          res.body.code,
          'token_claims_invalid',
          `${JSON.stringify(change)}: ${JSON.stringify(res.body)}`,
        );
        assertRefused(res, 401, 'token_claims_invalid');
      }
    });
  });

  describe('tenants', () => {
    it("serves acme's own viewers acme's keys", async () => {
      const token = await viewerToken(acme.jwtSecret, { tenant: 'acme' });
      assertGranted(await license(token, acme.kids), acme.kids);
    });

    it("refuses acme's secret for the default tenant and the default secret for acme", async () => {
      assertRefused(await license(await viewerToken(acme.jwtSecret)), 401, 'token_invalid');
      assertRefused(
        await license(await viewerToken(server.secret, { tenant: 'acme' }), acme.kids),
        401,
        'token_invalid',
      );
      assertRefused(await hls(await viewerToken(acme.jwtSecret)), 401, 'token_invalid');
    });

    it('refuses a token naming an unknown tenant', async () => {
      assertRefused(
        await license(await viewerToken(server.secret, { tenant: 'nobody' })),
        401,
        'unknown_tenant',
      );
    });

    it("gives an acme viewer none of the default tenant's keys", async () => {
      const token = await viewerToken(acme.jwtSecret, { tenant: 'acme' });
      assertRefused(await license(token, kids), 404, 'unknown_kid');
      assertRefused(await hls(token, kids[0]), 404, 'unknown_kid');
      // Mixed with its own kid, only its own key comes back.
      assertGranted(await license(token, [acme.kids[0]!, kids[0]!]), [acme.kids[0]!]);
    });
  });

  describe('IP binding, resources and kids', () => {
    it('refuses a token bound to another IP', async () => {
      const token = await viewerToken(server.secret, { ip: '10.1.2.3' });
      assertRefused(await license(token), 403, 'ip_mismatch');
      assertRefused(await hls(token), 403, 'ip_mismatch');
      assertRefused(await heartbeat(token), 403, 'ip_mismatch');
    });

    it('accepts the IPv4-mapped IPv6 form of the caller address', async () => {
      assertGranted(await license(await viewerToken(server.secret, { ip: '::ffff:127.0.0.1' })));
    });

    it('refuses the kids of another resource', async () => {
      const token = await viewerToken(server.secret);
      assertRefused(await license(token, otherKids), 403, 'resource_mismatch');
      assertRefused(await hls(token, otherKids[0]), 403, 'resource_mismatch');
      // Mixed with its own kids, the foreign key is left out.
      assertGranted(await license(token, [...kids, ...otherKids]), kids);
    });

    it('answers 404 unknown_kid for kids nobody created', async () => {
      const token = await viewerToken(server.secret);
      const unknown = ['00112233445566778899aabbccddeeff', 'ffffffffffffffffffffffffffffffff'];
      assertRefused(await license(token, unknown), 404, 'unknown_kid');
      assertRefused(await hls(token, unknown[0]), 404, 'unknown_kid');
    });
  });

  describe('bans', () => {
    const ban = (body: Record<string, unknown>) =>
      call(`${server.url}/v1/bans`, { token: server.apiKey, body });
    const unban = (id: string) =>
      call(`${server.url}/v1/bans/${id}`, { method: 'DELETE', token: server.apiKey });

    it('refuses a banned session everywhere, records where it was seen, and lets it back once lifted', async () => {
      const token = await viewerToken(server.secret, { sessionId: 'leaker-1' });
      assertGranted(await license(token));
      const created = await ban({ sessionId: 'leaker-1', reason: 'leak' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.kind, 'session');

      const refused = await license(token);
      assertRefused(refused, 403, 'banned');
      assertRefused(await hls(token), 403, 'banned');
      assertRefused(await heartbeat(token), 403, 'banned');
      // Other sessions are unaffected.
      assertGranted(await license(await viewerToken(server.secret, { sessionId: 'innocent' })));

      let sightings: { ip: string; hits: number }[] = [];
      for (let i = 0; i < 20 && sightings.length === 0; i++) {
        const list = await call(`${server.url}/v1/bans`, { token: server.apiKey });
        assert.equal(list.status, 200);
        sightings = list.body.bans.find((b: { id: string }) => b.id === created.body.id)?.sightings ?? [];
        if (sightings.length === 0) await sleep(50);
      }
      assert.deepEqual(
        sightings.map((s) => s.ip),
        ['127.0.0.1'],
      );
      assert.ok(sightings[0]!.hits >= 1);

      const lifted = await unban(created.body.id);
      assert.equal(lifted.status, 204);
      assertGranted(await license(token));
      assert.equal((await heartbeat(token)).status, 200);
      assert.equal((await unban(created.body.id)).status, 404);
    });

    it('refuses every session from a banned IP until the ban is lifted', async () => {
      const created = await ban({ ip: '127.0.0.1' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.kind, 'ip');
      try {
        for (const sessionId of ['a', 'b']) {
          const token = await viewerToken(server.secret, { sessionId });
          assertRefused(await license(token), 403, 'banned');
          assertRefused(await hls(token), 403, 'banned');
          assertRefused(await heartbeat(token), 403, 'banned');
        }
      } finally {
        assert.equal((await unban(created.body.id)).status, 204);
      }
      assertGranted(await license(await viewerToken(server.secret, { sessionId: 'a' })));
    });

    it('stops refusing once a ban expires', async () => {
      const token = await viewerToken(server.secret, { sessionId: 'short-ban' });
      const created = await ban({
        sessionId: 'short-ban',
        expiresAt: new Date(Date.now() + 1000).toISOString(),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assertRefused(await license(token), 403, 'banned');
      const wait = Date.parse(created.body.expiresAt) - Date.now() + 50;
      if (wait > 0) await sleep(wait);
      assertGranted(await license(token));
      assert.equal((await heartbeat(token)).status, 200);
    });
  });

  describe('heartbeat', () => {
    it('returns the watermark directive for the session', async () => {
      const res = await heartbeat(await viewerToken(server.secret, { sessionId: 'viewer-42' }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'ok');
      assert.equal(res.body.watermark.sessionId, 'viewer-42');
      assert.equal(res.body.watermark.enabled, true);
      assert.equal(res.body.watermark.mode, 'text');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assertNoKeyMaterial(res);
    });
  });

  describe('client address behind proxies', () => {
    let proxied: TestServer;
    let proxiedKids: string[];
    before(async () => {
      proxied = await startVigil({ config: { trustedProxies: ['127.0.0.1'] } });
      proxiedKids = await createKeys(proxied, 'resource-1', 1);
    });
    after(() => proxied.close());

    const proxiedLicense = async (ip: string, headers: Record<string, string>) =>
      license(await viewerToken(proxied.secret, { ip }), proxiedKids, headers, proxied.url);

    it('believes X-Forwarded-For and X-Real-IP from a trusted proxy', async () => {
      assertGranted(await proxiedLicense('10.9.9.9', { 'x-forwarded-for': '10.9.9.9' }), proxiedKids);
      assertGranted(await proxiedLicense('10.9.9.9', { 'x-real-ip': '10.9.9.9' }), proxiedKids);
      // Trusted hops are skipped; the nearest untrusted one is the viewer.
      assertGranted(
        await proxiedLicense('10.9.9.9', { 'x-forwarded-for': '10.9.9.9, 127.0.0.1' }),
        proxiedKids,
      );
      // A viewer can't hide behind an address it prepends itself.
      const spoofed = await proxiedLicense('10.9.9.9', { 'x-forwarded-for': '10.9.9.9, 10.5.5.5' });
      assert.equal(spoofed.status, 403);
      assert.equal(spoofed.body.code, 'ip_mismatch');
      // Without the headers, the proxy's own address is the one compared.
      const direct = await proxiedLicense('10.9.9.9', {});
      assert.equal(direct.status, 403);
      assert.equal(direct.body.code, 'ip_mismatch');
      assertGranted(await proxiedLicense('127.0.0.1', {}), proxiedKids);
    });

    it('ignores X-Forwarded-For and X-Real-IP when no proxy is trusted', async () => {
      const token = await viewerToken(server.secret, { ip: '10.9.9.9' });
      const forged: Record<string, string>[] = [
        { 'x-forwarded-for': '10.9.9.9' },
        { 'x-real-ip': '10.9.9.9' },
        { 'x-forwarded-for': '10.9.9.9', 'x-real-ip': '10.9.9.9' },
      ];
      for (const headers of forged) {
        assertRefused(await license(token, kids, headers), 403, 'ip_mismatch');
      }
      // And a real 127.0.0.1 viewer is not turned away by a forged header.
      const local = await viewerToken(server.secret);
      assertGranted(await license(local, kids, { 'x-forwarded-for': '10.9.9.9', 'x-real-ip': '10.9.9.9' }));
    });
  });
});
