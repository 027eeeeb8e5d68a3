/**
 * The media pipeline's two costs, each beside its bare baseline in the same run, interleaved (A B A B),
 * in wall time and per CPU-second of the measured process (user + system, its reaped children included,
 * from `/proc/<pid>/stat`):
 *
 * - **ingest**: a generated video (≥ 200 MB) sent as 5 MiB chunks with their SHA-256 to `vigil serve`
 *   (`PUT /v1/media/upload/chunk`: streamed to disk, hashed, size-checked, fsynced, recorded), against the
 *   same chunks `PUT` to a plain Node server (its own process) that writes them to a file; the same number
 *   of requests in flight, as a client sending several chunks at once. MB/s of wall time and MB per
 *   CPU-second of the server (the client's hashing is done before the clock starts).
 * - **processing**: a 60 s 1080p clip uploaded, then the time from `complete` to `ready` (assembly and
 *   validation, probe, ladder transcode, thumbnails, CENC, manifests) against the bare ffmpeg command of
 *   the same ladder transcode (the pipeline's own argument builder, the worker's settings) to files.
 *
 * `npm run bench:media` (BENCH_ROUNDS, BENCH_PROCESS_ROUNDS, BENCH_CONNECTIONS, BENCH_SKIP_PROCESSING=1,
 * BENCH_SKIP_INGEST=1).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MEDIA_LADDER } from '../packages/media/src/worker.ts';
import { chooseRenditions, probeSource } from '../packages/packager/src/index.ts';
import { dashArgs, outputFrameRate } from '../packages/packager/src/pipeline/transcode.ts';
import { bigVideo, complete, initiate, sha256 } from '../test/support/media.ts';
import { call, spawnVigil, tempDir, waitFor } from '../test/support/vigil.ts';
import { envNumber, median } from './common.ts';

const ROUNDS = envNumber('BENCH_ROUNDS', 3);
const PROCESS_ROUNDS = envNumber('BENCH_PROCESS_ROUNDS', 2);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 4);
const API_KEY = 'vk_bench_media_0123456789abcdef';
const MB = 1024 * 1024;
const CHUNK = 5 * MB;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** The worker's segment duration (MediaWorker's default). */
const SEGMENT_DURATION = 2;

/** User + system CPU seconds of process `pid` and of its children it has reaped. */
function cpuOf(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

/** CPU seconds of this process's reaped children only (cutime + cstime). */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / CLK_TCK;
}

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

/** The baseline server, run as its own process: plain node:http writing each PUT body to a file. */
const BARE_SERVER = `
const { createServer } = require('node:http');
const { createWriteStream } = require('node:fs');
const { join } = require('node:path');
let n = 0;
const server = createServer((req, res) => {
  const out = createWriteStream(join(process.argv[1], 'chunk-' + n++));
  req.pipe(out);
  out.on('close', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

async function bareServer(dir: string) {
  const child: ChildProcess = spawn(process.execPath, ['-e', BARE_SERVER, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((done, fail) => {
    child.once('exit', (code) => fail(new Error(`bare server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening (\d+)/.exec(line);
      if (m) done(Number(m[1]));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    close: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
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

/**
 * The bare baseline: the worker's ladder transcode as one ffmpeg command, built by the pipeline's own
 * `dashArgs` with the worker's settings (ladder, `veryfast`, 2 s segments, AAC 128 kb/s), to files.
 */
async function bareFfmpegArgs(input: string, outDir: string): Promise<string[]> {
  const source = await probeSource(input, { allowNoAudio: true });
  const settings = {
    segmentDuration: SEGMENT_DURATION,
    renditions: chooseRenditions(source, MEDIA_LADDER),
    preset: 'veryfast',
    audioBitrate: 128_000,
    withAudio: source.audio !== null,
  };
  return [
    '-hide_banner',
    '-nostdin',
    '-y',
    ...dashArgs(source, settings, outputFrameRate(source.fps).text, outDir),
  ];
}

function runBare(args: string[], outDir: string): Promise<{ wall: number; cpu: number }> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const cpu0 = childrenCpu();
  const started = Date.now();
  return new Promise((done, fail) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => {
      err += d;
    });
    p.once('exit', (code) =>
      code === 0
        ? done({ wall: (Date.now() - started) / 1000, cpu: childrenCpu() - cpu0 })
        : fail(new Error(err)),
    );
  });
}

/** Wall seconds (or MB/s) and CPU seconds (or MB per CPU-second) of one measured run. */
type Timing = { wall: number; cpu: number };

const initiateVideo = (url: string, filename: string, fileSize: number) =>
  initiate(url, API_KEY, { filename, fileSize, mimeType: 'video/mp4' });

const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);

