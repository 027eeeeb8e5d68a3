import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { call, createKeys, kidB64, startVigil, type TestServer } from '../../../test/support/vigil.ts';
import { createSampleIntegration } from '../src/index.ts';

const BIN = join(import.meta.dirname, '../bin/sample-integration.mjs');

/** The watermark directive Vigil sends with a license. */
const directiveOf = (headers: Headers) =>
  JSON.parse(Buffer.from(headers.get('vigil-watermark')!, 'base64url').toString('utf8'));

describe('sample integration', () => {
  let vigil: TestServer;
  let integration: FastifyInstance;
  let url: string;
  let kids: string[];
  const children: ChildProcess[] = [];

  before(async () => {
    vigil = await startVigil();
    kids = await createKeys(vigil, 'res', 2);
    integration = createSampleIntegration({
      vigilUrl: `${vigil.url}/`,
      apiKey: vigil.apiKey,
      jwtSecret: vigil.secret,
      tokenTtlSeconds: 900,
    });
    url = await integration.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      }
    }
    await integration.close();
    await vigil.close();
  });

  const license = (token: string, resourceKids = kids) =>
    call(`${vigil.url}/v1/license/clearkey`, {
      token,
      body: { kids: resourceKids.map(kidB64), type: 'temporary' },
    });

  it('hands a player a token bound to its IP and the URLs to use it on', async () => {
    const res = await call(`${url}/res/sess`);
    assert.equal(res.status, 200);
    assert.equal(res.body.licenseServerUrl, `${vigil.url}/v1/license/clearkey`);
    assert.equal(res.body.heartbeatUrl, `${vigil.url}/v1/heartbeat`);
    assert.equal(res.body.hlsKeyUrlTemplate, `${vigil.url}/v1/license/hls/{kid}?token=${res.body.token}`);

    const claims = decodeJwt(res.body.token);
    assert.equal(claims.sessionId, 'sess');
    assert.equal(claims.resourceId, 'res');
    assert.equal(claims.ip, '127.0.0.1');
    assert.equal(claims.exp! - claims.iat!, 900);

    const granted = await license(res.body.token);
    assert.equal(granted.status, 200);
    assert.deepEqual(
      granted.body.keys.map((k: { kid: string }) => k.kid),
      kids.map(kidB64),
    );
    assert.equal(directiveOf(granted.headers).sessionId, 'sess');

    const hls = await call(res.body.hlsKeyUrlTemplate.replace('{kid}', kids[0]));
    assert.equal(hls.status, 200);
    assert.equal(hls.raw.toString('base64url'), granted.body.keys[0].k);
    const heartbeat = await call(res.body.heartbeatUrl, { method: 'POST', token: res.body.token });
    assert.equal(heartbeat.status, 200);
    assert.equal(heartbeat.body.status, 'ok');
  });

  it("grants only the named resource's keys", async () => {
    const otherKids = await createKeys(vigil, 'other-res');
    const { body } = await call(`${url}/res/sess-2`);
    assert.equal((await license(body.token, otherKids)).status, 403);
  });

  it('switches watermarking off and on through /config/<value>', async () => {
    const { body } = await call(`${url}/res/sess`);
    try {
      const off = await call(`${url}/config/0`);
      assert.equal(off.status, 200);
      assert.deepEqual(off.body, { watermarking: false });
      const res = await license(body.token);
      assert.equal(res.status, 200);
      assert.equal(directiveOf(res.headers).enabled, false);
    } finally {
      assert.deepEqual((await call(`${url}/config/1`)).body, { watermarking: true });
    }
    assert.equal(directiveOf((await license(body.token)).headers).enabled, true);
  });

  it('bans a session through /ban/<sessionId>: its license is then refused', async () => {
    const { body } = await call(`${url}/res/sess`);
    assert.equal((await license(body.token)).status, 200);
    const ban = await call(`${url}/ban/sess`);
    assert.equal(ban.status, 200);
    assert.deepEqual(ban.body, { banned: 'sess' });
    const refused = await license(body.token);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'banned');
    // Other sessions keep playing.
    const other = await call(`${url}/res/another-session`);
    assert.equal((await license(other.body.token)).status, 200);
  });

  it("answers 502 when Vigil refuses the integration's API key", async () => {
    const misconfigured = createSampleIntegration({
      vigilUrl: vigil.url,
      apiKey: 'vk_not_a_key',
      jwtSecret: vigil.secret,
    });
    const address = await misconfigured.listen({ port: 0, host: '127.0.0.1' });
    try {
      const res = await call(`${address}/config/0`);
      assert.equal(res.status, 502);
      assert.match(res.body.error, /Vigil answered 401/);
      assert.equal((await call(`${address}/ban/sess-x`)).status, 502);
    } finally {
      await misconfigured.close();
    }
    const watermark = await call(`${vigil.url}/v1/watermark`, { token: vigil.apiKey });
    assert.equal(watermark.body.enabled, true);
  });

  /** Runs the bin; resolves with its first stdout line, or its exit code and stderr if it exits first. */
  function runBin(env: Record<string, string | undefined>) {
    const child = spawn(process.execPath, [BIN], {
      env: { ...process.env, VIGIL_URL: '', VIGIL_API_KEY: '', VIGIL_JWT_SECRET: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    return new Promise<{ line?: string; code?: number | null; stderr: string }>((done) => {
      createInterface({ input: child.stdout! }).once('line', (line) => done({ line, stderr }));
      child.once('exit', (code) => done({ code, stderr }));
    });
  }

  it('the bin explains a missing setting in one line', async () => {
    const res = await runBin({ VIGIL_URL: vigil.url, VIGIL_JWT_SECRET: vigil.secret });
    assert.equal(res.code, 2);
    assert.equal(res.stderr.trim().split('\n').length, 1);
    assert.match(res.stderr, /VIGIL_API_KEY is not set/);
  });

  it('the bin starts the integration from the environment', async () => {
    const res = await runBin({
      VIGIL_URL: vigil.url,
      VIGIL_API_KEY: vigil.apiKey,
      VIGIL_JWT_SECRET: vigil.secret,
      PORT: '0',
    });
    const m = /^Sample integration listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(res.line ?? '');
    assert.ok(m, `unexpected start: ${JSON.stringify(res)}`);
    const playback = await call(`${m[1]}/res/cli-session`);
    assert.equal(playback.status, 200);
    assert.equal((await license(playback.body.token)).status, 200);
  });
});
