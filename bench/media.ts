/**
 * The media pipeline's two costs, each beside its bare baseline in the same run:
 *
 * - **ingest**: a generated video (≥ 200 MB) sent as 5 MiB chunks with their SHA-256 to `vigil serve`
 *   (`PUT /v1/media/upload/chunk`: streamed to disk, hashed, size-checked, fsynced, recorded), against the
 *   same chunks `PUT` to a plain Node server that writes them to a file; interleaved rounds, the same
 *   number of connections. MB/s of wall time (the client's hashing is done before the clock starts).
 * - **processing**: a 60 s 1080p clip uploaded, then the time from `complete` to `ready` (probe, ladder
 *   transcode, CENC, manifests, thumbnails) against one bare ffmpeg run transcoding the same ladder with
 *   the same encoder settings to files.
 *
 * `npm run bench:media` (BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_SKIP_PROCESSING=1).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEDIA_LADDER } from '../packages/media/src/worker.ts';
import { aacArgs, h264LadderArgs } from '../packages/packager/src/index.ts';
import { bigVideo, complete, initiate, sha256 } from '../test/support/media.ts';
import { call, spawnVigil, tempDir, waitFor } from '../test/support/vigil.ts';
import { envNumber, median } from './common.ts';

const ROUNDS = envNumber('BENCH_ROUNDS', 3);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 4);
const API_KEY = 'vk_bench_media_0123456789abcdef';
const MB = 1024 * 1024;
const CHUNK = 5 * MB;

async function sendAll(urls: (i: number) => string, chunks: Buffer[], sums: string[], token?: string) {
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < chunks.length) {
      const i = next++;
      const res = await fetch(urls(i), {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'x-chunk-sha256': sums[i]!,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: chunks[i] as unknown as BodyInit,
      });
      if (res.status !== 200) throw new Error(`chunk ${i}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** The baseline: a plain node:http server writing each PUT body to a file. */
