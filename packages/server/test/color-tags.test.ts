/**
 * Colour-watermark tags are keyed: HMAC of the session id under a per-tenant key derived from the master
 * key. Nobody who only knows a session id (the text mark shows it) can compute its tag and paint it over
 * a restream; servers sharing a master key agree on it; `/v1/sessions/by-tag` still leads back to the
 * session.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

/** What the tag used to be: an unkeyed hash anyone could compute. */
const unkeyedSha = (tenantId: string, sessionId: string) =>
  createHash('sha256').update(`${tenantId}\n${sessionId}`, 'utf8').digest().readUInt32BE(0);
/** What the player used to fall back on. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

describe('keyed colour tags', () => {
  const SESSION = 'victim-session-1';
  let a: TestServer;
  let b: TestServer;
  let aTwin: TestServer;
  const kids = new Map<TestServer, string>();

  before(async () => {
    a = await startVigil({ masterKey: 'aa'.repeat(32) });
    b = await startVigil({ masterKey: 'bb'.repeat(32) });
    // Another instance with A's master key (its own data): instances sharing the key agree on tags.
    aTwin = await startVigil({ masterKey: 'aa'.repeat(32) });
    for (const s of [a, b, aTwin]) kids.set(s, (await createKeys(s, 'film'))[0]!);
  });
  after(async () => {
    await Promise.all([a, b, aTwin].map((s) => s?.close()));
  });

  async function tagFrom(server: TestServer, sessionId: string, secret = server.secret, tenant?: string) {
    const token = await viewerToken(secret, { sessionId, resourceId: 'film', ...(tenant ? { tenant } : {}) });
    const res = await call(`${server.url}/v1/license/clearkey`, {
      token,
      body: { kids: [kidB64(kids.get(server)!)], type: 'temporary' },
    });
    const header = res.headers.get('vigil-watermark');
    assert.ok(header, `no directive (${res.status} ${JSON.stringify(res.body)})`);
    const directive = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    const beat = await call(`${server.url}/v1/heartbeat`, { token, body: {} });
    assert.equal(beat.body.watermark.colorTag, directive.colorTag, 'heartbeat and license agree');
    return directive.colorTag as number;
  }

  const sessionsByTag = async (server: TestServer, tag: number, apiKey = server.apiKey) => {
    const res = await call(`${server.url}/v1/sessions/by-tag/${tag}`, { token: apiKey });
    assert.equal(res.status, 200);
    return res.body.sessions.map((s: { sessionId: string }) => s.sessionId) as string[];
  };

  it("can't be computed from the session id without the server's key", async () => {
    const tagA = await tagFrom(a, SESSION);
    const tagB = await tagFrom(b, SESSION);
    assert.ok(Number.isInteger(tagA) && tagA >= 0 && tagA <= 0xffff_ffff);
    assert.notEqual(tagA, tagB, 'different master keys, different tags');
    for (const tag of [tagA, tagB]) {
      assert.notEqual(tag, unkeyedSha('default', SESSION));
      assert.notEqual(tag, fnv1a32(SESSION));
    }
    assert.equal(await tagFrom(aTwin, SESSION), tagA, 'the same master key, the same tag');
    assert.equal(await tagFrom(a, SESSION), tagA, 'stable for the session');
    assert.notEqual(await tagFrom(a, `${SESSION}x`), tagA);
  });

  it('is keyed per tenant', async () => {
    const created = await call(`${a.url}/v1/tenants`, { token: a.apiKey, body: { id: 'tenant-two' } });
    assert.equal(created.status, 201);
    const keys = await call(`${a.url}/v1/keys`, {
      token: created.body.apiKey,
      body: { resourceId: 'film', periods: 1 },
    });
    assert.equal(keys.status, 201);
    const token = await viewerToken(created.body.jwtSecret, {
      sessionId: SESSION,
      resourceId: 'film',
      tenant: 'tenant-two',
    });
    const res = await call(`${a.url}/v1/license/clearkey`, {
      token,
      body: { kids: [kidB64(keys.body.keys[0].kid)], type: 'temporary' },
    });
    assert.equal(res.status, 200);
    const other = JSON.parse(
      Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString(),
    ).colorTag;
    assert.notEqual(other, await tagFrom(a, SESSION));
    assert.deepEqual(await sessionsByTag(a, other, created.body.apiKey), [SESSION]);
  });

  it('still leads back to the session, on the server that issued it only', async () => {
    const tagA = await tagFrom(a, SESSION);
    const tagB = await tagFrom(b, SESSION);
    assert.deepEqual(await sessionsByTag(a, tagA), [SESSION]);
    assert.deepEqual(await sessionsByTag(b, tagB), [SESSION]);
    // The tag a forger would compute, or another deployment's, names nobody.
    assert.deepEqual(await sessionsByTag(a, unkeyedSha('default', SESSION)), []);
    assert.deepEqual(await sessionsByTag(a, tagB), []);
  });
});
