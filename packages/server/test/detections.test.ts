/**
 * Leak tracing through the API: a recording of the real player (colour mode, one viewer session) is
 * uploaded to `POST /v1/detections`, or given as a URL the server fetches (private addresses allowed in
 * this server's setting); the job is queued, runs with progress, and answers the session with its
 * evidence frames (downloadable) and its access-log summary; the ban action bans the session and its
 * addresses with the detection as reason. Bad input (not a video, empty, truncated, unmarked, too
 * large, unreachable) gets a clear answer, never a 500 or a session; another tenant sees nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  copyRecordingStore,
  playerRecording,
  type Recording,
} from '../../../test/support/player-recording.ts';
import { call, runCli, startVigil, type TestServer, tempDir } from '../../../test/support/vigil.ts';

const SESSION = 'pirate-7';
const MAX_UPLOAD = 8 * 1024 * 1024;
/** An unmarked clip long enough that reading it all takes a while on any machine: progress is seen. */
const LONG_SECONDS = 60;

/** Some seconds of colourful, unmarked video (cached). */
function unmarkedClip(seconds = 6): string {
  const dir = join(tmpdir(), 'vigil-detections-test');
  const path = join(dir, `unmarked-testsrc2-${seconds}s-v1.mp4`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.${process.pid}.partial.mp4`;
  const r = spawnSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25'],
      ...['-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', partial],
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  renameSync(partial, path);
  return path;
}

describe('detections API', () => {
  let rec: Recording;
  let dataDir: string;
  let vigil: TestServer;
  let files: Server;
  let filesBase: string;
  let clip: Buffer;
  let otherKey: string;

  before(async () => {
    rec = await playerRecording({ mode: 'color', sessionId: SESSION, seconds: 20 });
    clip = readFileSync(rec.path);
    dataDir = copyRecordingStore(rec);
    vigil = await startVigil({
      dataDir,
      masterKey: rec.masterKey,
      config: {
        detectOutbound: { allowPrivate: true },
        detectionsDir: join(dataDir, 'detections'),
        detectMaxUploadBytes: MAX_UPLOAD,
      },
    });
    // The recording, served progressively from this machine (allowed by the server's setting).
    files = createServer((req, res) => {
      if (req.url === '/clip.mp4' || req.url === '/long-unmarked.mp4') {
        const body = req.url === '/clip.mp4' ? clip : readFileSync(unmarkedClip(LONG_SECONDS));
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': body.length });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    filesBase = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    const tenant = await call(`${vigil.url}/v1/tenants`, { token: vigil.apiKey, body: { id: 'other' } });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    otherKey = tenant.body.apiKey;
  });

  after(async () => {
    await vigil?.close();
    files?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const upload = (body: Buffer, type = 'video/mp4', query = '') =>
    call(`${vigil.url}/v1/detections${query}`, {
      token: vigil.apiKey,
      rawBody: body,
      headers: { 'content-type': type },
    });

  /** Polls a detection until it ends; returns it and the statuses and progress seen on the way. */
  async function finished(id: string, pollMs = 250) {
    const seen: { status: string; progress: number; footage: number }[] = [];
    const deadline = Date.now() + 180_000;
    // biome-ignore lint/suspicious/noExplicitAny: the detection's JSON, as the API answers it
    let d: any;
    for (;;) {
      const res = await call(`${vigil.url}/v1/detections/${id}`, { token: vigil.apiKey });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      seen.push({ status: res.body.status, progress: res.body.progress, footage: res.body.footageSeconds });
      if (res.body.status === 'done' || res.body.status === 'failed') {
        d = res.body;
        break;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for detection ${id}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return { d, seen };
  }

  // biome-ignore lint/suspicious/noExplicitAny: the detection's JSON result, as the API answers it
  let uploaded: { id: string; result: Record<string, any> };

  it('finds the session in an uploaded recording, with progress, evidence and the access log', async () => {
    const started = Date.now();
    const res = await upload(clip, 'video/mp4', '?mode=color');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.match(res.body.id, /^det_/);
    assert.equal(res.body.status, 'queued');
    assert.deepEqual(res.body.source, { kind: 'upload' });
    const { d, seen } = await finished(res.body.id);
    assert.equal(d.status, 'done', JSON.stringify(d));
    assert.equal(d.progress, 1);
    assert.ok(seen.length > 0);
    const r = d.result;
    assert.equal(r.found, true, JSON.stringify(r));
    assert.equal(r.sessionId, SESSION);
    assert.equal(r.tenant, 'default');
    assert.equal(r.mode, 'color');
    assert.ok(r.falseMatchProbability <= 1e-6, `false-match probability ${r.falseMatchProbability}`);
    assert.ok(r.footageSeconds > 0 && r.footageSeconds <= 20, `footage ${r.footageSeconds}`);
    assert.ok(r.evidence.length > 0);
    for (const [n, e] of r.evidence.entries()) {
      assert.equal(typeof e.t, 'number');
      assert.equal(e.url, `/v1/detections/${d.id}/evidence/${n}`);
      assert.equal(e.file, undefined, 'no server path leaves the server');
    }
    // Who it is: the viewer's address and browser, first and last seen.
    assert.equal(r.access.sessionId, SESSION);
    assert.ok(r.access.entries > 0);
    assert.deepEqual(r.access.ips, ['127.0.0.1']);
    assert.equal(r.access.addresses[0].ip, '127.0.0.1');
    assert.ok(r.access.addresses[0].hits > 0);
    assert.match(r.access.userAgents[0], /Chrom/);
    assert.equal(r.access.agents[0].userAgent, r.access.userAgents[0]);
    assert.ok(Date.parse(r.access.firstSeen) <= Date.parse(r.access.lastSeen));
    assert.equal(r.access.resource, r.access.resources[0]);
    assert.ok(r.access.resource);
    uploaded = { id: d.id, result: r };
    console.log(
      `upload → done in ${((Date.now() - started) / 1000).toFixed(1)} s, footage ${r.footageSeconds} s`,
    );
  });

  it('serves the evidence frames, to the tenant only', async () => {
    const { id, result } = uploaded;
    const frame = await call(`${vigil.url}${result.evidence[0].url}`, { token: vigil.apiKey });
    assert.equal(frame.status, 200);
    const type = frame.headers.get('content-type') ?? '';
    assert.match(type, /^image\/(png|jpeg)/);
    const magic = type.startsWith('image/png') ? '89504e47' : 'ffd8ff';
    assert.equal(frame.raw.subarray(0, magic.length / 2).toString('hex'), magic);
    const beyond = await call(`${vigil.url}/v1/detections/${id}/evidence/${result.evidence.length}`, {
      token: vigil.apiKey,
    });
    assert.equal(beyond.status, 404);
    for (const path of [`/v1/detections/${id}`, `/v1/detections/${id}/evidence/0`]) {
      const other = await call(`${vigil.url}${path}`, { token: otherKey });
      assert.equal(other.status, 404, path);
      assert.equal(other.body.code, 'not_found');
    }
    const ban = await call(`${vigil.url}/v1/detections/${id}/ban`, { token: otherKey, body: {} });
    assert.equal(ban.status, 404);
    const list = await call(`${vigil.url}/v1/detections`, { token: otherKey });
    assert.deepEqual(list.body.detections, []);
  });

  it('finds the session in a recording given by URL', async () => {
    const res = await call(`${vigil.url}/v1/detections`, {
      token: vigil.apiKey,
      body: { url: `${filesBase}/clip.mp4`, mode: 'auto' },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body.source, { kind: 'url', url: `${filesBase}/clip.mp4` });
    const { d } = await finished(res.body.id);
    assert.equal(d.status, 'done', JSON.stringify(d));
    assert.equal(d.result.found, true, JSON.stringify(d.result));
    assert.equal(d.result.sessionId, SESSION);
  });

  it('reports progress while it runs: a fraction and the footage read so far', async () => {
    unmarkedClip(LONG_SECONDS);
    const res = await call(`${vigil.url}/v1/detections`, {
      token: vigil.apiKey,
      body: { url: `${filesBase}/long-unmarked.mp4`, mode: 'color' },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { d, seen } = await finished(res.body.id, 50);
    assert.equal(d.status, 'done', JSON.stringify(d));
    assert.equal(d.result.found, false, JSON.stringify(d.result));
    const running = seen.filter((s) => s.status === 'running' && s.progress > 0 && s.progress < 1);
    assert.ok(
      running.some((s) => s.footage > 0),
      `progress seen: ${JSON.stringify(seen)}`,
    );
    // Progress only moves forward.
    for (let i = 1; i < running.length; i++) assert.ok(running[i]!.footage >= running[i - 1]!.footage);
  });

  it('bans the session found and, on request, its addresses, with the detection as reason', async () => {
    const { id } = uploaded;
    const res = await call(`${vigil.url}/v1/detections/${id}/ban`, {
      token: vigil.apiKey,
      body: { ips: true, reason: 'restream on a pirate site' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.session.kind, 'session');
    assert.equal(res.body.session.value, SESSION);
    assert.equal(res.body.session.reason, `detection:${id} restream on a pirate site`);
    assert.deepEqual(
      res.body.ips.map((b: { value: string }) => b.value),
      ['127.0.0.1'],
    );
    const bans = await call(`${vigil.url}/v1/bans`, { token: vigil.apiKey });
    const reasons = bans.body.bans.map((b: { kind: string; value: string; reason: string }) => [
      b.kind,
      b.value,
      b.reason.split(' ')[0],
    ]);
    assert.deepEqual(
      reasons.sort(),
      [
        ['ip', '127.0.0.1', `detection:${id}`],
        ['session', SESSION, `detection:${id}`],
      ].sort(),
    );
    const bad = await call(`${vigil.url}/v1/detections/${id}/ban`, {
      token: vigil.apiKey,
      body: { ips: 'yes' },
    });
    assert.equal(bad.status, 400);
  });

  it('answers bad input clearly: not a video, empty, truncated, unmarked, too large, unreachable', async () => {
    const notVideo = await upload(Buffer.from('this is not a video at all '.repeat(100)));
    assert.equal(notVideo.status, 400, JSON.stringify(notVideo.body));
    assert.equal(notVideo.body.code, 'not_a_video');
    const empty = await upload(Buffer.alloc(0), 'application/octet-stream');
    assert.equal(empty.status, 400, JSON.stringify(empty.body));
    const tooLarge = await upload(Buffer.alloc(MAX_UPLOAD + 1));
    assert.equal(tooLarge.status, 413, JSON.stringify(tooLarge.body));
    assert.equal(tooLarge.body.code, 'clip_too_large');
    const badMode = await upload(clip, 'video/mp4', '?mode=infrared');
    assert.equal(badMode.status, 400);
    const badJson = await call(`${vigil.url}/v1/detections`, { token: vigil.apiKey, body: { url: 5 } });
    assert.equal(badJson.body.code, 'invalid_url');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = await call(`${vigil.url}/v1/detections`, {
      token: vigil.apiKey,
      body: { url: `http://127.0.0.1:${port}/live.m3u8` },
    });
    assert.equal(unreachable.status, 400, JSON.stringify(unreachable.body));
    assert.equal(unreachable.body.code, 'url_unreachable');

    // Accepted, then answered: found false with a reason (or a failure with a code), never a session.
    const truncated = await upload(clip.subarray(0, Math.floor(clip.length * 0.3)));
    const unmarked = await upload(readFileSync(unmarkedClip()));
    for (const [what, res] of [
      ['truncated', truncated],
      ['unmarked', unmarked],
    ] as const) {
      if (res.status === 400) {
        assert.match(res.body.code, /^[a-z_]+$/, what);
        continue;
      }
      assert.equal(res.status, 202, `${what}: ${JSON.stringify(res.body)}`);
      const { d } = await finished(res.body.id);
      if (d.status === 'done') {
        assert.equal(d.result.found, false, `${what}: ${JSON.stringify(d.result)}`);
        assert.ok(d.result.reason.length > 0);
      } else assert.match(d.error.code, /^[a-z_]+$/, what);
    }
  });

  it('runs `vigil detect --server --api-key` through the API, printing the same JSON', async () => {
    const evidence = tempDir('vigil-cli-evidence-');
    try {
      const r = await runCli([
        ...['detect', rec.path, '--json', '--mode', 'color'],
        ...['--server', vigil.url, '--api-key', vigil.apiKey, '--evidence', evidence],
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 1, 'exactly one JSON object');
      const body = JSON.parse(lines[0]!);
      assert.equal(body.found, true, r.stdout);
      assert.equal(body.sessionId, SESSION);
      assert.deepEqual(body.access.ips, ['127.0.0.1']);
      assert.ok(body.evidence.length > 0);
      for (const e of body.evidence) assert.ok(existsSync(e.file), e.file);
      const refused = await runCli([
        'detect',
        rec.path,
        '--json',
        '--server',
        vigil.url,
        '--api-key',
        'vk_nope_0000000000000000',
      ]);
      assert.notEqual(refused.code, 0);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /^vigil: api_key_invalid: .+\n$/);
    } finally {
      rmSync(evidence, { recursive: true, force: true });
    }
  });

  it('lists detections newest first, paginated', async () => {
    const first = await call(`${vigil.url}/v1/detections?limit=2`, { token: vigil.apiKey });
    assert.equal(first.status, 200);
    assert.equal(first.body.detections.length, 2);
    assert.ok(first.body.next);
    const second = await call(`${vigil.url}/v1/detections?limit=2&cursor=${first.body.next}`, {
      token: vigil.apiKey,
    });
    const ids = [...first.body.detections, ...second.body.detections].map((d: { id: string }) => d.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.includes(uploaded.id) || second.body.next !== null);
    const times = first.body.detections.map((d: { createdAt: string }) => Date.parse(d.createdAt));
    assert.ok(times[0] >= times[1]);
  });

  it("keeps the tenant's leak policy, validated", async () => {
    const before = await call(`${vigil.url}/v1/tenant`, { token: vigil.apiKey });
    assert.deepEqual(before.body.leakPolicy, {
      autoBan: false,
      maxFalseMatchProbability: 1e-4,
      agreeingWindows: 2,
    });
    for (const leakPolicy of [
      { autoBan: 'yes' },
      { maxFalseMatchProbability: 0.5 },
      { agreeingWindows: 0 },
      { agreeingWindows: 1.5 },
      { banEveryone: true },
    ]) {
      const res = await call(`${vigil.url}/v1/tenant`, {
        method: 'PUT',
        token: vigil.apiKey,
        body: { leakPolicy },
      });
      assert.equal(res.status, 400, JSON.stringify(leakPolicy));
      assert.equal(res.body.code, 'invalid_leak_policy');
    }
    const put = await call(`${vigil.url}/v1/tenant`, {
      method: 'PUT',
      token: vigil.apiKey,
      body: { leakPolicy: { autoBan: true, agreeingWindows: 3 } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body.leakPolicy, {
      autoBan: true,
      maxFalseMatchProbability: 1e-4,
      agreeingWindows: 3,
    });
    const other = await call(`${vigil.url}/v1/tenant`, { token: otherKey });
    assert.equal(other.body.leakPolicy.autoBan, false, 'another tenant keeps its own');
  });
});
