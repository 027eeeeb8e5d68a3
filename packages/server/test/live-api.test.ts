/**
 * The live channels' control API and CLI, without running channels (the instance here runs none; the
 * playback test in packages/live runs them): definitions are checked with one clear 4xx per mistake and
 * store nothing, roles and tenants are enforced, and `vigil live start|stop|status` writes the same
 * records the API reads. Also GET /v1/time, the live manifests' UTCTiming source.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { call, runCli, startVigil, type TestServer, tempDir } from '../../../test/support/vigil.ts';

describe('live channel API and CLI', () => {
  let server: TestServer;
  let tenantB: string;
  let readonlyKey: string;
  const dataDir = tempDir();
  // startVigil's master key: the CLI opens the same store.
  const env = { VIGIL_MASTER_KEY: '11'.repeat(32) };

  before(async () => {
    server = await startVigil({ dataDir });
    const b = await call(`${server.url}/v1/tenants`, { token: server.apiKey, body: { id: 'tenant-b' } });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    tenantB = b.body.apiKey.key ?? b.body.apiKey;
    const ro = await call(`${server.url}/v1/apikeys`, { token: server.apiKey, body: { role: 'readonly' } });
    readonlyKey = ro.body.key;
  });
  after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const put = (id: string, body: unknown, token = server.apiKey) =>
    call(`${server.url}/v1/live/channels/${id}`, { method: 'PUT', token, body });

  it('defines a channel with defaults, lists it and names its manifests', async () => {
    const res = await put('match-1', { input: 'test', keyPeriodSeconds: 10, start: false });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.resourceId, 'match-1');
    assert.equal(res.body.desired, 'stopped');
    assert.equal(res.body.settings.keyPeriodSeconds, 10);
    assert.equal(res.body.settings.segmentDuration, 2);
    assert.equal(res.body.manifests.dash, '/origin/default/match-1/manifest.mpd');
    assert.equal(res.body.manifests.hls, '/origin/default/match-1/master.m3u8');
    const again = await put('match-1', {
      input: 'rtmp://0.0.0.0:1935/live/k',
      resourceId: 'match-one',
      start: false,
    });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.settings.input, { kind: 'rtmp', url: 'rtmp://0.0.0.0:1935/live/k' });
    const list = await call(`${server.url}/v1/live/channels`, { token: readonlyKey });
    assert.deepEqual(
      list.body.channels.map((c: { id: string; resourceId: string }) => [c.id, c.resourceId]),
      [['match-1', 'match-one']],
    );
    const start = await call(`${server.url}/v1/live/channels/match-1/start`, {
      method: 'POST',
      token: server.apiKey,
    });
    assert.equal(start.status, 200);
    assert.equal(start.body.desired, 'running');
    const stop = await call(`${server.url}/v1/live/channels/match-1/stop`, {
      method: 'POST',
      token: server.apiKey,
    });
    assert.equal(stop.body.desired, 'stopped');
  });

  it('refuses bad definitions with a precise 4xx and stores nothing', async () => {
    const cases: [string, unknown, string][] = [
      ['bad id!', {}, 'invalid_request'],
      ['ok', { keyPeriodSeconds: 5 }, 'invalid_channel'],
      ['ok', { ladder: [{ height: 361, bitrate: 500000 }] }, 'invalid_channel'],
      ['ok', { input: { kind: 'rtmp', url: 'http://nope' } }, 'invalid_channel'],
      ['ok', { input: { kind: 'telepathy' } }, 'invalid_request'],
      ['ok', { resourceId: '../etc' }, 'invalid_request'],
      ['ok', { unknown: 1 }, 'invalid_request'],
      ['ok', { segmentDuration: 'two' }, 'invalid_request'],
      ['ok', { resourceId: 'match-one' }, 'invalid_channel'],
    ];
    for (const [id, body, code] of cases) {
      const res = await put(encodeURIComponent(id), body);
      assert.equal(
        res.status,
        400,
        `${id} ${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`,
      );
      assert.equal(res.body.code, code, JSON.stringify(res.body));
    }
    const raw = await call(`${server.url}/v1/live/channels/ok`, {
      method: 'PUT',
      token: server.apiKey,
      rawBody: '{"input": ',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(raw.status, 400);
    assert.equal((await call(`${server.url}/v1/live/channels/ok`, { token: server.apiKey })).status, 404);
  });

  it('lets only the platform operator make the server read its own files or network', async () => {
    const admin = await call(`${server.url}/v1/apikeys`, { token: server.apiKey, body: { role: 'admin' } });
    assert.equal(admin.status, 201);
    for (const input of ['/etc/passwd', { kind: 'hls', url: 'http://127.0.0.1:5432/' }]) {
      const res = await put('sneaky', { input, start: false }, admin.body.key);
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.code, 'forbidden');
    }
    const lowPort = await put('sneaky', { input: 'rtmp://0.0.0.0:22/live/x', start: false }, admin.body.key);
    assert.equal(lowPort.status, 400);
    assert.equal(lowPort.body.code, 'invalid_channel');
    assert.equal((await call(`${server.url}/v1/live/channels/sneaky`, { token: server.apiKey })).status, 404);
    const rtmp = await put('fine', { input: 'rtmp://0.0.0.0:1935/live/x', start: false }, admin.body.key);
    assert.equal(rtmp.status, 201, JSON.stringify(rtmp.body));
    const file = await put('platform-file', { input: '/srv/media/loop.mp4', start: false });
    assert.equal(file.status, 201, 'the platform key may');
    for (const id of ['fine', 'platform-file'])
      await call(`${server.url}/v1/live/channels/${id}`, { method: 'DELETE', token: server.apiKey });
  });

  it('needs an operator key to change channels, and keeps tenants apart', async () => {
    assert.equal((await put('ro', {}, readonlyKey)).status, 403);
    assert.equal((await call(`${server.url}/v1/live/channels`)).status, 401);
    // Tenant B sees none of the default tenant's channels and cannot stop or delete them.
    const list = await call(`${server.url}/v1/live/channels`, { token: tenantB });
    assert.deepEqual(list.body.channels, []);
    assert.equal((await call(`${server.url}/v1/live/channels/match-1`, { token: tenantB })).status, 404);
    const stop = await call(`${server.url}/v1/live/channels/match-1/stop`, {
      method: 'POST',
      token: tenantB,
    });
    assert.equal(stop.status, 404);
    assert.equal(
      (await call(`${server.url}/v1/live/channels/match-1`, { method: 'DELETE', token: tenantB })).status,
      404,
    );
    const same = await put('match-1', { start: false }, tenantB);
    assert.equal(same.status, 201, 'B has its own namespace of channel ids');
    assert.equal(same.body.manifests.dash, '/origin/tenant-b/match-1/manifest.mpd');
    const mine = await call(`${server.url}/v1/live/channels/match-1`, { token: server.apiKey });
    assert.equal(mine.body.resourceId, 'match-one');
  });

  it('vigil live start|status|stop|delete write what the API reads', async () => {
    const start = await runCli(
      [
        'live',
        'start',
        'cli-1',
        '--data',
        dataDir,
        '--input',
        'srt://0.0.0.0:9000',
        '--key-period',
        '20',
        '--ladder',
        '360:800k,180:250k',
      ],
      env,
    );
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /live channel cli-1 \(resource cli-1\) set to run/);
    const view = await call(`${server.url}/v1/live/channels/cli-1`, { token: server.apiKey });
    assert.equal(view.status, 200);
    assert.equal(view.body.desired, 'running');
    assert.deepEqual(view.body.settings.input, { kind: 'srt', url: 'srt://0.0.0.0:9000' });
    assert.deepEqual(view.body.settings.ladder, [
      { height: 360, bitrate: 800000 },
      { height: 180, bitrate: 250000 },
    ]);
    const status = await runCli(['live', 'status', 'cli-1', '--data', dataDir], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^cli-1 {2}resource cli-1 {2}desired running/);
    const bad = await runCli(['live', 'start', 'cli-2', '--data', dataDir, '--key-period', '3'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /multiple of segmentDuration/);
    const stop = await runCli(['live', 'stop', 'cli-1', '--data', dataDir], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(
      (await call(`${server.url}/v1/live/channels/cli-1`, { token: server.apiKey })).body.desired,
      'stopped',
    );
    const del = await runCli(['live', 'delete', 'cli-1', '--data', dataDir], env);
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await call(`${server.url}/v1/live/channels/cli-1`, { token: server.apiKey })).status, 404);
    const missing = await runCli(['live', 'stop', 'nope', '--data', dataDir], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no live channel "nope"/);
  });

  it('GET /v1/time answers the server clock', async () => {
    const res = await call(`${server.url}/v1/time`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.ok(Math.abs(Date.parse(res.body) - Date.now()) < 5_000, res.body);
  });
});
