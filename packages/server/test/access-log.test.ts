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

describe('access log', () => {
  let server: TestServer;
  let kids: string[];
  before(async () => {
    server = await startVigil();
    kids = await createKeys(server, 'match', 2);
  });
  after(() => server.close());

  const license = (token: string, kid = kids[0]!) =>
    call(`${server.url}/v1/license/clearkey`, {
      token,
      body: { kids: [kidB64(kid)] },
      headers: { 'user-agent': 'VigilTest/1.0' },
    });
  const logs = async (query: string, apiKey = server.apiKey) => {
    const res = await call(`${server.url}/v1/access-logs?${query}`, { token: apiKey });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.entries as {
      action: string;
      sessionId: string;
      ip: string;
      userAgent: string;
      metadata: Record<string, unknown> | null;
    }[];
  };

  it('records a session: streamStart, then heartbeats as streamProgress (key deliveries at most every 10 s), with IP and user agent', async () => {
    const token = await viewerToken(server.secret, {
      sessionId: 'alice',
      resourceId: 'match',
      sub: 'user-7',
    });
    assert.equal((await license(token)).status, 200);
    assert.equal((await license(token, kids[1])).status, 200);
    const beat = await call(`${server.url}/v1/heartbeat`, { token, method: 'POST' });
    assert.equal(beat.status, 200);
    const entries = (await logs('sessionId=alice')).reverse();
    assert.deepEqual(
      entries.map((e) => [e.action, e.metadata?.event ?? null]),
      [
        ['streamStart', null],
        ['streamProgress', 'heartbeat'],
      ],
    );
    for (const e of entries) {
      assert.equal(e.ip, '127.0.0.1');
      assert.equal(e.sessionId, 'alice');
    }
    assert.equal(entries[0]!.userAgent, 'VigilTest/1.0');
    assert.equal((entries[0] as unknown as { userId: string }).userId, 'user-7');
  });

  it('takes player reports (tamper) as suspiciousActivity, and refuses bad ones', async () => {
    const token = await viewerToken(server.secret, { sessionId: 'bob', resourceId: 'match' });
    const report = await call(`${server.url}/v1/events`, {
      token,
      body: { action: 'suspiciousActivity', detail: { kind: 'tamper', check: 'opacity' } },
    });
    assert.equal(report.status, 202);
    const [entry] = await logs('sessionId=bob&action=suspiciousActivity');
    assert.deepEqual(entry!.metadata, { kind: 'tamper', check: 'opacity' });

    const noToken = await call(`${server.url}/v1/events`, { body: { action: 'suspiciousActivity' } });
    assert.equal(noToken.status, 401);
    assert.equal(noToken.body.code, 'token_missing');
    const badAction = await call(`${server.url}/v1/events`, { token, body: { action: 'streamStart' } });
    assert.equal(badAction.status, 400);
    const huge = await call(`${server.url}/v1/events`, {
      token,
      body: { action: 'suspiciousActivity', detail: { blob: 'x'.repeat(5000) } },
    });
    assert.equal(huge.status, 400);
    assert.equal(huge.body.code, 'invalid_event');
    assert.equal((await logs('sessionId=bob')).length, 1);
  });

  it('records refusals of a known session as accessDenied', async () => {
    const token = await viewerToken(server.secret, { sessionId: 'carol', resourceId: 'match' });
    const ban = await call(`${server.url}/v1/bans`, { token: server.apiKey, body: { sessionId: 'carol' } });
    assert.equal(ban.status, 201);
    assert.equal((await license(token)).status, 403);
    const [entry] = await logs('sessionId=carol');
    assert.equal(entry!.action, 'accessDenied');
    assert.equal(entry!.metadata?.reason, 'banned');
  });

  it('maps the colour-watermark tag of the directive back to its session', async () => {
    const token = await viewerToken(server.secret, { sessionId: 'dave', resourceId: 'match' });
    const res = await license(token);
    const directive = JSON.parse(Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString());
    assert.equal(typeof directive.colorTag, 'number');
    const found = await call(`${server.url}/v1/sessions/by-tag/${directive.colorTag}`, {
      token: server.apiKey,
    });
    assert.equal(found.status, 200);
    assert.deepEqual(
      found.body.sessions.map((s: { sessionId: string }) => s.sessionId),
      ['dave'],
    );
    const bad = await call(`${server.url}/v1/sessions/by-tag/not-a-number`, { token: server.apiKey });
    assert.equal(bad.status, 400);
  });

  it('keeps tenants apart', async () => {
    const created = await call(`${server.url}/v1/tenants`, { token: server.apiKey, body: { id: 'other' } });
    assert.equal(created.status, 201);
    assert.deepEqual(await logs('sessionId=alice', created.body.apiKey), []);
    assert.deepEqual(await logs('limit=1000', created.body.apiKey), []);
  });
});