async function bareServer(dir: string) {
  let n = 0;
  const server = createServer((req, res) => {
    const out = createWriteStream(join(dir, `chunk-${n++}`));
    req.pipe(out);
    out.on('close', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function clip1080(seconds: number): string {
  const dir = join(tmpdir(), 'vigil-media-test');
  const path = join(dir, `testsrc2-1920x1080-${seconds}s-v1.mp4`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.partial.mp4`;
  const r = spawnSync('ffmpeg', [
    ...['-hide_banner', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds)],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', partial],
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  renameSync(partial, path);
  return path;
}

/** One ffmpeg transcoding the worker's ladder with the packager's encoder settings, to files. */
function bareFfmpeg(input: string, outDir: string): Promise<number> {
  const rungs = [...MEDIA_LADDER].filter((r) => r.height <= 1080);
  const split = `[0:v]split=${rungs.length}${rungs.map((_, i) => `[s${i}]`).join('')};${rungs
    .map((r, i) => `[s${i}]scale=-2:${r.height}[v${i}]`)
    .join(';')}`;
  const args = [
    ...['-hide_banner', '-v', 'error', '-y', '-i', input, '-filter_complex', split],
    ...rungs.flatMap((_, i) => ['-map', `[v${i}]`]),
    '-map',
    '0:a',
    ...h264LadderArgs({
      preset: 'veryfast',
      gop: 60,
      segmentDuration: 2,
      bitrates: rungs.map((r) => r.bitrate),
      peakFactor: 1.1,
    } as Parameters<typeof h264LadderArgs>[0]),
    ...aacArgs(128_000),
    '-f',
    'mp4',
    join(outDir, 'bare.mp4'),
  ];
  const started = Date.now();
  return new Promise((done, fail) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => {
      err += d;
    });
    p.once('exit', (code) => (code === 0 ? done((Date.now() - started) / 1000) : fail(new Error(err))));
  });
}

async function main() {
  const data = tempDir('vigil-bench-media-');
  const bareDir = tempDir('vigil-bench-bare-');
  const server = await spawnVigil(['--data', data], {
    VIGIL_API_KEY: API_KEY,
    VIGIL_MASTER_KEY: '88'.repeat(32),
    DATABASE_URL: '',
    VIGIL_LIVE: '0',
    VIGIL_MEDIA_POLL_MS: '200',
  });
  const bare = await bareServer(bareDir);
  try {
    const file = readFileSync(bigVideo(200));
    const chunks: Buffer[] = [];
    for (let o = 0; o < file.length; o += CHUNK)
      chunks.push(file.subarray(o, Math.min(file.length, o + CHUNK)));
    const sums = chunks.map(sha256);
    const mb = file.length / MB;
    const vigil: number[] = [];
    const plain: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const up = await initiate(server.url, API_KEY, {
        filename: 'b.mp4',
        fileSize: file.length,
        mimeType: 'video/mp4',
      });
      const v = await sendAll(
        (i) => `${server.url}/v1/media/upload/chunk?uploadId=${up.uploadId}&index=${i}`,
        chunks,
        sums,
        API_KEY,
      );
      await call(`${server.url}/v1/media/upload/abort`, { token: API_KEY, body: { uploadId: up.uploadId } });
      const b = await sendAll((i) => `${bare.url}/put/${i}`, chunks, sums);
      rmSync(bareDir, { recursive: true, force: true });
      mkdirSync(bareDir, { recursive: true });
      vigil.push(mb / v);
      plain.push(mb / b);
      process.stdout.write(
        `ingest round ${round + 1}: vigil ${(mb / v).toFixed(0)} MB/s, bare PUT ${(mb / b).toFixed(0)} MB/s (${mb.toFixed(0)} MB, ${chunks.length} chunks, ${CONNECTIONS} connections)\n`,
      );
    }
    const ratio = median(plain) / median(vigil);
    process.stdout.write(
      `ingest median: vigil ${median(vigil).toFixed(0)} MB/s, bare ${median(plain).toFixed(0)} MB/s, bare/vigil ${ratio.toFixed(2)}× (goals: ≥ 100 MB/s, ≤ 2×: ${median(vigil) >= 100 && ratio <= 2 ? 'met' : 'MISSED'})\n`,
    );

    if (process.env.BENCH_SKIP_PROCESSING !== '1') {
      const clip = clip1080(60);
      const bytes = readFileSync(clip);
      const up = await initiate(server.url, API_KEY, {
        filename: 'c.mp4',
        fileSize: bytes.length,
        mimeType: 'video/mp4',
      });
      const parts: Buffer[] = [];
      for (let o = 0; o < bytes.length; o += up.chunkSize) parts.push(bytes.subarray(o, o + up.chunkSize));
      await sendAll(
        (i) => `${server.url}/v1/media/upload/chunk?uploadId=${up.uploadId}&index=${i}`,
        parts,
        parts.map(sha256),
        API_KEY,
      );
      const started = Date.now();
      const done = await complete(
        server.url,
        API_KEY,
        up.uploadId,
        createHash('sha256').update(bytes).digest('hex'),
      );
      if (done.status !== 200) throw new Error(JSON.stringify(done.body));
      await waitFor('ready', 1_800_000, async () => {
        const s = (
          await call(`${server.url}/v1/media/process/${done.body.assetId}/status`, { token: API_KEY })
        ).body;
        if (s.status === 'failed') throw new Error(JSON.stringify(s));
        return s.status === 'ready' || undefined;
      });
      const ready = (Date.now() - started) / 1000;
      const bareSeconds = await bareFfmpeg(clip, bareDir);
      process.stdout.write(
        `processing 60 s 1080p (${(statSync(clip).size / MB).toFixed(0)} MB): complete → ready ${ready.toFixed(1)} s, bare ffmpeg ladder ${bareSeconds.toFixed(1)} s, ${((ready / bareSeconds - 1) * 100).toFixed(0)}% over (goal ≤ 10%: ${ready <= bareSeconds * 1.1 ? 'met' : 'MISSED'})\n`,
      );
    }
  } finally {
    await bare.close();
    await server.stop();
    rmSync(data, { recursive: true, force: true });
    rmSync(bareDir, { recursive: true, force: true });
  }
}

await main();
