/**
 * POST /v1/license/clearkey has two ways in: the node:http fast path and the Fastify route (for what the
 * fast path does not take). Both must give the same answers: status, headers and body, granted or not.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildApp, ensureDefaultTenant, openStore, seedApiKey } from '@vigil/server';
import type { VigilStore } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import {
  call,
  createKeys,
  kidB64,
  type TestServer,
  tempDir,
  viewerToken,
} from '../../../test/support/vigil.ts';

const GOOD = 'https://good.example';
const EVIL = 'https://evil.example';
/** Headers that differ between any two answers. */
const VOLATILE = new Set(['date', 'connection', 'keep-alive']);

interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

describe('ClearKey fast path', () => {
  let app: FastifyInstance;
  let store: VigilStore;
  let dataDir: string;
  let server: TestServer;
  let kids: string[];
  let foreignKids: string[];
  /** Requests Fastify routed (the fast path's never reach its hooks). */
  let routed = 0;

  before(async () => {
    dataDir = tempDir();
    const secret = `test-secret-${randomBytes(12).toString('hex')}`;
    const apiKey = `vk_test_${randomBytes(16).toString('hex')}`;
    store = await openStore({ dataDir, masterKey: '11'.repeat(32) });
    await ensureDefaultTenant(store, secret);
    await seedApiKey(store, apiKey);
    app = await buildApp({ store, config: { statsFlushMs: 200 } });
    app.addHook('onRequest', async (request) => {
      if (request.url.startsWith('/v1/license/clearkey')) routed++;
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    server = { url, store, secret, apiKey, close: async () => {} };
    kids = await createKeys(server, 'resource-1', 2);
    foreignKids = await createKeys(server, 'resource-2', 1);
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** One request, by the fast path (`fast`) or, with a query string it does not take, by the route. */
  async function send(
    fast: boolean,
    init: { token?: string; body: string; origin?: string; contentType?: string },
  ): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': init.contentType ?? 'application/json' };
    if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
    if (init.origin) headers.origin = init.origin;
    const before = routed;
    const res = await fetch(`${server.url}/v1/license/clearkey${fast ? '' : '?via=route'}`, {
      method: 'POST',
      headers,
      body: init.body,
    });
    const body = await res.text();
    assert.equal(routed - before, fast ? 0 : 1, fast ? 'the fast path answered' : 'Fastify answered');
    return {
      status: res.status,
      headers: [...res.headers].filter(([name]) => !VOLATILE.has(name)),
      body,
    };
  }

  /** Fast path (first with this token, then cached), route, fast path again: all alike. Returns it. */
  async function same(init: { token?: string; body: string; origin?: string }): Promise<Answer> {
    const first = await send(true, init);
    const route = await send(false, init);
    const again = await send(true, init);
    assert.deepEqual(first, route, `${init.body}: fast path and route differ`);
    assert.deepEqual(again, route, `${init.body}: fast path (cached token) and route differ`);
    return route;
  }

  const licenseBody = (list: string[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ kids: list.map(kidB64), ...extra });

  it('grants the same license, directive and headers', async () => {
    const res = await same({ token: await viewerToken(server.secret), body: licenseBody(kids) });
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body);
    assert.deepEqual(
      body.keys.map((k: { kid: string }) => k.kid),
      kids.map(kidB64),
    );
    const names = res.headers.map(([name]) => name);
    for (const name of ['vigil-watermark', 'cache-control', 'content-type', 'content-length']) {
      assert.ok(names.includes(name), name);
    }
    // Repeated and padded kids, persistent-license type.
    const kid = kidB64(kids[0]!);
    const dup = await same({
      token: await viewerToken(server.secret, { sessionId: 'session-2' }),
      body: JSON.stringify({ kids: [kid, `${kid}==`, kid], type: 'persistent-license' }),
    });
    assert.equal(dup.status, 200);
    assert.equal(JSON.parse(dup.body).keys.length, 1);
  });

  it('refuses alike, with the same codes and bodies', async () => {
    const token = await viewerToken(server.secret);
    const [h, p] = token.split('.');
    const cases: [string, { token?: string; body: string }, number, string][] = [
      ['malformed token', { token: 'not-a-jwt', body: licenseBody(kids) }, 401, 'token_malformed'],
      [
        'bad signature',
        { token: `${h}.${p}.${'A'.repeat(43)}`, body: licenseBody(kids) },
        401,
        'token_invalid',
      ],
      [
        'expired',
        { token: await viewerToken(server.secret, { expiresIn: -120 }), body: licenseBody(kids) },
        401,
        'token_expired',
      ],
      [
        'other IP',
        { token: await viewerToken(server.secret, { ip: '10.1.2.3' }), body: licenseBody(kids) },
        403,
        'ip_mismatch',
      ],
      [
        'unknown tenant',
        { token: await viewerToken(server.secret, { tenant: 'nobody' }), body: licenseBody(kids) },
        401,
        'unknown_tenant',
      ],
      [
        'unknown kid',
        { token, body: JSON.stringify({ kids: [randomBytes(16).toString('base64url')] }) },
        404,
        'unknown_kid',
      ],
      ['other resource', { token, body: licenseBody(foreignKids) }, 403, 'resource_mismatch'],
      ['not JSON', { token, body: '{"kids": [' }, 400, 'invalid_json'],
      ['not an object', { token, body: '[1]' }, 400, 'invalid_license_request'],
      ['no kids', { token, body: '{"kids": []}' }, 400, 'invalid_license_request'],
      ['bad kid', { token, body: '{"kids": ["!!"]}' }, 400, 'invalid_kid'],
      [
        'short kid',
        { token, body: JSON.stringify({ kids: [randomBytes(15).toString('base64url')] }) },
        400,
        'invalid_kid',
      ],
      ['bad type', { token, body: licenseBody(kids, { type: 'forever' }) }, 400, 'invalid_license_request'],
      [
        'too many kids',
        { token, body: JSON.stringify({ kids: Array.from({ length: 65 }, () => kidB64(kids[0]!)) }) },
        400,
        'invalid_license_request',
      ],
    ];
    for (const [name, init, status, code] of cases) {
      const res = await same(init);
      assert.equal(res.status, status, name);
      const body = JSON.parse(res.body);
      assert.equal(body.code, code, name);
      assert.deepEqual(Object.keys(body), ['statusCode', 'code', 'message'], name);
      assert.equal(
        res.headers.find(([n]) => n === 'vigil-watermark'),
        undefined,
        `${name}: a refusal carries no directive`,
      );
    }
  });

  it('refuses a banned session alike', async () => {
    const ban = await call(`${server.url}/v1/bans`, {
      token: server.apiKey,
      body: { sessionId: 'banned-1' },
    });
    assert.equal(ban.status, 201, JSON.stringify(ban.body));
    const res = await same({
      token: await viewerToken(server.secret, { sessionId: 'banned-1' }),
      body: licenseBody(kids),
    });
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).code, 'banned');
  });

  it('gives the same CORS headers, and refuses origins the tenant does not allow', async () => {
    const token = await viewerToken(server.secret);
    // Until the allowed origins are in memory, requests with an Origin go through Fastify (which loads them).
    await send(false, { token, body: licenseBody(kids), origin: GOOD });
    const open = await same({ token, body: licenseBody(kids), origin: GOOD });
    assert.equal(open.status, 200);
    assert.ok(open.headers.some(([n, v]) => n === 'access-control-allow-origin' && v === GOOD));

    const set = await call(`${server.url}/v1/tenant`, {
      method: 'PUT',
      token: server.apiKey,
      body: { allowedOrigins: [GOOD] },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    // The first request after the change may reload the origins through Fastify; then the fast path.
    await send(false, { token, body: licenseBody(kids), origin: GOOD });
    const good = await same({ token, body: licenseBody(kids), origin: GOOD });
    assert.equal(good.status, 200);
    assert.ok(good.headers.some(([n, v]) => n === 'access-control-allow-origin' && v === GOOD));
    const refusedGood = await same({
      token: await viewerToken(server.secret, { ip: '10.9.9.9' }),
      body: licenseBody(kids),
      origin: GOOD,
    });
    assert.equal(refusedGood.status, 403);
    assert.ok(refusedGood.headers.some(([n]) => n === 'access-control-allow-origin'));
    const evil = await same({ token, body: licenseBody(kids), origin: EVIL });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).code, 'origin_not_allowed');
    assert.ok(!evil.headers.some(([n]) => n.startsWith('access-control-')));
  });

  it('leaves other requests to the route: no Bearer token, other content types, a query string', async () => {
    const body = licenseBody(kids);
    const token = await viewerToken(server.secret);
    let before = routed;
    const noAuth = await fetch(`${server.url}/v1/license/clearkey`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(noAuth.status, 401);
    assert.equal(routed - before, 1);
    before = routed;
    const octets = await fetch(`${server.url}/v1/license/clearkey`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${token}` },
      body,
    });
    assert.equal(octets.status, 200);
    assert.equal(routed - before, 1);
    before = routed;
    const query = await fetch(`${server.url}/v1/license/clearkey?token=${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(query.status, 200);
    assert.equal(routed - before, 1);
    // Too large for the route's parser: 413 from Fastify.
    before = routed;
    const large = await fetch(`${server.url}/v1/license/clearkey`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ kids: [kidB64(kids[0]!)], pad: 'x'.repeat(17 * 1024) }),
    });
    assert.equal(large.status, 413);
    assert.equal(((await large.json()) as { code: string }).code, 'body_too_large');
    assert.equal(routed - before, 1);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${server.url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(doc.paths['/v1/license/clearkey']);
  });
});
