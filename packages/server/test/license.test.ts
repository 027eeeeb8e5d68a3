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

describe('ClearKey license', () => {
  let server: TestServer;
  let kids: string[];
  before(async () => {
    server = await startVigil();
    kids = await createKeys(server, 'resource-1', 2);
  });
  after(() => server.close());

  it('answers a W3C ClearKey request with the keys and a watermark directive header', async () => {
    const token = await viewerToken(server.secret);
    const res = await call(`${server.url}/v1/license/clearkey`, {
      token,
      body: { kids: kids.map(kidB64), type: 'temporary' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.type, 'temporary');
    assert.deepEqual(
      res.body.keys.map((k: { kid: string }) => k.kid),
      kids.map(kidB64),
    );
    for (const key of res.body.keys) {
      assert.equal(key.kty, 'oct');
      assert.match(key.k, /^[A-Za-z0-9_-]{22}$/);
    }
    const directive = JSON.parse(Buffer.from(res.headers.get('vigil-watermark')!, 'base64url').toString());
    assert.equal(directive.sessionId, 'session-1');
    assert.equal(directive.enabled, true);
  });

  it('serves the same key as raw bytes on the HLS endpoint, with the token in the query', async () => {
    const token = await viewerToken(server.secret);
    const license = await call(`${server.url}/v1/license/clearkey`, {
      token,
      body: { kids: [kidB64(kids[0]!)] },
    });
    const res = await call(`${server.url}/v1/license/hls/${kids[0]}?token=${token}`);
    assert.equal(res.status, 200);
    assert.equal(res.raw.length, 16);
    assert.equal(res.raw.toString('base64url'), license.body.keys[0].k);
  });
});
