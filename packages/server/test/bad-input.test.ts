/**
 * Bad input anywhere gets a clear 4xx with a machine-readable code (never a 500), the server keeps
 * answering, and nothing stored changes: bans, watermark config, content keys and tenant settings read
 * back exactly as they were before. The control API never hands out key bytes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

type Response = Awaited<ReturnType<typeof call>>;

describe('bad input', () => {
  let server: TestServer;
  let kids: string[];
  let token: string;
  let readonlyKey: string;
  let before_: Record<string, unknown>;

  /** Everything a bad request could have changed, as the control API shows it. */
  const snapshot = async () => {
    const read = async (path: string) => {
      const res = await call(`${server.url}${path}`, { token: server.apiKey });
      assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
      return res.body;
    };
    return {
      bans: await read('/v1/bans'),
      watermark: await read('/v1/watermark'),
      keys: await read('/v1/keys?resourceId=resource-1'),
      badResourceKeys: await read('/v1/keys?resourceId=resource-bad'),
      tenant: await read('/v1/tenant'),
      // Revoked keys stay listed; the active ones must be the same.
      activeApiKeys: (await read('/v1/apikeys')).apiKeys.filter(
        (k: { revokedAt: unknown }) => k.revokedAt === null,
      ),
      tenants: await read('/v1/tenants'),
    };
  };

  before(async () => {
    server = await startVigil();
    kids = await createKeys(server, 'resource-1', 2);
    token = await viewerToken(server.secret);
    for (const body of [{ sessionId: 'existing-session', reason: 'leak' }, { ip: '10.0.0.7' }]) {
      const res = await call(`${server.url}/v1/bans`, { token: server.apiKey, body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const wm = await call(`${server.url}/v1/watermark`, {
      method: 'PUT',
      token: server.apiKey,
      body: { textOpacity: 0.4, mode: 'color', box: { x: 5, y: 5, width: 4, height: 6 } },
    });
    assert.equal(wm.status, 200, JSON.stringify(wm.body));
    const ro = await call(`${server.url}/v1/apikeys`, {
      token: server.apiKey,
      body: { role: 'readonly', name: 'dashboard' },
    });
    assert.equal(ro.status, 201, JSON.stringify(ro.body));
    readonlyKey = ro.body.key;
    before_ = await snapshot();
  });
  after(() => server.close());

  /** A 4xx with the exact code, the error shape, and no key material. */
  function assertClientError(res: Response, status: number, code: string, what = ''): void {
    assert.equal(
      res.status,
      status,
      `${what} expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`,
    );
    assert.equal(res.body.code, code, `${what} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.statusCode, status);
    assert.equal(typeof res.body.message, 'string');
    assert.equal('keys' in res.body, false);
  }

  async function assertAlive(): Promise<void> {
    const health = await call(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const license = await call(`${server.url}/v1/license/clearkey`, {
      token,
      body: { kids: kids.map(kidB64) },
    });
    assert.equal(license.status, 200, JSON.stringify(license.body));
    assert.equal(license.body.keys.length, kids.length);
  }

  const licenseRaw = (rawBody: string | Buffer, contentType?: string) =>
    call(`${server.url}/v1/license/clearkey`, {
      method: 'POST',
      token,
      rawBody,
      headers: contentType ? { 'content-type': contentType } : {},
    });

  const licenseJson = (body: unknown) => call(`${server.url}/v1/license/clearkey`, { token, body });

  const admin = (method: string, path: string, body: unknown, key = server.apiKey) =>
    call(`${server.url}${path}`, { method, token: key, body });

  const adminRaw = (
    method: string,
    path: string,
    rawBody: string | Buffer,
    contentType = 'application/json',
  ) =>
    call(`${server.url}${path}`, {
      method,
      token: server.apiKey,
      rawBody,
      headers: { 'content-type': contentType },
    });

  describe('license request bodies', () => {
    it('refuses malformed JSON in any content type', async () => {
      for (const contentType of [
        'application/json',
        'text/plain;charset=UTF-8',
        'application/octet-stream',
      ]) {
        for (const raw of [
          '{"kids": [',
          '{kids: []}',
          'not json',
          '{"kids": ["a"]} trailing',
          '\u0000\u0001',
        ]) {
          assertClientError(await licenseRaw(raw, contentType), 400, 'invalid_json', `${contentType} ${raw}`);
        }
      }
      assertClientError(await licenseRaw('{"kids": ['), 400, 'invalid_json', 'no content type');
      assertClientError(await licenseRaw(Buffer.from([0xff, 0xfe, 0x7b])), 400, 'invalid_json', 'binary');
      await assertAlive();
    });

    it('refuses JSON that is not a license request', async () => {
      for (const raw of ['null', '[]', '"kids"', '42', 'true', '{}', '', '{"kids":[]}', '{"kids":"x"}']) {
        assertClientError(await licenseRaw(raw, 'application/json'), 400, 'invalid_license_request', raw);
      }
      await assertAlive();
    });

    it('refuses bodies over the limit with 413', async () => {
      const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
      assertClientError(await licenseRaw(big, 'application/json'), 413, 'body_too_large', '2 MB');
      // The license route takes far less than the server-wide megabyte.
      const kidsList = JSON.stringify({ kids: Array.from({ length: 2000 }, () => kidB64(kids[0]!)) });
      assertClientError(await licenseRaw(kidsList, 'application/json'), 413, 'body_too_large', '60 KB');
      await assertAlive();
    });

    it('refuses bad kids: bad base64, wrong length, too many', async () => {
      const cases: [unknown[], string][] = [
        [['!!!!!!!!!!!!!!!!!!!!!!'], 'invalid_kid'],
        [['AAAA AAAA AAAA AAAA AAA'], 'invalid_kid'],
        [['a+b/AAAAAAAAAAAAAAAAAA'], 'invalid_kid'],
        [[''], 'invalid_kid'],
        [['AAAAAAAAAAA'], 'invalid_kid'], // 8 bytes
        [[Buffer.alloc(17).toString('base64url')], 'invalid_kid'],
        [[Buffer.alloc(15).toString('base64url')], 'invalid_kid'],
        [[kids[0]!], 'invalid_kid'], // hex is not base64url of 16 bytes
        [['A'], 'invalid_kid'],
        [[kidB64(kids[0]!), 'AAAAAAAAAAA'], 'invalid_kid'], // one bad kid spoils the request
        [['A'.repeat(65)], 'invalid_kid'],
        [[42], 'invalid_kid'],
        [Array.from({ length: 65 }, () => kidB64(kids[0]!)), 'invalid_license_request'],
        [[], 'invalid_license_request'],
      ];
      for (const [requestKids, code] of cases) {
        assertClientError(await licenseJson({ kids: requestKids }), 400, code, JSON.stringify(requestKids));
      }
      // 64 is the limit, and fine.
      const ok = await licenseJson({ kids: Array.from({ length: 64 }, () => kidB64(kids[0]!)) });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.keys.length, 1);
      await assertAlive();
    });

    it('refuses wrong types', async () => {
      const bodies: unknown[] = [
        { kids: 5 },
        { kids: {} },
        { kids: { 0: kidB64(kids[0]!) } },
        { kids: [5] },
        { kids: [null] },
        { kids: [{}] },
        { kids: [[kidB64(kids[0]!)]] },
        { kids: null },
        { kids: true },
        { kids: [kidB64(kids[0]!)], type: 'persistent' },
        { kids: [kidB64(kids[0]!)], type: 5 },
        { kids: [kidB64(kids[0]!)], type: ['temporary', 'persistent-license'] },
        { type: 'temporary' },
      ];
      for (const body of bodies) {
        const res = await licenseJson(body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.ok(
          ['invalid_request', 'invalid_kid', 'invalid_license_request'].includes(res.body.code),
          `${JSON.stringify(body)}: ${res.body.code}`,
        );
        assertClientError(res, 400, res.body.code);
      }
      await assertAlive();
    });

    it('refuses bad kids on the HLS key endpoint', async () => {
      const q = `?token=${token}`;
      for (const kid of ['zz', 'A'.repeat(22).slice(0, 21), 'g'.repeat(32), `${kids[0]!}00`, '%E2%82%AC']) {
        assertClientError(await call(`${server.url}/v1/license/hls/${kid}${q}`), 400, 'invalid_kid', kid);
      }
      assertClientError(
        await call(`${server.url}/v1/license/hls/${'a'.repeat(65)}${q}`),
        400,
        'invalid_request',
      );
      assertClientError(
        await call(`${server.url}/v1/license/hls/${'a'.repeat(8)}?token=${'a'.repeat(9000)}`),
        400,
        'invalid_request',
      );
      const bad = await call(`${server.url}/v1/license/hls/%ZZ${q}`);
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      // Every accepted spelling of the same kid works.
      const uuid = `${kids[0]!.slice(0, 8)}-${kids[0]!.slice(8, 12)}-${kids[0]!.slice(12, 16)}-${kids[0]!.slice(16, 20)}-${kids[0]!.slice(20)}`;
      for (const kid of [kids[0]!, kids[0]!.toUpperCase(), uuid, kidB64(kids[0]!)]) {
        const res = await call(`${server.url}/v1/license/hls/${kid}${q}`);
        assert.equal(res.status, 200, `${kid}: ${JSON.stringify(res.body)}`);
        assert.equal(res.raw.length, 16);
      }
      await assertAlive();
    });
  });

  describe('control API bodies', () => {
    const writes: [string, string][] = [
      ['POST', '/v1/bans'],
      ['PUT', '/v1/watermark'],
      ['POST', '/v1/keys'],
      ['PUT', '/v1/tenant'],
      ['POST', '/v1/apikeys'],
      ['POST', '/v1/tenants'],
    ];

    it('refuses malformed JSON', async () => {
      for (const [method, path] of writes) {
        for (const raw of ['{"sessionId": ', '{sessionId: "x"}', 'not json', '{"a":1} {"b":2}']) {
          assertClientError(
            await adminRaw(method, path, raw),
            400,
            'invalid_json',
            `${method} ${path} ${raw}`,
          );
        }
        assertClientError(await adminRaw(method, path, ''), 400, 'invalid_json', `${method} ${path} empty`);
        // Prototype pollution attempts are refused outright.
        assertClientError(
          await adminRaw(method, path, '{"__proto__": {"role": "platform"}}'),
          400,
          'invalid_json',
          `${method} ${path} __proto__`,
        );
      }
      await assertAlive();
    });

    it('refuses other content types with 415', async () => {
      for (const [method, path] of writes) {
        assertClientError(
          await adminRaw(method, path, 'sessionId=x', 'application/x-www-form-urlencoded'),
          415,
          'unsupported_media_type',
          `${method} ${path}`,
        );
      }
      await assertAlive();
    });

    it('refuses 2 MB bodies with 413', async () => {
      const big = JSON.stringify({ reason: 'x'.repeat(2 * 1024 * 1024) });
      for (const [method, path] of writes) {
        assertClientError(await adminRaw(method, path, big), 413, 'body_too_large', `${method} ${path}`);
      }
      await assertAlive();
    });

    it('refuses JSON that is not an object', async () => {
      for (const [method, path] of writes) {
        for (const raw of ['null', '[]', '"x"', '7']) {
          assertClientError(
            await adminRaw(method, path, raw),
            400,
            'invalid_request',
            `${method} ${path} ${raw}`,
          );
        }
      }
      await assertAlive();
    });

    it('refuses invalid bans', async () => {
      const future = new Date(Date.now() + 3600_000).toISOString();
      const cases: [unknown, string][] = [
        [{ sessionId: 'x', ip: '10.0.0.1' }, 'invalid_ban'],
        [{}, 'invalid_ban'],
        [{ reason: 'no target' }, 'invalid_ban'],
        [{ ip: '999.0.0.1' }, 'invalid_ban'],
        [{ ip: 'localhost' }, 'invalid_ban'],
        // Ranges are bans too (`10.1.0.0/16`), but not broader ones, nor malformed ones; nor zone ids.
        [{ ip: '10.0.0.0/8' }, 'invalid_ban'],
        [{ ip: '2001:db8::/32' }, 'invalid_ban'],
        [{ ip: '10.0.0.0/33' }, 'invalid_ban'],
        [{ ip: '10.0.0.0/08' }, 'invalid_ban'],
        [{ ip: 'fe80::1%eth0' }, 'invalid_ban'],
        [{ sessionId: 'x', expiresAt: new Date(Date.now() - 60_000).toISOString() }, 'invalid_ban'],
        [{ sessionId: 'x', expiresAt: 'tomorrow' }, 'invalid_request'],
        [{ sessionId: 'x', expiresAt: 1893456000000 }, 'invalid_request'],
        [{ sessionId: '' }, 'invalid_request'],
        [{ sessionId: 'x'.repeat(129) }, 'invalid_request'],
        [{ sessionId: 'x', reason: 'r'.repeat(501) }, 'invalid_request'],
        [{ sessionId: 'x', until: future }, 'invalid_request'],
        [{ sessionId: ['x'] }, 'invalid_request'],
        [{ sessionId: { id: 'x' } }, 'invalid_request'],
        [{ sessionId: 12345 }, 'invalid_request'],
        [{ sessionId: true }, 'invalid_request'],
        [{ ip: 2130706433 }, 'invalid_request'],
        [{ sessionId: null }, 'invalid_request'],
      ];
      for (const [body, code] of cases) {
        assertClientError(await admin('POST', '/v1/bans', body), 400, code, JSON.stringify(body));
      }
      assertClientError(await admin('DELETE', '/v1/bans/no-such-ban', undefined), 404, 'not_found');
      assertClientError(
        await admin('DELETE', `/v1/bans/${'x'.repeat(65)}`, undefined),
        400,
        'invalid_request',
      );
      await assertAlive();
    });

    it('refuses unknown fields and wrong types in the watermark config', async () => {
      const cases: [unknown, string][] = [
        [{ colour: 'red' }, 'invalid_request'],
        [{ enabled: false, extra: 1 }, 'invalid_request'],
        [{ box: { x: 1, y: 1, width: 1, height: 1, depth: 1 } }, 'invalid_request'],
        [{ enabled: 'yes' }, 'invalid_request'],
        [{ enabled: 'true' }, 'invalid_request'],
        [{ enabled: 0 }, 'invalid_request'],
        [{ enabled: null }, 'invalid_request'],
        [{ mode: 'rainbow' }, 'invalid_request'],
        [{ mode: null }, 'invalid_request'],
        [{ textOpacity: 'high' }, 'invalid_request'],
        [{ textOpacity: '0.5' }, 'invalid_request'],
        [{ textOpacity: null }, 'invalid_request'],
        [{ box: 'big' }, 'invalid_request'],
        [{ box: [1, 2, 3, 4] }, 'invalid_request'],
        [{ tamperPolicy: 'explode' }, 'invalid_request'],
        [{ legacyOptions: 'x' }, 'invalid_request'],
        [{ textOpacity: 5 }, 'invalid_watermark_config'],
        [{ textOpacity: 0 }, 'invalid_watermark_config'],
        [{ textIntervalSeconds: -1 }, 'invalid_watermark_config'],
        [{ heartbeatSeconds: 0 }, 'invalid_watermark_config'],
        [{ box: { x: 500 } }, 'invalid_watermark_config'],
        [{ box: { sizeUnit: 'cm' } }, 'invalid_request'],
        [{ box: { sizeUnit: 'px', width: 5000 } }, 'invalid_watermark_config'],
        [{ box: { sizeUnit: 'px', width: 0 } }, 'invalid_watermark_config'],
        [{ box: { sizeUnit: 'px', x: 100 } }, 'invalid_watermark_config'],
        [{ enabled: false, textOpacity: 9 }, 'invalid_watermark_config'], // nothing of it is applied
      ];
      for (const [body, code] of cases) {
        assertClientError(await admin('PUT', '/v1/watermark', body), 400, code, JSON.stringify(body));
      }
      await assertAlive();
    });

    it('refuses invalid key creation requests', async () => {
      const cases: unknown[] = [
        {},
        { periods: 1 },
        { resourceId: '' },
        { resourceId: 'has space' },
        { resourceId: 'r'.repeat(257) },
        { resourceId: 7 },
        { resourceId: 'resource-bad', periods: 0 },
        { resourceId: 'resource-bad', periods: 5000 },
        { resourceId: 'resource-bad', periods: 1.5 },
        { resourceId: 'resource-bad', periods: 'two' },
        { resourceId: 'resource-bad', firstPeriod: -1 },
        { resourceId: 'resource-bad', trackTypes: ['bogus'] },
        { resourceId: 'resource-bad', trackTypes: [] },
        { resourceId: 'resource-bad', trackTypes: 'video' },
        { resourceId: 'resource-bad', ttlSeconds: 1 },
        { resourceId: 'resource-bad', key: '00112233445566778899aabbccddeeff' },
        { resourceId: 'resource-bad', kid: '00112233445566778899aabbccddeeff' },
      ];
      for (const body of cases) {
        assertClientError(
          await admin('POST', '/v1/keys', body),
          400,
          'invalid_request',
          JSON.stringify(body),
        );
      }
      assertClientError(await admin('GET', '/v1/keys', undefined), 400, 'invalid_request', 'no resourceId');
      await assertAlive();
    });

    it('refuses invalid tenant settings, private keys and bad API key requests', async () => {
      const rsa = await generateKeyPair('RS256', { extractable: true });
      const cases: [unknown, string][] = [
        [{ jwks: { keys: [await exportJWK(rsa.privateKey)] } }, 'invalid_jwks'],
        [{ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'invalid_jwks'],
        [{ jwks: { keys: [{ n: 'x' }] } }, 'invalid_request'],
        [{ jwks: {} }, 'invalid_request'],
        [{ jwks: 'x' }, 'invalid_request'],
        [{ allowedOrigins: ['not an origin'] }, 'invalid_request'],
        [{ allowedOrigins: 'https://x.example' }, 'invalid_request'],
        [{ allowedOrigins: ['https://x.example/path'] }, 'invalid_request'],
        [{ secret: 'mine' }, 'invalid_request'],
        [{ name: '' }, 'invalid_request'],
      ];
      for (const [body, code] of cases) {
        assertClientError(await admin('PUT', '/v1/tenant', body), 400, code, JSON.stringify(body));
      }
      for (const body of [{}, { role: 'platform' }, { role: 'root' }, { role: 'readonly', extra: 1 }]) {
        assertClientError(
          await admin('POST', '/v1/apikeys', body),
          400,
          'invalid_request',
          JSON.stringify(body),
        );
      }
      for (const body of [
        {},
        { id: 'Bad Id' },
        { id: '-x' },
        { id: 'x'.repeat(65) },
        { id: 'ok', secret: 's' },
      ]) {
        assertClientError(
          await admin('POST', '/v1/tenants', body),
          400,
          'invalid_request',
          JSON.stringify(body),
        );
      }
      assertClientError(await admin('POST', '/v1/tenants', { id: 'default' }), 409, 'tenant_exists');
      assertClientError(await admin('DELETE', '/v1/apikeys/short', undefined), 400, 'invalid_request');
      assertClientError(await admin('DELETE', '/v1/apikeys/vk_nopee', undefined), 404, 'not_found');
      assertClientError(await admin('GET', '/v1/stats?minutes=0', undefined), 400, 'invalid_request');
      assertClientError(await admin('GET', '/v1/stats?minutes=abc', undefined), 400, 'invalid_request');
      assertClientError(await admin('GET', '/v1/stats?minutes=100000', undefined), 400, 'invalid_request');
      await assertAlive();
    });
  });

  describe('API keys', () => {
    const validBan = { sessionId: 'should-not-exist' };

    it('refuses a missing API key with 401 api_key_missing', async () => {
      for (const [method, path, body] of [
        ['GET', '/v1/bans', undefined],
        ['POST', '/v1/bans', validBan],
        ['PUT', '/v1/watermark', { enabled: false }],
        ['POST', '/v1/keys', { resourceId: 'resource-bad' }],
        ['GET', '/v1/stats', undefined],
      ] as const) {
        const res = await call(`${server.url}${path}`, { method, body });
        assertClientError(res, 401, 'api_key_missing', `${method} ${path}`);
      }
      for (const authorization of ['', 'Bearer', 'Bearer   ', `Basic ${server.apiKey}`, server.apiKey]) {
        const res = await call(`${server.url}/v1/bans`, { headers: { authorization } });
        assertClientError(res, 401, 'api_key_missing', `"${authorization}"`);
      }
      const huge = await call(`${server.url}/v1/bans`, { token: `vk_${'a'.repeat(300)}`, body: validBan });
      assertClientError(huge, 401, 'api_key_missing', 'oversized key');
    });

    it('refuses an unknown API key with 401 api_key_invalid', async () => {
      for (const key of [
        'vk_unknown_key_0000000000000000',
        `${server.apiKey}x`,
        server.apiKey.slice(0, -1),
      ]) {
        assertClientError(await admin('POST', '/v1/bans', validBan, key), 401, 'api_key_invalid', key);
        assertClientError(await admin('GET', '/v1/bans', undefined, key), 401, 'api_key_invalid', key);
      }
      // A viewer token is no API key, and is refused as what it is (token-confusion.test.ts has them all).
      assertClientError(await admin('POST', '/v1/bans', validBan, token), 401, 'token_wrong_type', 'viewer');
      assertClientError(await admin('GET', '/v1/bans', undefined, token), 401, 'token_wrong_type', 'viewer');
    });

    it('refuses a readonly key anything that writes, with 403 forbidden', async () => {
      const list = await admin('GET', '/v1/bans', undefined, readonlyKey);
      assert.equal(list.status, 200);
      for (const [method, path, body] of [
        ['POST', '/v1/bans', validBan],
        ['POST', '/v1/bans', { ip: '10.1.1.1' }],
        ['DELETE', '/v1/bans/anything', undefined],
        ['PUT', '/v1/watermark', { enabled: false }],
        ['POST', '/v1/keys', { resourceId: 'resource-bad' }],
        ['PUT', '/v1/tenant', { allowedOrigins: ['https://x.example'] }],
        ['POST', '/v1/apikeys', { role: 'admin' }],
        ['GET', '/v1/apikeys', undefined],
        ['POST', '/v1/tenants', { id: 'sneaky' }],
      ] as const) {
        assertClientError(
          await admin(method, path, body, readonlyKey),
          403,
          'forbidden',
          `${method} ${path}`,
        );
      }
    });

    it('refuses a tenant admin key the platform routes', async () => {
      const adminKey = await admin('POST', '/v1/apikeys', { role: 'admin', name: 'ops' });
      assert.equal(adminKey.status, 201);
      assertClientError(
        await admin('POST', '/v1/tenants', { id: 'sneaky' }, adminKey.body.key),
        403,
        'forbidden',
      );
      assertClientError(await admin('GET', '/v1/tenants', undefined, adminKey.body.key), 403, 'forbidden');
      // Revoke it again, so the API key list reads as before.
      const revoked = await admin('DELETE', `/v1/apikeys/${adminKey.body.prefix}`, undefined);
      assert.equal(revoked.status, 204);
      assertClientError(await admin('GET', '/v1/bans', undefined, adminKey.body.key), 401, 'api_key_invalid');
    });
  });

  describe('key bytes', () => {
    it('never come out of the control API', async () => {
      const created = await admin('POST', '/v1/keys', {
        resourceId: 'resource-keys',
        periods: 2,
        trackTypes: ['sd', 'hd'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const listed = await admin('GET', '/v1/keys?resourceId=resource-keys', undefined);
      assert.equal(listed.status, 200);
      for (const res of [created, listed]) {
        assert.equal(res.body.keys.length, 4);
        for (const key of res.body.keys) {
          assert.match(key.kid, /^[0-9a-f]{32}$/);
          assert.equal(key.resourceId, 'resource-keys');
          assert.equal('k' in key, false);
          assert.equal('key' in key, false);
          assert.equal('keySealed' in key, false);
          const stored = await server.store.getContentKey('default', key.kid);
          assert.ok(stored);
          const bytes = Buffer.from(stored.key);
          const text = res.raw.toString('latin1');
          assert.equal(res.raw.includes(bytes), false);
          for (const encoded of [
            bytes.toString('hex'),
            bytes.toString('base64url'),
            bytes.toString('base64'),
          ]) {
            assert.equal(text.includes(encoded), false, `key bytes ${encoded} in ${text}`);
          }
        }
      }
      assert.deepEqual(
        listed.body.keys.map((k: { kid: string }) => k.kid).sort(),
        created.body.keys.map((k: { kid: string }) => k.kid).sort(),
      );
    });
  });

  describe('afterwards', () => {
    it('still has exactly what it had before', async () => {
      const now = await snapshot();
      assert.deepEqual(now, before_);
      await assertAlive();
    });
  });
});
