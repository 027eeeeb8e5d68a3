/**
 * CENC encryption throughput of the packager's `encryptSegment` over real transcoded fragments (720p30
 * H.264 at ~6 Mb/s from ffmpeg's DASH muxer, made once and cached in the OS temp folder), measured in
 * interleaved rounds next to two baselines:
 * - `openssl speed -evp aes-128-ctr -bytes 16384` on one core (the AES ceiling; per CPU-second);
 * - ffmpeg's own CENC remux of the same clip (`-c copy -encryption_scheme cenc-aes-ctr`, non-fragmented
 *   output, the mode of ffmpeg that works), timed as a child process (wall, and user+sys from `times`).
 *
 *   node --import tsx bench/cenc-encrypt.ts      BENCH_SECONDS=1.5 (per measurement) BENCH_ROUNDS=3
 *
 * Goals: encryptSegment (cenc) at least 2x ffmpeg's remux, and at least 30% of openssl's AES-CTR, both
 * per CPU-second (robust on a shared machine); wall figures are printed alongside.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decryptSegment,
  encryptInit,
  encryptSegment,
  parseInit,
  type Scheme,
} from '../packages/packager/src/cenc/index.ts';
import { envNumber } from './common.ts';

const SECONDS = envNumber('BENCH_SECONDS', 1.5);
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3));
const GOALS = { vsFfmpeg: 2, vsOpenssl: 0.3 };
const KEY = Buffer.from('3f8a1c2e4b5d6f708192a3b4c5d6e7f8', 'hex');
const KID = '0123456789abcdef0123456789abcdef';
const IV = Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex');
const CLIP = join(tmpdir(), 'vigil-cenc-bench-clip-v1');

function ensureClip(): string {
  if (existsSync(join(CLIP, 'manifest.mpd'))) return CLIP;
  console.log('transcoding the benchmark clip (once) …');
  const work = mkdtempSync(`${CLIP}-tmp-`);
  execFileSync(
    'ffmpeg',
    [
      ...[
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=1280x720:rate=30',
        '-t',
        '8',
      ],
      ...[
        '-vf',
        'noise=alls=12:allf=t',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-b:v',
        '6M',
        '-maxrate',
        '6M',
      ],
      ...[
        '-bufsize',
        '12M',
        '-g',
        '60',
        '-keyint_min',
        '60',
        '-sc_threshold',
        '0',
        '-f',
        'dash',
        '-seg_duration',
        '2',
      ],
      ...['-use_template', '1', '-use_timeline', '0', '-init_seg_name', 'init-$RepresentationID$.m4s'],
      ...['-media_seg_name', 'chunk-$RepresentationID$-$Number%05d$.m4s', 'manifest.mpd'],
    ],
    { cwd: work },
  );
  mkdirSync(join(CLIP, '..'), { recursive: true });
  renameSync(work, CLIP);
  return CLIP;
}

const dir = ensureClip();
const init = readFileSync(join(dir, 'init-0.m4s'));
const [track] = parseInit(init);
if (!track) throw new Error('no track in the benchmark clip');
const segments = readdirSync(dir)
  .filter((f) => f.startsWith('chunk-0-'))
  .sort()
  .map((f) => readFileSync(join(dir, f)));
const segmentBytes = segments.reduce((n, s) => n + s.length, 0);
const scratch = mkdtempSync(join(tmpdir(), 'vigil-cenc-bench-'));
const clearMp4 = join(scratch, 'clear.mp4');
writeFileSync(clearMp4, Buffer.concat([init, ...segments]));
const clearBytes = segmentBytes + init.length;

interface Rate {
  wall: number;
  cpu: number;
}

function ours(scheme: Scheme): Rate {
  let bytes = 0;
  let n = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  do {
    for (const seg of segments) {
      encryptSegment(seg, track!, { scheme, key: KEY, kid: KID, iv: IV, ivSeed: BigInt(++n) << 32n });
      bytes += seg.length;
    }
  } while (Number(process.hrtime.bigint() - t0) / 1e9 < SECONDS);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall: bytes / 1e6 / wall, cpu: bytes / 1e6 / ((c.user + c.system) / 1e6) };
}

function openssl(): number {
  const out = execFileSync('openssl', ['speed', '-evp', 'aes-128-ctr', '-seconds', '3', '-bytes', '16384'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = out.trim().split('\n');
  const header = lines.find((l) => l.startsWith('type'));
  const row = lines.find((l) => /^AES-128-CTR\s/i.test(l));
  if (!header || !row) throw new Error(`unexpected openssl speed output:\n${out}`);
  const columns = header.split(/\s{2,}/);
  const column = columns.findIndex((c) => c.trim() === '16384 bytes');
  const value = row.trim().split(/\s+/)[column];
  if (column < 0 || !value) throw new Error(`no 16384-byte column in:\n${out}`);
  return (Number.parseFloat(value) * 1000) / 1e6; // "1000s of bytes per second" → MB/s
}

function ffmpegRemux(): Rate {
  const out = join(scratch, 'ffmpeg-cenc.mp4');
  let wall = 0;
  let cpu = 0;
  let bytes = 0;
  do {
    const cmd = `ffmpeg -y -hide_banner -loglevel error -i '${clearMp4}' -c copy -encryption_scheme cenc-aes-ctr -encryption_key ${KEY.toString('hex')} -encryption_kid ${KID} '${out}' && times`;
    const t0 = process.hrtime.bigint();
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    wall += Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
    // `times`: the shell's user/sys, then its children's
    const child = r.stdout.trim().split('\n').pop()!;
    const secs = [...child.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    cpu += secs.reduce((a, b) => a + b, 0);
    bytes += clearBytes;
  } while (wall < SECONDS);
  return { wall: bytes / 1e6 / wall, cpu: bytes / 1e6 / Math.max(cpu, 1e-3) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const fmt = (x: number) => x.toFixed(0).padStart(6);

// sanity: what we measure is correct
{
  const einit = encryptInit(init, { scheme: 'cenc', kid: KID, pssh: [] });
  const enc = encryptSegment(segments[0]!, track, { scheme: 'cenc', key: KEY, kid: KID });
  if (!decryptSegment(enc, einit, KEY).equals(segments[0]!)) throw new Error('round trip failed');
}

console.log(
  `clip: ${segments.length} fragments, ${(segmentBytes / 1e6).toFixed(1)} MB of 720p H.264; ${ROUNDS} rounds of ${SECONDS} s per measurement`,
);
ours('cenc'); // warm-up
ours('cbcs');
const results = { cenc: [] as Rate[], cbcs: [] as Rate[], ffmpeg: [] as Rate[], openssl: [] as number[] };
for (let round = 1; round <= ROUNDS; round++) {
  results.openssl.push(openssl());
  results.cenc.push(ours('cenc'));
  results.ffmpeg.push(ffmpegRemux());
  results.cbcs.push(ours('cbcs'));
  const [c, b, f] = [results.cenc.at(-1)!, results.cbcs.at(-1)!, results.ffmpeg.at(-1)!];
  console.log(
    `round ${round}: openssl ${fmt(results.openssl.at(-1)!)} MB/cpu-s | cenc ${fmt(c.wall)} MB/s ${fmt(c.cpu)} MB/cpu-s | cbcs ${fmt(b.wall)} MB/s ${fmt(b.cpu)} MB/cpu-s | ffmpeg remux ${fmt(f.wall)} MB/s ${fmt(f.cpu)} MB/cpu-s`,
  );
}
rmSync(scratch, { recursive: true, force: true });

const m = {
  openssl: median(results.openssl),
  cencWall: median(results.cenc.map((r) => r.wall)),
  cencCpu: median(results.cenc.map((r) => r.cpu)),
  cbcsWall: median(results.cbcs.map((r) => r.wall)),
  cbcsCpu: median(results.cbcs.map((r) => r.cpu)),
  ffWall: median(results.ffmpeg.map((r) => r.wall)),
  ffCpu: median(results.ffmpeg.map((r) => r.cpu)),
};
console.log('\nmedians                       MB/s wall   MB per CPU-second');
console.log(`encryptSegment cenc           ${fmt(m.cencWall)}      ${fmt(m.cencCpu)}`);
console.log(`encryptSegment cbcs           ${fmt(m.cbcsWall)}      ${fmt(m.cbcsCpu)}`);
console.log(`ffmpeg -encryption_scheme     ${fmt(m.ffWall)}      ${fmt(m.ffCpu)}`);
console.log(`openssl speed aes-128-ctr                   ${fmt(m.openssl)}  (16 KiB blocks)`);
const check = (label: string, value: number, goal: number) =>
  console.log(`${value >= goal ? 'PASS' : 'FAIL'}  ${label}: ${value.toFixed(2)} (goal ≥ ${goal})`);
console.log('');
check('cenc vs ffmpeg remux, per CPU-second', m.cencCpu / m.ffCpu, GOALS.vsFfmpeg);
check('cenc vs ffmpeg remux, wall', m.cencWall / m.ffWall, GOALS.vsFfmpeg);
check('cbcs vs ffmpeg remux, per CPU-second', m.cbcsCpu / m.ffCpu, GOALS.vsFfmpeg);
check('cenc vs openssl aes-128-ctr, per CPU-second', m.cencCpu / m.openssl, GOALS.vsOpenssl);