async function ingest(server: { url: string; child: ChildProcess }, bareDir: string) {
  const bare = await bareServer(bareDir);
  try {
    const file = readFileSync(bigVideo(200));
    const chunks: Buffer[] = [];
    for (let o = 0; o < file.length; o += CHUNK)
      chunks.push(file.subarray(o, Math.min(file.length, o + CHUNK)));
    const sums = chunks.map(sha256);
    const mb = file.length / MB;
    const vigil: Timing[] = [];
    const plain: Timing[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const up = await initiateVideo(server.url, 'b.mp4', file.length);
      const vc0 = cpuOf(server.child.pid!);
      const v = await sendAll(
        (i) => `${server.url}/v1/media/upload/chunk?uploadId=${up.uploadId}&index=${i}`,
        chunks,
        sums,
        API_KEY,
      );
      const vc = cpuOf(server.child.pid!) - vc0;
      await call(`${server.url}/v1/media/upload/abort`, { token: API_KEY, body: { uploadId: up.uploadId } });
      const bc0 = cpuOf(bare.pid);
      const b = await sendAll((i) => `${bare.url}/put/${i}`, chunks, sums);
      const bc = cpuOf(bare.pid) - bc0;
      rmSync(bareDir, { recursive: true, force: true });
      mkdirSync(bareDir, { recursive: true });
      vigil.push({ wall: mb / v, cpu: mb / vc });
      plain.push({ wall: mb / b, cpu: mb / bc });
      process.stdout.write(
        `ingest round ${round + 1}: vigil ${f0(mb / v)} MB/s (${f0(mb / vc)} MB/CPU-s, ${f1(vc)} CPU-s), bare PUT ${f0(mb / b)} MB/s (${f0(mb / bc)} MB/CPU-s, ${f1(bc)} CPU-s) (${f0(mb)} MB, ${chunks.length} chunks, ${CONNECTIONS} in flight)\n`,
      );
    }
    const vw = median(vigil.map((r) => r.wall));
    const bw = median(plain.map((r) => r.wall));
    const vcpu = median(vigil.map((r) => r.cpu));
    const bcpu = median(plain.map((r) => r.cpu));
    process.stdout.write(
      `ingest median: vigil ${f0(vw)} MB/s, ${f0(vcpu)} MB/CPU-s; bare ${f0(bw)} MB/s, ${f0(bcpu)} MB/CPU-s; bare/vigil ${(bw / vw).toFixed(2)}× wall, ${(bcpu / vcpu).toFixed(2)}× per CPU-s (goals: ≥ 100 MB/s, ≤ 2×: ${vw >= 100 && bw / vw <= 2 ? 'met' : 'MISSED'})\n`,
    );
  } finally {
    await bare.close();
  }
}

async function processing(server: { url: string; child: ChildProcess; output(): string }, bareDir: string) {
  const clip = clip1080(60);
  const bytes = readFileSync(clip);
  const whole = createHash('sha256').update(bytes).digest('hex');
  const args = await bareFfmpegArgs(clip, bareDir);
  const vigil: Timing[] = [];
  const plain: Timing[] = [];
  for (let round = 0; round < PROCESS_ROUNDS; round++) {
    const up = await initiateVideo(server.url, 'c.mp4', bytes.length);
    const parts: Buffer[] = [];
    for (let o = 0; o < bytes.length; o += up.chunkSize) parts.push(bytes.subarray(o, o + up.chunkSize));
    await sendAll(
      (i) => `${server.url}/v1/media/upload/chunk?uploadId=${up.uploadId}&index=${i}`,
      parts,
      parts.map(sha256),
      API_KEY,
    );
    const cpu0 = cpuOf(server.child.pid!);
    const started = Date.now();
    const done = await complete(server.url, API_KEY, up.uploadId, whole);
    if (done.status !== 200) throw new Error(JSON.stringify(done.body));
    const answered = (Date.now() - started) / 1000;
    await waitFor('ready', 1_800_000, async () => {
      const s = (await call(`${server.url}/v1/media/process/${done.body.assetId}/status`, { token: API_KEY }))
        .body;
      if (s.status === 'failed') throw new Error(JSON.stringify(s));
      return s.status === 'ready' || undefined;
    });
    const v = { wall: (Date.now() - started) / 1000, cpu: cpuOf(server.child.pid!) - cpu0 };
    const b = await runBare(args, bareDir);
    vigil.push(v);
    plain.push(b);
    const timings = server
      .output()
      .split('\n')
      .filter((l) => l.includes(`${done.body.assetId} took `))
      .at(-1);
    process.stdout.write(
      `processing round ${round + 1}, 60 s 1080p (${f0(statSync(clip).size / MB)} MB): complete → ready ${f1(v.wall)} s (${f1(v.cpu)} CPU-s), bare ffmpeg ladder ${f1(b.wall)} s (${f1(b.cpu)} CPU-s)\n  complete answered in ${f1(answered)} s (assembly, checksum, validation)${timings ? `\n  ${timings.trim()}` : ''}\n`,
    );
  }
  const vw = median(vigil.map((r) => r.wall));
  const bw = median(plain.map((r) => r.wall));
  const vc = median(vigil.map((r) => r.cpu));
  const bc = median(plain.map((r) => r.cpu));
  process.stdout.write(
    `processing median: complete → ready ${f1(vw)} s (${f1(vc)} CPU-s), bare ffmpeg ${f1(bw)} s (${f1(bc)} CPU-s): ${f0((vw / bw - 1) * 100)}% over in wall, ${f0((vc / bc - 1) * 100)}% over in CPU (goal ≤ 10%: ${vw <= bw * 1.1 ? 'met' : 'MISSED'})\n`,
  );
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
  try {
    if (process.env.BENCH_SKIP_INGEST !== '1') await ingest(server, bareDir);
    if (process.env.BENCH_SKIP_PROCESSING !== '1') await processing(server, bareDir);
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
    rmSync(bareDir, { recursive: true, force: true });
  }
}

await main();
