/**
 * Watched restreams through the API: a recording of the real player (colour mode, one session) is
 * republished live as HLS by ffmpeg and served from this machine (private addresses allowed in this
 * server's setting). `POST /v1/watches {autoBan: true}` identifies the session in disjoint windows and
 * bans it (a `banned` event, the ban's reason naming the watch); without autoBan and with the tenant's
 * policy off it only reports, even when one window would do. Watches are desired state: they resume after a restart, as do queued
 * detections; `DELETE` removes one; another tenant sees none.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  copyRecordingStore,
  playerRecording,
  type Recording,
} from '../../../test/support/player-recording.ts';
import { call, startVigil, type TestServer, tempDir, waitFor } from '../../../test/support/vigil.ts';

const SESSION = 'pirate-7';

/** ffmpeg republishing `input` (looped) as a live HLS playlist in `dir`, as a restreamer would. */
function restream(input: string, dir: string): ChildProcess {
  return spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-re', '-stream_loop', '-1', '-i', input],
      ...[
        '-an',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-g',
        '25',
        '-b:v',
        '800k',
        '-pix_fmt',
        'yuv420p',
      ],
      ...['-f', 'hls', '-hls_time', '2', '-hls_list_size', '6', '-hls_flags', 'delete_segments'],
      join(dir, 'live.m3u8'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

async function serveDir(dir: string, clip: string): Promise<{ server: Server; base: string }> {
  const types: Record<string, string> = {
    '.m3u8': 'application/vnd.apple.mpegurl',
    '.ts': 'video/mp2t',
    '.mp4': 'video/mp4',
  };
  const server = createServer((req, res) => {
    const name = (req.url ?? '').split('?')[0]!.replace(/^\//, '');
    const file = name === 'clip.mp4' ? clip : join(dir, name);
    if (!/^[\w.-]+$/.test(name) || !existsSync(file)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(name)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('watches API', () => {
  let rec: Recording;
  let dataDir: string;
  let hlsDir: string;
  let vigil: TestServer | undefined;
  let ffmpeg: ChildProcess;
  let files: { server: Server; base: string };
  let liveUrl: string;

  const start = (concurrency: { detect: number; watch: number }) =>
    startVigil({
      dataDir,
      masterKey: rec.masterKey,
      config: {
        detectOutbound: { allowPrivate: true },
        detectionsDir: join(dataDir, 'detections'),
        detectConcurrency: concurrency.detect,
        watchConcurrency: concurrency.watch,
      },
    });

  before(async () => {
    rec = await playerRecording({ mode: 'color', sessionId: SESSION, seconds: 20 });
    dataDir = copyRecordingStore(rec);
    hlsDir = tempDir('vigil-restream-');
    ffmpeg = restream(rec.path, hlsDir);
    files = await serveDir(hlsDir, rec.path);
    liveUrl = `${files.base}/live.m3u8`;
    await waitFor('the restream playlist', 60_000, async () => existsSync(join(hlsDir, 'live.m3u8')));
    vigil = await start({ detect: 1, watch: 4 });
  });

  after(async () => {
    await vigil?.close();
    ffmpeg?.kill('SIGKILL');
    files?.server.close();
    if (hlsDir) rmSync(hlsDir, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (id: string, token = vigil!.apiKey) => call(`${vigil!.url}/v1/watches/${id}`, { token });
  const eventsOf = async (id: string) => ((await get(id)).body.events ?? []) as Record<string, unknown>[];

  it('identifies the session of a live restream and, with autoBan, bans it', async () => {
    const created = Date.now();
    const res = await call(`${vigil!.url}/v1/watches`, {
      token: vigil!.apiKey,
      body: { url: liveUrl, mode: 'color', autoBan: true },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.match(res.body.id, /^wat_/);
    assert.equal(res.body.autoBan, true);
    const id = res.body.id as string;
    const banned = await waitFor('the ban', 150_000, async () =>
      (await eventsOf(id)).find((e) => e.event === 'banned'),
    );
    const seconds = (Date.now() - created) / 1000;
    assert.equal(banned.sessionId, SESSION);
    const events = await eventsOf(id);
    const identified = events.filter((e) => e.event === 'identified');
    assert.ok(identified.length >= 2, 'two disjoint windows agreed before the ban');
    for (const e of identified) {
      assert.equal(e.sessionId, SESSION);
      assert.ok((e.falseMatchProbability as number) <= 1e-4);
    }
    const bans = await call(`${vigil!.url}/v1/bans`, { token: vigil!.apiKey });
    const ban = bans.body.bans.find(
      (b: { kind: string; value: string }) => b.kind === 'session' && b.value === SESSION,
    );
    assert.ok(ban, JSON.stringify(bans.body));
    assert.equal(ban.reason, `watch:${id}`);
    const w = await get(id);
    assert.equal(w.body.status.state, 'banned');
    console.log(
      `watch → banned ${seconds.toFixed(1)} s after POST, at ${banned.atSeconds} s of watched footage`,
    );
    const other = await call(`${vigil!.url}/v1/tenants`, { token: vigil!.apiKey, body: { id: 'other' } });
    assert.equal((await get(id, other.body.apiKey)).status, 404);
    const list = await call(`${vigil!.url}/v1/watches`, { token: other.body.apiKey });
    assert.deepEqual(list.body.watches, []);
    const badMode = await call(`${vigil!.url}/v1/watches`, {
      token: vigil!.apiKey,
      body: { url: liveUrl, mode: 'infrared' },
    });
    assert.equal(badMode.status, 400, JSON.stringify(badMode.body));
    const removed = await call(`${vigil!.url}/v1/watches/${id}`, { method: 'DELETE', token: vigil!.apiKey });
    assert.equal(removed.status, 204);
    assert.equal((await get(id)).status, 404);
    const again = await call(`${vigil!.url}/v1/watches/${id}`, { method: 'DELETE', token: vigil!.apiKey });
    assert.equal(again.status, 404);
  });

  it('only reports without autoBan, and resumes watches and queued detections after a restart', async () => {
    // Lift the first test's ban: this watch must not make one.
    const bans = await call(`${vigil!.url}/v1/bans`, { token: vigil!.apiKey });
    for (const b of bans.body.bans)
      await call(`${vigil!.url}/v1/bans/${b.id}`, { method: 'DELETE', token: vigil!.apiKey });
    // One window would be enough to ban under this policy, were auto-ban on: it is off.
    const policy = await call(`${vigil!.url}/v1/tenant`, {
      method: 'PUT',
      token: vigil!.apiKey,
      body: { leakPolicy: { autoBan: false, agreeingWindows: 1 } },
    });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    const res = await call(`${vigil!.url}/v1/watches`, { token: vigil!.apiKey, body: { url: liveUrl } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = res.body.id as string;
    await waitFor('an identification', 150_000, async () =>
      (await eventsOf(id)).some((e) => e.event === 'identified') ? true : undefined,
    );
    assert.ok(!(await eventsOf(id)).some((e) => e.event === 'banned'));
    const firstStart = (await get(id)).body.status.startedAt;

    // A server that runs no detections: the job stays queued through the restart.
    await vigil!.close();
    vigil = await start({ detect: 0, watch: 0 });
    const queued = await call(`${vigil.url}/v1/detections`, {
      token: vigil.apiKey,
      body: { url: `${files.base}/clip.mp4`, mode: 'color' },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      (await call(`${vigil.url}/v1/detections/${queued.body.id}`, { token: vigil.apiKey })).body.status,
      'queued',
    );
    await vigil.close();

    vigil = await start({ detect: 1, watch: 4 });
    const resumed = await waitFor('the watch to resume', 60_000, async () => {
      const w = await get(id);
      return w.body.status?.startedAt !== firstStart && w.body.status?.state !== undefined
        ? w.body
        : undefined;
    });
    assert.equal(resumed.desired, 'running');
    const done = await waitFor('the queued detection', 150_000, async () => {
      const d = await call(`${vigil!.url}/v1/detections/${queued.body.id}`, { token: vigil!.apiKey });
      return d.body.status === 'done' || d.body.status === 'failed' ? d.body : undefined;
    });
    assert.equal(done.status, 'done', JSON.stringify(done));
    assert.equal(done.result.found, true, JSON.stringify(done.result));
    assert.equal(done.result.sessionId, SESSION);
    assert.equal((await call(`${vigil.url}/v1/bans`, { token: vigil.apiKey })).body.bans.length, 0);
  });
});
