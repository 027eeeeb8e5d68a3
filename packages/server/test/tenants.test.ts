/**
 * Tenant isolation over HTTP: tenant B, created through the platform API, shares a server (and resource
 * ids, session ids) with the default tenant A, and neither can reach the other's keys, bans, config,
 * stats or API keys. Mostly on the embedded store, plus one PostgreSQL case.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  call,
  kidB64,
  startVigil,
  TEST_DATABASE_URL,
  type TestServer,
  uniqueSchema,
  viewerToken,
} from '../../../test/support/vigil.ts';

interface TenantB {
  id: string;
  jwtSecret: string;
  apiKey: string;
}

const RESOURCE = 'shared-resource';

async function createTenant(server: TestServer, id: string): Promise<TenantB> {
  const res = await call(`${server.url}/v1/tenants`, {
    token: server.apiKey,
    body: { id, name: `Tenant ${id}` },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function keysOf(server: TestServer, apiKey: string, resourceId = RESOURCE): Promise<string[]> {
  const res = await call(`${server.url}/v1/keys`, { token: apiKey, body: { resourceId, periods: 2 } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.keys.map((k: { kid: string }) => k.kid);
}

async function license(server: TestServer, token: string, kids: string[]) {
  return call(`${server.url}/v1/license/clearkey`, { token, body: { kids: kids.map(kidB64) } });
}

const directiveOf = (res: { headers: Headers }) =>
  JSON.parse(Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString('utf8'));

const returnedKids = (res: { body: { keys: { kid: string }[] } }) =>
  res.body.keys.map((k) => Buffer.from(k.kid, 'base64url').toString('hex'));

describe('tenant isolation (embedded store)', () => {
  let server: TestServer;
  let b: TenantB;
  let aKids: string[];
  let bKids: string[];
  /** Viewer tokens: A's are signed with A's secret and name no tenant (the default one). */
  const aToken = (claims: Record<string, unknown> = {}) =>
    viewerToken(server.secret, { resourceId: RESOURCE, ...claims });
  const bToken = (claims: Record<string, unknown> = {}) =>
    viewerToken(b.jwtSecret, { resourceId: RESOURCE, tenant: b.id, ...claims });

  before(async () => {
    server = await startVigil();
  });
  after(() => server.close());

  it('the platform key creates tenant B and receives its token secret and admin key', async () => {
    b = await createTenant(server, 'tenant-b');
    assert.equal(b.id, 'tenant-b');
    assert.match(b.apiKey, /^vk_/);
    assert.ok(b.jwtSecret.length >= 32);
    assert.notEqual(b.jwtSecret, server.secret);

    const own = await call(`${server.url}/v1/tenant`, { token: b.apiKey });
    assert.equal(own.status, 200);
    assert.equal(own.body.id, 'tenant-b');
    const aOwn = await call(`${server.url}/v1/tenant`, { token: server.apiKey });
    assert.equal(aOwn.body.id, 'default');

    aKids = await keysOf(server, server.apiKey);
    bKids = await keysOf(server, b.apiKey);
  });

  it('a non-platform key cannot create or list tenants', async () => {
    const aAdmin = await call(`${server.url}/v1/apikeys`, { token: server.apiKey, body: { role: 'admin' } });
    assert.equal(aAdmin.status, 201);
    for (const key of [aAdmin.body.key, b.apiKey]) {
      const create = await call(`${server.url}/v1/tenants`, { token: key, body: { id: 'tenant-c' } });
      assert.equal(create.status, 403);
      assert.equal(create.body.code, 'forbidden');
      assert.equal((await call(`${server.url}/v1/tenants`, { token: key })).status, 403);
    }
    const anonymous = await call(`${server.url}/v1/tenants`, { body: { id: 'tenant-c' } });
    assert.equal(anonymous.status, 401);
    const list = await call(`${server.url}/v1/tenants`, { token: server.apiKey });
    assert.deepEqual(
      list.body.tenants.map((t: { id: string }) => t.id),
      ['default', 'tenant-b'],
    );
  });

  it("A's viewer never gets B's keys, even for the same resource id", async () => {
    const token = await aToken();
    const own = await license(server, token, aKids);
    assert.equal(own.status, 200);
    assert.deepEqual(returnedKids(own), aKids);

    const foreign = await license(server, token, bKids);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.code, 'unknown_kid');
    const mixed = await license(server, token, [...aKids, ...bKids]);
    assert.equal(mixed.status, 200);
    assert.deepEqual(returnedKids(mixed), aKids);
    const hls = await call(`${server.url}/v1/license/hls/${bKids[0]}?token=${token}`);
    assert.equal(hls.status, 404);
    assert.equal(hls.body.code, 'unknown_kid');

    // A token that names tenant B but is signed with A's secret is not B's.
    const forged = await viewerToken(server.secret, { resourceId: RESOURCE, tenant: b.id });
    const res = await license(server, forged, bKids);
    assert.equal(res.status, 401);
    assert.equal(res.body.code, 'token_invalid');
    // Nor is a token signed with B's secret that names no tenant (so the default one).
    const confused = await viewerToken(b.jwtSecret, { resourceId: RESOURCE });
    const res2 = await license(server, confused, aKids);
    assert.equal(res2.status, 401);
    assert.equal(res2.body.code, 'token_invalid');
    const unknown = await viewerToken(server.secret, { resourceId: RESOURCE, tenant: 'nobody' });
    assert.equal((await license(server, unknown, aKids)).body.code, 'unknown_tenant');

    // B's viewer gets B's keys, and not A's.
    const bOwn = await license(server, await bToken(), bKids);
    assert.equal(bOwn.status, 200);
    assert.deepEqual(returnedKids(bOwn), bKids);
    assert.notDeepEqual(
      bOwn.body.keys.map((k: { k: string }) => k.k),
      own.body.keys.map((k: { k: string }) => k.k),
    );
    const bForeign = await license(server, await bToken(), aKids);
    assert.equal(bForeign.status, 404);
    assert.equal(bForeign.body.code, 'unknown_kid');

    // Each tenant's key listing is its own.
    const aList = await call(`${server.url}/v1/keys?resourceId=${RESOURCE}`, { token: server.apiKey });
    const bList = await call(`${server.url}/v1/keys?resourceId=${RESOURCE}`, { token: b.apiKey });
    assert.deepEqual(aList.body.keys.map((k: { kid: string }) => k.kid).sort(), [...aKids].sort());
    assert.deepEqual(bList.body.keys.map((k: { kid: string }) => k.kid).sort(), [...bKids].sort());
  });

  it("B's API key can neither see, lift nor make bans in A", async () => {
    const aBan = await call(`${server.url}/v1/bans`, {
      token: server.apiKey,
      body: { sessionId: 'shared-session', reason: 'A leak' },
    });
    assert.equal(aBan.status, 201);
    const aRefused = await license(server, await aToken({ sessionId: 'shared-session' }), aKids);
    assert.equal(aRefused.status, 403);
    assert.equal(aRefused.body.code, 'banned');
    // A's ban does not refuse B's viewer with the same session id.
    assert.equal((await license(server, await bToken({ sessionId: 'shared-session' }), bKids)).status, 200);

    const bList = await call(`${server.url}/v1/bans`, { token: b.apiKey });
    assert.equal(bList.status, 200);
    assert.deepEqual(bList.body.bans, []);

    const lift = await call(`${server.url}/v1/bans/${aBan.body.id}`, { method: 'DELETE', token: b.apiKey });
    assert.equal(lift.status, 404);
    const aList = await call(`${server.url}/v1/bans`, { token: server.apiKey });
    assert.deepEqual(
      aList.body.bans.map((x: { id: string }) => x.id),
      [aBan.body.id],
    );
    assert.equal((await license(server, await aToken({ sessionId: 'shared-session' }), aKids)).status, 403);

    // B bans a session and an IP: only B's viewers are refused.
    const bBan = await call(`${server.url}/v1/bans`, { token: b.apiKey, body: { sessionId: 'b-pirate' } });
    assert.equal(bBan.status, 201);
    const bRefused = await license(server, await bToken({ sessionId: 'b-pirate' }), bKids);
    assert.equal(bRefused.status, 403);
    assert.equal(bRefused.body.code, 'banned');
    assert.equal((await license(server, await aToken({ sessionId: 'b-pirate' }), aKids)).status, 200);

    const bIpBan = await call(`${server.url}/v1/bans`, { token: b.apiKey, body: { ip: '127.0.0.1' } });
    assert.equal(bIpBan.status, 201);
    assert.equal((await license(server, await bToken({ sessionId: 'b-viewer' }), bKids)).status, 403);
    assert.equal((await license(server, await aToken({ sessionId: 'a-viewer' }), aKids)).status, 200);
    const bLift = await call(`${server.url}/v1/bans/${bIpBan.body.id}`, {
      method: 'DELETE',
      token: b.apiKey,
    });
    assert.equal(bLift.status, 204);
    assert.equal((await license(server, await bToken({ sessionId: 'b-viewer' }), bKids)).status, 200);

    // A can't lift B's ban either, and neither sees the other's bans or sightings.
    const aLift = await call(`${server.url}/v1/bans/${bBan.body.id}`, {
      method: 'DELETE',
      token: server.apiKey,
    });
    assert.equal(aLift.status, 404);
    const aBans = (await call(`${server.url}/v1/bans`, { token: server.apiKey })).body.bans;
    const bBans = (await call(`${server.url}/v1/bans`, { token: b.apiKey })).body.bans;
    assert.deepEqual(
      aBans.map((x: { value: string }) => x.value),
      ['shared-session'],
    );
    assert.deepEqual(
      bBans.map((x: { value: string }) => x.value),
      ['b-pirate'],
    );
  });

  it("B's watermark config change does not change A's directive", async () => {
    const aBefore = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
    const put = await call(`${server.url}/v1/watermark`, {
      method: 'PUT',
      token: b.apiKey,
      body: { enabled: false, mode: 'color', textOpacity: 0.2 },
    });
    assert.equal(put.status, 200);

    const aAfter = await call(`${server.url}/v1/watermark`, { token: server.apiKey });
    assert.deepEqual(aAfter.body, aBefore.body);
    const aDirective = directiveOf(await license(server, await aToken({ sessionId: 'a-wm' }), aKids));
    assert.equal(aDirective.enabled, true);
    assert.equal(aDirective.mode, 'text');
    assert.equal(aDirective.textOpacity, aBefore.body.textOpacity);
    const aBeat = await call(`${server.url}/v1/heartbeat`, {
      method: 'POST',
      token: await aToken({ sessionId: 'a-wm' }),
    });
    assert.equal(aBeat.status, 200);
    assert.equal(aBeat.body.watermark.mode, 'text');

    const bDirective = directiveOf(await license(server, await bToken({ sessionId: 'b-wm' }), bKids));
    assert.equal(bDirective.enabled, false);
    assert.equal(bDirective.mode, 'color');
    assert.equal(bDirective.sessionId, 'b-wm');

    // And the other way round.
    await call(`${server.url}/v1/watermark`, {
      method: 'PUT',
      token: server.apiKey,
      body: { heartbeatSeconds: 42 },
    });
    const bAgain = await call(`${server.url}/v1/watermark`, { token: b.apiKey });
    assert.equal(bAgain.body.heartbeatSeconds, put.body.heartbeatSeconds);
    assert.notEqual(bAgain.body.heartbeatSeconds, 42);
  });

  it("each tenant's stats count only its own requests", async () => {
    const totals = async (key: string) =>
      (await call(`${server.url}/v1/stats`, { token: key })).body.totals as {
        granted: number;
        denied: number;
        denials: Record<string, number>;
      };
    const a0 = await totals(server.apiKey);
    const b0 = await totals(b.apiKey);

    const bTok = await bToken({ sessionId: 'b-stats' });
    for (let i = 0; i < 3; i++) assert.equal((await license(server, bTok, bKids)).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await license(server, bTok, aKids)).status, 404);

    const a1 = await totals(server.apiKey);
    const b1 = await totals(b.apiKey);
    assert.deepEqual(a1, a0);
    assert.equal(b1.granted, b0.granted + 3);
    assert.equal(b1.denied, b0.denied + 2);
    assert.equal(b1.denials.unknown_kid, (b0.denials.unknown_kid ?? 0) + 2);

    assert.equal((await license(server, await aToken(), aKids)).status, 200);
    assert.deepEqual(await totals(b.apiKey), b1);
    assert.equal((await totals(server.apiKey)).granted, a0.granted + 1);
  });

  it("B's admin key can't see or revoke A's API keys", async () => {
    const aKeys = (await call(`${server.url}/v1/apikeys`, { token: server.apiKey })).body.apiKeys;
    const bKeys = (await call(`${server.url}/v1/apikeys`, { token: b.apiKey })).body.apiKeys;
    const aPrefixes = aKeys.map((k: { prefix: string }) => k.prefix);
    assert.deepEqual(
      bKeys.map((k: { prefix: string }) => k.prefix),
      [b.apiKey.slice(0, 8)],
    );
    const revoke = await call(`${server.url}/v1/apikeys/${server.apiKey.slice(0, 8)}`, {
      method: 'DELETE',
      token: b.apiKey,
    });
    assert.equal(revoke.status, 404);
    assert.ok(aPrefixes.includes(server.apiKey.slice(0, 8)));
    assert.equal((await call(`${server.url}/v1/bans`, { token: server.apiKey })).status, 200);
  });
});

