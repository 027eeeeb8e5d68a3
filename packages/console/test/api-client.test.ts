/**
 * The console's API client: every kind of failure becomes an ApiError with the right kind and a message
 * that says what failed and what to do; the CSRF token goes with every state-changing call, never with
 * reads. Against a real Vigil (validation errors, wrong role) and a small HTTP server for answers Vigil
 * gives only in situations hard to set up (gateway errors, throttling), and a closed port.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { call, startVigil, type TestServer } from '../../../test/support/vigil.ts';
import { ApiClient, ApiError, explain } from '../src/api.ts';

describe('console API client', () => {
  let vigil: TestServer;
  let stub: Server;
  let stubUrl = '';
  const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];

  before(async () => {
    vigil = await startVigil();
    stub = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const [, status, code] = /^\/(\d+)\/?([a-z_]*)/.exec(req.url ?? '') ?? [];
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (status === '429') headers['retry-after'] = '7';
      res.writeHead(Number(status ?? 200), headers);
      res.end(
        JSON.stringify(
          code ? { statusCode: Number(status), code, message: `because ${code}` } : { ok: true },
        ),
      );
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => stub.close(r));
    await vigil.close();
  });

  const fail = async (p: Promise<unknown>): Promise<ApiError> => {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof ApiError, String(err));
      return err;
    }
    throw new Error('expected a failure');
  };

  test("Vigil's own refusals: a bad request names the field, a readonly key is told its role", async () => {
    const admin = new ApiClient(vigil.url, {}, { authorization: `Bearer ${vigil.apiKey}` });
    const bad = await fail(admin.put('/v1/watermark', { symbolSeconds: -1 }, 'Saving the watermark'));
    assert.equal(bad.status, 400);
    assert.equal(bad.kind, 'invalid');
    assert.match(explain(bad), /^Saving the watermark failed: .*symbolSeconds/);

    const created = await call(`${vigil.url}/v1/apikeys`, {
      token: vigil.apiKey,
      body: { role: 'readonly' },
    });
    const readonly = new ApiClient(vigil.url, {}, { authorization: `Bearer ${created.body.key}` });
    assert.equal((await readonly.get<{ enabled: boolean }>('/v1/watermark', 'Loading')).enabled, true);
    const denied = await fail(readonly.put('/v1/watermark', { enabled: false }, 'Switching the watermark'));
    assert.equal(denied.status, 403);
    assert.equal(denied.kind, 'forbidden');
    assert.equal(
      explain(denied, 'readonly'),
      "Switching the watermark failed: your role (readonly) can't do this. Ask an admin of this tenant.",
    );
  });

  test('signed out, expired, throttled, wrong password, server errors and gateways', async () => {
    let signedOut: ApiError | undefined;
    let unreachable = 0;
    const client = new ApiClient(stubUrl, {
      onSignedOut: (e) => {
        signedOut = e;
      },
      onUnreachable: () => unreachable++,
    });
    const expired = await fail(client.get('/401/console_session_expired', 'Loading the bans'));
    assert.equal(expired.kind, 'signed-out');
    assert.equal(signedOut, expired, 'the app hears of a lost session');
    assert.equal(explain(expired), 'Your session has expired. Sign in again.');

    const wrong = await fail(client.post('/401/signin_failed', {}, 'Signing in'));
    assert.equal(wrong.kind, 'invalid', 'a wrong password is not a lost session');
    assert.equal(explain(wrong), 'Wrong user name or password. Check both and try again.');

    const throttled = await fail(client.post('/429/signin_throttled', {}, 'Signing in'));
    assert.equal(throttled.retryAfter, 7);
    assert.match(explain(throttled), /Wait 7 seconds/);

    const csrf = await fail(client.post('/403/csrf_invalid', {}, 'Banning a session'));
    assert.equal(csrf.kind, 'invalid');
    assert.match(explain(csrf), /Reload the page/);

    const crash = await fail(client.get('/500/internal', 'Loading the stats'));
    assert.equal(crash.kind, 'server');
    assert.match(explain(crash), /server had a problem \(500 internal\)/);

    const gateway = await fail(client.get('/502', 'Loading the stats'));
    assert.equal(gateway.kind, 'unreachable', 'a proxy in front of a stopped Vigil');
    assert.equal(unreachable, 1);
  });

  test('a closed port is "not reachable"', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    let told = false;
    const client = new ApiClient(`http://127.0.0.1:${port}`, {
      onUnreachable: () => {
        told = true;
      },
    });
    const err = await fail(client.get('/v1/watermark', 'Loading the watermark'));
    assert.equal(err.kind, 'unreachable');
    assert.ok(told);
    assert.match(explain(err), /^Loading the watermark failed: Vigil is not reachable\./);
  });

  test('the CSRF token goes with writes only; bodies are JSON or the file as it is', async () => {
    const client = new ApiClient(stubUrl);
    client.csrfToken = 'csrf-123';
    seen.length = 0;
    await client.get('/200', 'Reading');
    await client.post('/200', { a: 1 }, 'Writing');
    await client.request('/200', {
      method: 'POST',
      body: new Blob(['x'], { type: 'video/mp4' }),
      action: 'Uploading',
    });
    await client.del('/200', 'Deleting');
    assert.deepEqual(
      seen.map((s) => [s.method, s.headers['x-csrf-token'], s.headers['content-type']]),
      [
        ['GET', undefined, undefined],
        ['POST', 'csrf-123', 'application/json'],
        ['POST', 'csrf-123', 'video/mp4'],
        ['DELETE', 'csrf-123', undefined],
      ],
    );
  });
});
