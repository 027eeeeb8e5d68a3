/**
 * CENC encryption throughput of the packager's `encryptSegment` over real transcoded fragments (720p30
 * H.264 at ~6 Mb/s from ffmpeg's DASH muxer, made once and cached in the OS temp folder), measured in
 * interleaved rounds next to its baselines:
 * - `openssl speed -evp aes-128-ctr -bytes 16384` on one core: the AES ceiling, its 16 KiB-block figure,
 *   which openssl divides by user CPU time (its default; `-elapsed` would use wall time);
 * - ffmpeg's own CENC remux of the same clip (`-c copy -encryption_scheme cenc-aes-ctr`, non-fragmented
 *   output, the mode of ffmpeg that works), timed as a child process (wall, and user+sys from `times`);
 * - `encryptSegment` both ways: with the native in-place AES (`@vigil/aes-native`, OpenSSL EVP, when it is
 *   built) and with node:crypto (the fallback, `VIGIL_NATIVE_AES=0`), measured one after the other;
 * - for reference only, Node's own ceiling: every byte of the fragments through one `aes-128-ctr`
 *   `Cipher.update` in 64 KiB calls, each output copied into a new buffer per fragment, as
 *   `encryptSegment` has to (Node allocates and copies every update's output).
 *
 *   node --import tsx bench/cenc-encrypt.ts      BENCH_SECONDS=1.5 (per measurement) BENCH_ROUNDS=3
 *   node --cpu-prof --cpu-prof-dir=bench/results/profiles --import tsx bench/cenc-encrypt.ts   (profile)
 *
 * Ours are MB (10^6 bytes of input fragments, boxes included) per wall second and per CPU-second (user +
 * system of this process, every thread). Goals: encryptSegment (cenc) at least 2x ffmpeg's remux, and at
 * least 30% of openssl's AES-CTR, both per CPU-second (robust on a shared machine); the ratio is given
 * from the medians and as the median of each round's own ratio (openssl and cenc measured back to back).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
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
import { aesDescription, useNativeAes } from '../packages/packager/src/cenc/native.ts';
import { envNumber, median } from './common.ts';

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

/** Node's ceiling: all fragment bytes through one AES-CTR cipher in 64 KiB calls, into a new buffer each. */
function nodeCeiling(): Rate {
  const CALL = 64 * 1024;
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  do {
    for (const seg of segments) {
      const cipher = createCipheriv('aes-128-ctr', KEY, IV);
      const out = Buffer.allocUnsafe(seg.length);
      for (let o = 0; o < seg.length; o += CALL) out.set(cipher.update(seg.subarray(o, o + CALL)), o);
      bytes += seg.length;
    }
  } while (Number(process.hrtime.bigint() - t0) / 1e9 < SECONDS);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall: bytes / 1e6 / wall, cpu: bytes / 1e6 / ((c.user + c.system) / 1e6) };
}

/** Whether the native AES is built here; and which AES the packager uses by default. */
const NATIVE = useNativeAes(true);
useNativeAes(undefined);
const DEFAULT_AES = aesDescription();
const DEFAULT_NATIVE = useNativeAes(undefined);

function ours(scheme: Scheme, native: boolean): Rate {
  useNativeAes(native);
  try {
    return measure(scheme);
  } finally {
    useNativeAes(undefined);
  }
}