describe('tenant isolation (PostgreSQL)', () => {
  const schema = uniqueSchema();
  let server: TestServer | undefined;

  before(async () => {
    server = await startVigil({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema }).catch((err) => {
      throw new Error(`PostgreSQL is required at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    });
  });
  after(async () => {
    await server?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });

  it('keeps keys, bans and watermark config apart', async () => {
    const s = server!;
    assert.equal(s.store.kind, 'postgres');
    const b = await createTenant(s, 'tenant-b');
    const aKids = await keysOf(s, s.apiKey);
    const bKids = await keysOf(s, b.apiKey);
    const aTok = await viewerToken(s.secret, { resourceId: RESOURCE, sessionId: 'pg-shared' });
    const bTok = await viewerToken(b.jwtSecret, {
      resourceId: RESOURCE,
      tenant: b.id,
      sessionId: 'pg-shared',
    });

    const foreign = await license(s, aTok, bKids);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.code, 'unknown_kid');
    const forged = await viewerToken(s.secret, { resourceId: RESOURCE, tenant: b.id });
    const forgedRes = await license(s, forged, bKids);
    assert.equal(forgedRes.status, 401);
    assert.equal(forgedRes.body.code, 'token_invalid');
    assert.deepEqual(returnedKids(await license(s, bTok, bKids)), bKids);

    const aBan = await call(`${s.url}/v1/bans`, { token: s.apiKey, body: { sessionId: 'pg-shared' } });
    assert.equal(aBan.status, 201);
    assert.deepEqual((await call(`${s.url}/v1/bans`, { token: b.apiKey })).body.bans, []);
    const lift = await call(`${s.url}/v1/bans/${aBan.body.id}`, { method: 'DELETE', token: b.apiKey });
    assert.equal(lift.status, 404);
    assert.equal((await license(s, aTok, aKids)).status, 403);
    assert.equal((await license(s, bTok, bKids)).status, 200);

    await call(`${s.url}/v1/watermark`, { method: 'PUT', token: b.apiKey, body: { mode: 'color' } });
    const bWm = directiveOf(await license(s, bTok, bKids));
    assert.equal(bWm.mode, 'color');
    const aTok2 = await viewerToken(s.secret, { resourceId: RESOURCE, sessionId: 'pg-a' });
    assert.equal(directiveOf(await license(s, aTok2, aKids)).mode, 'text');

    const create = await call(`${s.url}/v1/tenants`, { token: b.apiKey, body: { id: 'tenant-c' } });
    assert.equal(create.status, 403);
  });
});