function measure(scheme: Scheme): Rate {
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

const fmt = (x: number) => x.toFixed(0).padStart(6);

// sanity: what we measure is correct (the defaults, as the pipeline uses them, both schemes, both AES
// implementations, which must give the same bytes)
for (const scheme of ['cenc', 'cbcs'] as const) {
  const einit = encryptInit(init, { scheme, kid: KID, iv: IV, pssh: [] });
  for (const [i, seg] of segments.entries()) {
    const opts = { scheme, key: KEY, kid: KID, iv: IV, ivSeed: BigInt(i + 1) << 32n };
    useNativeAes(false);
    const js = encryptSegment(seg, track, opts);
    useNativeAes(NATIVE);
    const enc = encryptSegment(seg, track, opts);
    useNativeAes(undefined);
    if (!enc.equals(js)) throw new Error(`${scheme}: native and node:crypto differ`);
    if (!decryptSegment(enc, einit, KEY).equals(seg)) throw new Error(`${scheme} round trip failed`);
  }
}

console.log(
  `clip: ${segments.length} fragments, ${(segmentBytes / 1e6).toFixed(1)} MB of 720p H.264; ${ROUNDS} rounds of ${SECONDS} s per measurement`,
);
console.log(`packager uses: ${DEFAULT_AES}${NATIVE ? '' : ' (native rows below repeat node:crypto)'}`);
for (const native of [true, false]) {
  ours('cenc', native && NATIVE); // warm-up
  ours('cbcs', native && NATIVE);
}
nodeCeiling();
const results = {
  cenc: [] as Rate[],
  cencJs: [] as Rate[],
  cbcs: [] as Rate[],
  cbcsJs: [] as Rate[],
  ffmpeg: [] as Rate[],
  node: [] as Rate[],
  openssl: [] as number[],
};
for (let round = 1; round <= ROUNDS; round++) {
  // native and node:crypto alternate, which one goes first too
  const order = !NATIVE ? [false] : round % 2 === 1 ? [true, false] : [false, true];
  results.openssl.push(openssl());
  for (const native of order) (native ? results.cenc : results.cencJs).push(ours('cenc', native));
  results.ffmpeg.push(ffmpegRemux());
  for (const native of order) (native ? results.cbcs : results.cbcsJs).push(ours('cbcs', native));
  results.node.push(nodeCeiling());
  if (!NATIVE) {
    results.cenc.push(results.cencJs.at(-1)!);
    results.cbcs.push(results.cbcsJs.at(-1)!);
  }
  const o = results.openssl.at(-1)!;
  const [c, cj, b, bj, f, n] = [
    results.cenc.at(-1)!,
    results.cencJs.at(-1)!,
    results.cbcs.at(-1)!,
    results.cbcsJs.at(-1)!,
    results.ffmpeg.at(-1)!,
    results.node.at(-1)!,
  ];
  const vs = (r: Rate) => `${fmt(r.cpu)} MB/cpu-s (${(r.cpu / o).toFixed(2)})`;
  console.log(
    `round ${round}: openssl ${fmt(o)} MB/cpu-s | cenc native ${vs(c)} js ${vs(cj)} | cbcs native ${fmt(b.cpu)} js ${fmt(bj.cpu)} MB/cpu-s | ffmpeg remux ${fmt(f.cpu)} MB/cpu-s | node update ${vs(n)}`,
  );
}
rmSync(scratch, { recursive: true, force: true });

const m = {
  openssl: median(results.openssl),
  cencWall: median(results.cenc.map((r) => r.wall)),
  cencCpu: median(results.cenc.map((r) => r.cpu)),
  cencJsWall: median(results.cencJs.map((r) => r.wall)),
  cencJsCpu: median(results.cencJs.map((r) => r.cpu)),
  cbcsWall: median(results.cbcs.map((r) => r.wall)),
  cbcsCpu: median(results.cbcs.map((r) => r.cpu)),
  cbcsJsWall: median(results.cbcsJs.map((r) => r.wall)),
  cbcsJsCpu: median(results.cbcsJs.map((r) => r.cpu)),
  ffWall: median(results.ffmpeg.map((r) => r.wall)),
  ffCpu: median(results.ffmpeg.map((r) => r.cpu)),
  nodeWall: median(results.node.map((r) => r.wall)),
  nodeCpu: median(results.node.map((r) => r.cpu)),
};
/** What the packager runs by default: native when built (and not switched off), else node:crypto. */
const used = DEFAULT_NATIVE
  ? { cenc: results.cenc, cencCpu: m.cencCpu, cencWall: m.cencWall, cbcsCpu: m.cbcsCpu }
  : { cenc: results.cencJs, cencCpu: m.cencJsCpu, cencWall: m.cencJsWall, cbcsCpu: m.cbcsJsCpu };
const paired = (rs: Rate[]) => median(rs.map((r, i) => r.cpu / results.openssl[i]!));
const pairedOpenssl = paired(used.cenc);
const ofOpenssl = (cpu: number) => `${(cpu / m.openssl).toFixed(2)} of openssl`;
console.log('\nmedians                                   MB/s wall   MB per CPU-second');
console.log(
  `encryptSegment cenc, native (OpenSSL EVP) ${fmt(m.cencWall)}      ${fmt(m.cencCpu)}  ${ofOpenssl(m.cencCpu)} (paired ${paired(results.cenc).toFixed(2)})${NATIVE ? '' : ' [not built: node:crypto]'}`,
);
console.log(
  `encryptSegment cenc, node:crypto          ${fmt(m.cencJsWall)}      ${fmt(m.cencJsCpu)}  ${ofOpenssl(m.cencJsCpu)} (paired ${paired(results.cencJs).toFixed(2)})`,
);
console.log(
  `encryptSegment cbcs, native (OpenSSL EVP) ${fmt(m.cbcsWall)}      ${fmt(m.cbcsCpu)}${NATIVE ? '' : '  [not built: node:crypto]'}`,
);
console.log(`encryptSegment cbcs, node:crypto          ${fmt(m.cbcsJsWall)}      ${fmt(m.cbcsJsCpu)}`);
console.log(`ffmpeg -encryption_scheme cenc-aes-ctr    ${fmt(m.ffWall)}      ${fmt(m.ffCpu)}`);
console.log(
  `node cipher.update, 64 KiB calls (ref.)   ${fmt(m.nodeWall)}      ${fmt(m.nodeCpu)}  ${ofOpenssl(m.nodeCpu)}`,
);
console.log(
  `openssl speed -evp aes-128-ctr                       ${fmt(m.openssl)}  (16 KiB blocks, one core, per user CPU-second)`,
);
const check = (label: string, value: number, goal: number) =>
  console.log(`${value >= goal ? 'PASS' : 'FAIL'}  ${label}: ${value.toFixed(2)} (goal ≥ ${goal})`);
console.log(`\ngoals, for what the packager uses: ${DEFAULT_AES}`);
check('cenc vs ffmpeg remux, per CPU-second', used.cencCpu / m.ffCpu, GOALS.vsFfmpeg);
check('cenc vs ffmpeg remux, wall', used.cencWall / m.ffWall, GOALS.vsFfmpeg);
check('cbcs vs ffmpeg remux, per CPU-second', used.cbcsCpu / m.ffCpu, GOALS.vsFfmpeg);
check(
  'cenc vs openssl aes-128-ctr 16 KiB, per CPU-second (medians)',
  used.cencCpu / m.openssl,
  GOALS.vsOpenssl,
);
check('cenc vs openssl aes-128-ctr 16 KiB, per CPU-second (paired)', pairedOpenssl, GOALS.vsOpenssl);
console.log(`      cenc wall vs openssl (for reference): ${(used.cencWall / m.openssl).toFixed(2)}`);
