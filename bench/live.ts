/**
 * Live channel benchmark (see bench/README.md, "Live"):
 *
 * 1. Vigil's own cost per rendition, without encoding: a real LiveChannel whose "ffmpeg" is
 *    bench/live-fake-ffmpeg.mjs, replaying CMAF fragments the real ffmpeg made once (cached in the OS temp
 *    folder) as fast as the channel takes them. CPU time of this process (which hosts the channel)
 *    between its first and last `segment` event, per segment and track; against a trivial consumer that
 *    only copies each fragment (same fake source), interleaved A B A B.
 * 2. Capacity: K channels with the real ffmpeg (test pattern, default 3-rendition ladder), K = 1, 2, …
 *    until one step does not keep up with real time, with the CPU of the encoders, of this process and
 *    of everything else on the machine per step.
 *
 *   npm run bench:live      BENCH_LIVE_ROUNDS=5 BENCH_LIVE_PACE=consume BENCH_LIVE_SOURCE_SECONDS=60
 *                           BENCH_LIVE_SECONDS=30 BENCH_LIVE_WARMUP_SECONDS=6 BENCH_LIVE_MAX_CHANNELS=8
 *                           BENCH_LIVE_PART=1|2 (only one part)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  type FSWatcher,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearKeyPssh } from '@vigil/keys';
import {
  addRotationSignalling,
  DEFAULT_LIVE_SETTINGS,
  encryptLiveInit,
  LiveChannel,
  type LiveSettings,
  liveFfmpegArgs,
  SEGMENT_NAME,
  setFragmentTiming,
} from '@vigil/live';
import {
  encryptSegment,
  encryptTsSegment,
  ephemeralKeySource,
  parseInit,
  readFragmentTiming,
  readInit,
  readInitTracks,
} from '@vigil/packager';
import { envNumber, median } from './common.ts';

const RESULTS_DIR = join(import.meta.dirname, 'results');
const FAKE_FFMPEG = join(import.meta.dirname, 'live-fake-ffmpeg.mjs');
const FFMPEG = process.env.VIGIL_FFMPEG || 'ffmpeg';

const ROUNDS = Math.round(envNumber('BENCH_LIVE_ROUNDS', 5));
const PACE = process.env.BENCH_LIVE_PACE || 'consume';
const SOURCE_SECONDS = Math.round(envNumber('BENCH_LIVE_SOURCE_SECONDS', 60));
const STEP_SECONDS = envNumber('BENCH_LIVE_SECONDS', 30);
const WARMUP_SECONDS = envNumber('BENCH_LIVE_WARMUP_SECONDS', 6);
const MAX_CHANNELS = Math.round(envNumber('BENCH_LIVE_MAX_CHANNELS', 8));
const PART = process.env.BENCH_LIVE_PART ?? '';
/** Part 2: a channel keeps up when it publishes media at least this fast (media seconds per wall second)… */
const MIN_RATE = 0.95;
/** …and its edge lag grows by at most this many segments over the window. */
const MAX_LAG_GROWTH_SEGMENTS = 2;

const SETTINGS: LiveSettings = { ...DEFAULT_LIVE_SETTINGS, input: { kind: 'test-pattern' } };
const SEG_S = SETTINGS.segmentDuration;
const TRACKS = SETTINGS.ladder.length + 1;
const NCPU = cpus().length;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const KEY_SERVER = () => 'http://127.0.0.1:9';

const now = () => performance.now();
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** utime + stime of a process in seconds, or undefined once it is gone. */
function pidCpu(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces: count from the closing parenthesis, whose next field is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** The machine's CPU counters (/proc/stat, all CPUs), in seconds summed over CPUs. */
function machineCpu(): { total: number; idle: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { total: total / CLK_TCK, idle: (v[3]! + v[4]!) / CLK_TCK, steal: v[7]! / CLK_TCK };
}

// ---------------------------------------------------------------------------------------------------
// Clean-up: every channel and child this bench started is stopped, on success, error or Ctrl-C.

const channels = new Set<LiveChannel>();
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let interrupted = false;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTemp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

async function stopChannel(channel: LiveChannel): Promise<void> {
  try {
    await channel.stop();
  } finally {
    channels.delete(channel);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

async function cleanUp(): Promise<void> {
  await Promise.allSettled([...channels].map(stopChannel));
  await Promise.allSettled([...children].map(stopChild));
  for (const dir of [...tempDirs]) removeTemp(dir);
}

// ---------------------------------------------------------------------------------------------------
// Part 1: the fragments, made once by the real ffmpeg

interface Fragments {
  dir: string;
  /** Segment groups: one file name per track (video rungs, then audio). */
  groups: string[][];
  /** Bytes of each group, all tracks. */
  groupBytes: number[];
  /** Bytes per track over all groups. */
  trackBytes: number[];
}

/**
 * The channel's ffmpeg arguments for `dir`, made to run as fast as possible and stop: without `-re`,
 * with `-t`, and keeping every segment (`-window_size 0`) so the cache holds the whole clip.
 */
function cacheArgs(dir: string): string[] {
  const args = liveFfmpegArgs(SETTINGS, dir).filter((a) => a !== '-re');
  const w = args.indexOf('-window_size');
  if (w >= 0) args[w + 1] = '0';
  args.splice(args.length - 1, 0, '-t', String(SOURCE_SECONDS));
  return args;
}

function readFragments(dir: string): Fragments {
  const names = readdirSync(dir);
  const numbers = [...new Set(names.flatMap((n) => SEGMENT_NAME.exec(n)?.[2] ?? []).map(Number))].sort(
    (a, b) => a - b,
  );
  const groups = numbers
    .map((n) => Array.from({ length: TRACKS }, (_, s) => `seg-${s}-${String(n).padStart(5, '0')}.m4s`))
    .filter((g) => g.every((name) => names.includes(name)));
  const size = (name: string) => statSync(join(dir, name)).size;
  return {
    dir,
    groups,
    groupBytes: groups.map((g) => g.reduce((sum, name) => sum + size(name), 0)),
    trackBytes: Array.from({ length: TRACKS }, (_, s) => groups.reduce((sum, g) => sum + size(g[s]!), 0)),
  };
}

function ensureFragments(): Fragments {
  const ffmpegVersion = execFileSync(FFMPEG, ['-version'], { encoding: 'utf8' }).split('\n', 1)[0];
  const hash = createHash('sha256')
    .update(JSON.stringify([ffmpegVersion, cacheArgs('<dir>')]))
    .digest('hex')
    .slice(0, 12);
  const dir = join(tmpdir(), `vigil-bench-live-${hash}`);
  if (!existsSync(dir)) {
    console.log(`making ${SOURCE_SECONDS} s of live fragments with ffmpeg (once): ${dir}`);
    const partial = `${dir}.${process.pid}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    try {
      execFileSync(FFMPEG, cacheArgs(partial), { stdio: ['ignore', 'ignore', 'inherit'] });
      for (const name of readdirSync(partial)) if (name.endsWith('.tmp')) rmSync(join(partial, name));
      renameSync(partial, dir);
    } catch (err) {
      rmSync(partial, { recursive: true, force: true });
      throw err;
    }
  }
  const fragments = readFragments(dir);
  if (fragments.groups.length < 3)
    throw new Error(`only ${fragments.groups.length} segment groups in ${dir}`);
  return fragments;
}

// ---------------------------------------------------------------------------------------------------
// Part 1: consumers of the fake source

interface ConsumerRun {
  round: number;
  consumer: 'vigil' | 'copy';
  /** Groups between the first and the last `segment` event (the first one is not counted). */
  groups: number;
  wallSeconds: number;
  cpuSeconds: number;
  cpuMsPerGroup: number;
  cpuMsPerSegmentPerTrack: number;
  /** Share of one core per track at real time: CPU per segment / segment duration. */
  coreSharePerTrack: number;
  /** Clear fragment bytes of the counted groups per CPU-second. */
  bytesPerCpuSecond: number;
  /** The channel's own status().processingMsAvg (wall ms per group, all tracks). */
  processingMsAvg?: number;
  /** CPU of the fake ffmpeg over the whole run (it copies the fragments in). */
  sourceCpuSeconds?: number;
}

function fakeEnv(fragments: Fragments): void {
  // The supervisor spawns the channel's "ffmpeg" with this process's environment.
  process.env.VIGIL_BENCH_LIVE_FRAGMENTS = fragments.dir;
  process.env.VIGIL_BENCH_LIVE_PACE = PACE;
  process.env.VIGIL_BENCH_LIVE_SEGMENT_SECONDS = String(SEG_S);
}

/** Collects `segment` moments: CPU and wall time at the first and the last of `expected`. */
function segmentClock(expected: number, timeoutMs: number) {
  let count = 0;
  let first = { wall: 0, cpu: 0 };
  let last = first;
  let fail: (err: Error) => void = () => {};
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const timer = setTimeout(() => fail(new Error(`only ${count} of ${expected} groups in time`)), timeoutMs);
  const clear = () => clearTimeout(timer);
  void done.then(clear, clear);
  return {
    done,
    fail,
    tick() {
      const at = { wall: now(), cpu: cpuNow() };
      if (++count === 1) first = at;
      last = at;
      if (count === expected) finish();
    },
    span: () => ({ wall: (last.wall - first.wall) / 1000, cpu: last.cpu - first.cpu }),
  };
}

function runTimeoutMs(groups: number): number {
  const paced = PACE === 'consume' ? 0 : (groups * SEG_S * 1000) / Number(PACE);
  return 120_000 + paced;
}

function consumerRun(
  round: number,
  consumer: ConsumerRun['consumer'],
  fragments: Fragments,
  span: { wall: number; cpu: number },
): ConsumerRun {
  const groups = fragments.groups.length - 1;
  const bytes = fragments.groupBytes.slice(1).reduce((a, b) => a + b, 0);
  const cpuMsPerGroup = (span.cpu * 1000) / groups;
  return {
    round,
    consumer,
    groups,
    wallSeconds: span.wall,
    cpuSeconds: span.cpu,
    cpuMsPerGroup,
    cpuMsPerSegmentPerTrack: cpuMsPerGroup / TRACKS,
    coreSharePerTrack: cpuMsPerGroup / TRACKS / (SEG_S * 1000),
    bytesPerCpuSecond: bytes / span.cpu,
  };
}

/** A: a real LiveChannel fed by the fake ffmpeg. */
async function runVigil(round: number, fragments: Fragments): Promise<ConsumerRun> {
  const root = tempDir('vigil-bench-live-run-');
  const channel = new LiveChannel({
    tenantId: 'bench',
    channelId: `bench-${round}`,
    resourceId: `bench-${round}`,
    settings: SETTINGS,
    publicDir: join(root, 'public'),
    workDir: join(root, 'work'),
    keys: ephemeralKeySource(),
    keyServerUrl: KEY_SERVER,
    ffmpegPath: FAKE_FFMPEG,
    // The fake idles after its last group: no stall restarts while the run is wound down.
    stallMs: 600_000,
  });
  channels.add(channel);
  const clock = segmentClock(fragments.groups.length, runTimeoutMs(fragments.groups.length));
  channel.on('segment', () => clock.tick());
  channel.on('error', (err: Error) => clock.fail(err));
  channel.on('exit', () => clock.fail(new Error(`the fake ffmpeg exited: ${channel.status().lastError}`)));
  try {
    await channel.start();
    await clock.done;
    const status = channel.status();
    return {
      ...consumerRun(round, 'vigil', fragments, clock.span()),
      processingMsAvg: status.processingMsAvg,
      sourceCpuSeconds: pidCpu(status.encoder.pid),
    };
  } finally {
    await stopChannel(channel);
    removeTemp(root);
  }
}

/**
 * B: the trivial consumer. The same fake source in a folder of its own, the channel's way of finding
 * complete groups (a folder watch plus a 500 ms scan, one scan at a time), and per group: read each
 * fragment, write it out unchanged (temporary file, rename), delete the clear files.
 */
async function runCopy(round: number, fragments: Fragments): Promise<ConsumerRun> {
  const root = tempDir('vigil-bench-live-copy-');
  const work = join(root, 'work', 'run-1');
  const out = join(root, 'public');
  await mkdir(work, { recursive: true });
  await mkdir(out, { recursive: true });
  const clock = segmentClock(fragments.groups.length, runTimeoutMs(fragments.groups.length));
  const fake = spawn(FAKE_FFMPEG, liveFfmpegArgs(SETTINGS, work), { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(fake);
  let stderr = '';
  fake.stderr!.on('data', (d) => {
    stderr += d;
  });
  fake.once('exit', (code, signal) =>
    clock.fail(new Error(`the fake ffmpeg exited (${code ?? signal}): ${stderr}`)),
  );

  let next = 1;
  let scanning = false;
  let queue = Promise.resolve();
  const copyGroup = async (names: string[]) => {
    const data = await Promise.all(names.map((n) => readFile(join(work, n))));
    for (const [i, name] of names.entries()) {
      const tmp = join(out, `${name}.${process.pid}.tmp`);
      await writeFile(tmp, data[i]!);
      await rename(tmp, join(out, name));
    }
    await Promise.all(names.map((n) => unlink(join(work, n)).catch(() => {})));
    clock.tick();
  };
  const scan = () => {
    if (scanning) return;
    scanning = true;
    readdir(work)
      .then((names) => {
        const have = new Set(names.filter((n) => SEGMENT_NAME.test(n)));
        while (true) {
          const n = String(next).padStart(5, '0');
          const group = Array.from({ length: TRACKS }, (_, s) => `seg-${s}-${n}.m4s`);
          if (!group.every((g) => have.has(g))) break;
          next++;
          queue = queue.then(() => copyGroup(group)).catch((err: Error) => clock.fail(err));
        }
      })
      .catch(() => {})
      .finally(() => {
        scanning = false;
      });
  };
  let watcher: FSWatcher | undefined;
  const timer = setInterval(scan, 500);
  try {
    watcher = watch(work, scan);
    await clock.done;
    return { ...consumerRun(round, 'copy', fragments, clock.span()), sourceCpuSeconds: pidCpu(fake.pid) };
  } finally {
    clearInterval(timer);
    watcher?.close();
    fake.removeAllListeners('exit');
    await stopChild(fake);
    await queue;
    removeTemp(root);
  }
}

/**
 * The per-track steps of the channel's `#publishGroup` (read the timing, retime, CENC-encrypt, add the
 * rotation signalling, AES-128 for HLS) run in memory on every cached group, no file I/O: the CPU time
 * of each track (median of `repeats` passes, tracks interleaved), to split the channel's cost between
 * video renditions and audio.
 */
function trackSplit(
  fragments: Fragments,
  repeats = 5,
): { msPerSegment: number[]; bytesPerCpuSecond: number[] } {
  const kid = '0123456789abcdef0123456789abcdef';
  const key = Buffer.alloc(16, 7);
  const tracks = Array.from({ length: TRACKS }, (_, s) => {
    const clearInit = readFileSync(join(fragments.dir, `init-${s}.m4s`));
    const protection = readInitTracks(encryptLiveInit(clearInit, { scheme: 'cenc', kid }))[0]?.protection;
    return {
      info: readInit(clearInit),
      track: parseInit(clearInit)[0]!,
      ivSize: protection?.perSampleIvSize ?? 8,
      data: fragments.groups.map((g) => readFileSync(join(fragments.dir, g[s]!))),
    };
  });
  let seq = 0;
  /** CPU seconds of one pass over every group of track `s`. */
  const pass = (s: number): number => {
    const { info, track, ivSize, data } = tracks[s]!;
    const cpu0 = cpuNow();
    for (const clear of data) {
      seq++;
      const timing = readFragmentTiming(clear, info.defaultSampleDuration);
      const fragment = setFragmentTiming(clear, {
        baseMediaDecodeTime: timing.start + 1000,
        sequenceNumber: seq,
      });
      const encrypted = encryptSegment(fragment, track, {
        scheme: 'cenc',
        key,
        kid,
        ivSeed: (BigInt(s) << 56n) | (BigInt(seq) << 20n),
      });
      addRotationSignalling(encrypted, { kid, ivSize, scheme: 'cenc', psshBoxes: [clearKeyPssh([kid])] });
      encryptTsSegment(fragment, key, seq);
    }
    return cpuNow() - cpu0;
  };
  for (let s = 0; s < TRACKS; s++) pass(s); // warm-up
  const cpu: number[][] = tracks.map(() => []);
  for (let r = 0; r < repeats; r++) for (let s = 0; s < TRACKS; s++) cpu[s]!.push(pass(s));
  return {
    msPerSegment: cpu.map((c) => (median(c) * 1000) / fragments.groups.length),
    bytesPerCpuSecond: cpu.map((c, s) => fragments.trackBytes[s]! / median(c)),
  };
}

// ---------------------------------------------------------------------------------------------------
// Part 2: K channels with the real ffmpeg

interface ChannelWindow {
  channel: number;
  published: number;
  expected: number;
  /**
   * Media seconds published per wall second over the window: 1 − the slope of a least-squares line
   * through the edge lag measured right after each publish (1.000: exactly real time).
   */
  rate: number;
  /** Edge lag right after the window's first publish, and the most it grew above that, ms. */
  lagFirstMs: number;
  lagGrowthMs: number;
  /** Largest edge lag sampled every 500 ms over the window, ms. */
  maxLagMs: number;
  restarts: number;
  errors: string[];
  ffmpegCpuSeconds: number | undefined;
  keptUp: boolean;
}

interface Step {
  channels: number;
  windowSeconds: number;
  startSeconds: number;
  perChannel: ChannelWindow[];
  published: number;
  expected: number;
  minRate: number;
  maxLagMs: number;
  maxLagGrowthMs: number;
  /** CPU per wall second, in cores (1 = one core busy). */
  ffmpegCores: number;
  vigilCores: number;
  otherCores: number;
  idleCores: number;
  stealCores: number;
  loadavg1: number;
  keptUp: boolean;
  failure?: string;
}

interface Watched {
  channel: LiveChannel;
  segments: { at: number; lagMs: number }[];
  errors: string[];
  maxLagMs: number;
  firstSegment: Promise<void>;
}

function watchChannel(channel: LiveChannel): Watched {
  let first: () => void = () => {};
  const w: Watched = {
    channel,
    segments: [],
    errors: [],
    maxLagMs: Number.NEGATIVE_INFINITY,
    firstSegment: new Promise<void>((done) => {
      first = done;
    }),
  };
  channel.on('segment', () => {
    w.segments.push({ at: now(), lagMs: channel.status().edgeLagMs ?? Number.NaN });
    first();
  });
  channel.on('error', (err: Error) => w.errors.push(err.message));
  channel.on('exit', () => w.errors.push(`ffmpeg exited: ${channel.status().lastError ?? ''}`));
  return w;
}

async function runStep(k: number): Promise<Step> {
  const root = tempDir(`vigil-bench-live-k${k}-`);
  const watched: Watched[] = [];
  const started = now();
  try {
    for (let i = 0; i < k; i++) {
      const channel = new LiveChannel({
        tenantId: 'bench',
        channelId: `ch${i}`,
        resourceId: `ch${i}`,
        settings: SETTINGS,
        publicDir: join(root, `ch${i}`, 'public'),
        workDir: join(root, `ch${i}`, 'work'),
        keys: ephemeralKeySource(),
        keyServerUrl: KEY_SERVER,
        ffmpegPath: FFMPEG,
      });
      channels.add(channel);
      watched.push(watchChannel(channel));
      await channel.start();
    }
    let startTimer: NodeJS.Timeout | undefined;
    const startTimeout = new Promise<'timeout'>((done) => {
      startTimer = setTimeout(() => done('timeout'), 45_000);
    });
    const ready = await Promise.race([Promise.all(watched.map((w) => w.firstSegment)), startTimeout]);
    clearTimeout(startTimer);
    const startSeconds = (now() - started) / 1000;
    if (ready === 'timeout') {
      const missing = watched.filter((w) => w.segments.length === 0).length;
      return failedStep(k, startSeconds, `${missing} channel(s) published nothing within 45 s`);
    }
    await sleep(WARMUP_SECONDS * 1000);

    // The measured window.
    const pids = watched.map((w) => w.channel.status().encoder.pid);
    const restarts0 = watched.map((w) => w.channel.status().encoder.restarts);
    const ff0 = pids.map(pidCpu);
    const m0 = machineCpu();
    const self0 = cpuNow();
    const t0 = now();
    const seen0 = watched.map((w) => w.segments.length);
    const errors0 = watched.map((w) => w.errors.length);
    for (const w of watched) w.maxLagMs = Number.NEGATIVE_INFINITY;
    const sampler = setInterval(() => {
      for (const w of watched) w.maxLagMs = Math.max(w.maxLagMs, w.channel.status().edgeLagMs ?? 0);
    }, 500);
    await sleep(STEP_SECONDS * 1000);
    clearInterval(sampler);
    const t1 = now();
    const self1 = cpuNow();
    const m1 = machineCpu();
    const ff1 = pids.map(pidCpu);
    const wall = (t1 - t0) / 1000;

    const perChannel = watched.map((w, i): ChannelWindow => {
      const segs = w.segments.slice(seen0[i]).filter((s) => s.at <= t1);
      const rate = segs.length > 2 ? 1 - slope(segs.map((s) => [s.at, s.lagMs])) : 0;
      const lags = segs.map((s) => s.lagMs);
      const lagFirstMs = lags[0] ?? Number.NaN;
      const lagGrowthMs = lags.length ? Math.max(...lags) - lagFirstMs : Number.NaN;
      const restarts = w.channel.status().encoder.restarts - restarts0[i]!;
      const samePid = w.channel.status().encoder.pid === pids[i];
      const ffmpegCpuSeconds =
        samePid && ff0[i] !== undefined && ff1[i] !== undefined ? ff1[i]! - ff0[i]! : undefined;
      const errors = w.errors.slice(errors0[i]);
      const expected = wall / SEG_S;
      const keptUp =
        // A window holds one segment more or less depending on where it falls: allow one.
        segs.length >= MIN_RATE * expected - 1 &&
        rate >= MIN_RATE &&
        lagGrowthMs <= MAX_LAG_GROWTH_SEGMENTS * SEG_S * 1000 &&
        restarts === 0 &&
        errors.length === 0;
      return {
        channel: i,
        published: segs.length,
        expected,
        rate,
        lagFirstMs,
        lagGrowthMs,
        maxLagMs: w.maxLagMs,
        restarts,
        errors,
        ffmpegCpuSeconds,
        keptUp,
      };
    });
    const ffmpegCpu = perChannel.reduce((sum, c) => sum + (c.ffmpegCpuSeconds ?? Number.NaN), 0);
    const vigilCpu = self1 - self0;
    const machineWall = m1.total - m0.total; // CPU-seconds of all CPUs over the window
    const busy = machineWall - (m1.idle - m0.idle) - (m1.steal - m0.steal);
    const scale = NCPU / machineWall; // to cores
    return {
      channels: k,
      windowSeconds: wall,
      startSeconds,
      perChannel,
      published: perChannel.reduce((sum, c) => sum + c.published, 0),
      expected: (k * wall) / SEG_S,
      minRate: Math.min(...perChannel.map((c) => c.rate)),
      maxLagMs: Math.max(...perChannel.map((c) => c.maxLagMs)),
      maxLagGrowthMs: Math.max(...perChannel.map((c) => c.lagGrowthMs)),
      ffmpegCores: ffmpegCpu / wall,
      vigilCores: vigilCpu / wall,
      otherCores: Math.max(0, busy * scale - (ffmpegCpu + vigilCpu) / wall),
      idleCores: (m1.idle - m0.idle) * scale,
      stealCores: (m1.steal - m0.steal) * scale,
      loadavg1: loadavg()[0]!,
      keptUp: perChannel.every((c) => c.keptUp),
    };
  } finally {
    await Promise.allSettled(watched.map((w) => stopChannel(w.channel)));
    removeTemp(root);
  }
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

function failedStep(k: number, startSeconds: number, failure: string): Step {
  return {
    channels: k,
    windowSeconds: 0,
    startSeconds,
    perChannel: [],
    published: 0,
    expected: 0,
    minRate: 0,
    maxLagMs: Number.NaN,
    maxLagGrowthMs: Number.NaN,
    ffmpegCores: Number.NaN,
    vigilCores: Number.NaN,
    otherCores: Number.NaN,
    idleCores: Number.NaN,
    stealCores: Number.NaN,
    loadavg1: loadavg()[0]!,
    keptUp: false,
    failure,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

type Column<T> = [string, number, (r: T) => string];

function table<T>(columns: Column<T>[]) {
  const row = (cells: string[]) => cells.map((c, i) => c.padStart(columns[i]![1])).join('  ');
  return {
    header: () => console.log(row(columns.map(([h]) => h))),
    print: (r: T) => console.log(row(columns.map(([, , f]) => f(r)))),
  };
}

const pct = (cores: number) => (Number.isFinite(cores) ? `${(cores * 100).toFixed(0)}%` : '-');
const mb = (bytes: number) => (bytes / 1e6).toFixed(0);

const CONSUMER_TABLE = table<ConsumerRun>([
  ['round', 5, (r) => String(r.round)],
  ['consumer', 8, (r) => r.consumer],
  ['groups', 6, (r) => String(r.groups)],
  ['wall s', 6, (r) => r.wallSeconds.toFixed(2)],
  ['CPU s', 6, (r) => r.cpuSeconds.toFixed(3)],
  ['load', 5, (r) => (r.cpuSeconds / r.wallSeconds).toFixed(2)],
  ['CPU-ms/group', 12, (r) => r.cpuMsPerGroup.toFixed(2)],
  ['CPU-ms/seg/track', 16, (r) => r.cpuMsPerSegmentPerTrack.toFixed(2)],
  ['MB/CPU-s', 8, (r) => mb(r.bytesPerCpuSecond)],
  ['proc ms avg', 11, (r) => r.processingMsAvg?.toFixed(1) ?? '-'],
  ['source CPU s', 12, (r) => r.sourceCpuSeconds?.toFixed(2) ?? '-'],
]);

const STEP_TABLE = table<Step>([
  ['K', 2, (s) => String(s.channels)],
  ['segments', 9, (s) => `${s.published}/${s.expected.toFixed(0)}`],
  ['min rate', 8, (s) => s.minRate.toFixed(3)],
  ['max lag s', 9, (s) => (s.maxLagMs / 1000).toFixed(1)],
  ['lag +s', 6, (s) => (s.maxLagGrowthMs / 1000).toFixed(1)],
  ['ffmpeg CPU', 10, (s) => pct(s.ffmpegCores)],
  ['per ch', 6, (s) => pct(s.ffmpegCores / s.channels)],
  ['Vigil CPU', 9, (s) => pct(s.vigilCores)],
  ['others', 6, (s) => pct(s.otherCores)],
  ['idle', 5, (s) => pct(s.idleCores)],
  ['steal', 5, (s) => pct(s.stealCores)],
  ['load1', 5, (s) => s.loadavg1.toFixed(1)],
  ['start s', 7, (s) => s.startSeconds.toFixed(1)],
  ['verdict', 7, (s) => (s.keptUp ? 'OK' : 'BEHIND')],
]);

// ---------------------------------------------------------------------------------------------------
// Main

async function partOne() {
  const fragments = ensureFragments();
  fakeEnv(fragments);
  chmodSync(FAKE_FFMPEG, 0o755);
  const totalBytes = fragments.groupBytes.reduce((a, b) => a + b, 0);
  console.log(
    `\nPart 1: Vigil's live packaging without encoding. Fake ffmpeg replaying ${fragments.groups.length} cached ` +
      `groups of ${TRACKS} tracks (${SETTINGS.ladder.map((r) => `${r.height}p`).join(', ')}, audio; ` +
      `${mb(totalBytes)} MB), pace ${PACE}; ${ROUNDS} rounds, vigil and copy interleaved. CPU of this process ` +
      `from the first to the last segment event.\n`,
  );
  // One unrecorded pair: JIT, file cache, first imports.
  await runVigil(0, fragments);
  await runCopy(0, fragments);
  const runs: ConsumerRun[] = [];
  CONSUMER_TABLE.header();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const run of [runVigil, runCopy]) {
      if (interrupted) throw new Error('interrupted');
      const r = await run(round, fragments);
      runs.push(r);
      CONSUMER_TABLE.print(r);
    }
  }
  const of = (c: ConsumerRun['consumer']) => runs.filter((r) => r.consumer === c);
  const vigilMs = median(of('vigil').map((r) => r.cpuMsPerSegmentPerTrack));
  const copyMs = median(of('copy').map((r) => r.cpuMsPerSegmentPerTrack));
  const paired = median(
    of('vigil').map((v, i) => v.cpuMsPerSegmentPerTrack - of('copy')[i]!.cpuMsPerSegmentPerTrack),
  );
  const split = trackSplit(fragments);
  // The channel's cost per group beyond the in-memory per-track work (file I/O, folder scans, manifests,
  // key look-ups) is spread evenly over the tracks: each has the same files and playlists.
  const groupMs = vigilMs * TRACKS;
  const sharedMs = Math.max(0, groupMs - split.msPerSegment.reduce((a, b) => a + b, 0)) / TRACKS;
  const videoMs = split.msPerSegment.slice(0, -1).map((ms) => ms + sharedMs);
  const audioMs = split.msPerSegment.at(-1)! + sharedMs;
  const share = (ms: number) => `${((ms / (SEG_S * 1000)) * 100).toFixed(2)}%`;
  const summary = {
    vigilCpuMsPerSegmentPerTrack: vigilMs,
    copyCpuMsPerSegmentPerTrack: copyMs,
    addedCpuMsPerSegmentPerTrack: vigilMs - copyMs,
    addedPairedCpuMsPerSegmentPerTrack: paired,
    vigilCoreSharePerTrack: vigilMs / (SEG_S * 1000),
    vigilCoreSharePerChannel: groupMs / (SEG_S * 1000),
    vigilBytesPerCpuSecond: median(of('vigil').map((r) => r.bytesPerCpuSecond)),
    copyBytesPerCpuSecond: median(of('copy').map((r) => r.bytesPerCpuSecond)),
    processingMsAvg: median(of('vigil').map((r) => r.processingMsAvg ?? Number.NaN)),
    inMemoryMsPerSegment: split.msPerSegment,
    inMemoryBytesPerCpuSecond: split.bytesPerCpuSecond,
    estimatedMsPerVideoRendition: videoMs,
    estimatedMsPerAudio: audioMs,
  };
  console.log('\nsummary (medians over rounds)');
  console.log(
    `  Vigil live packaging: ${vigilMs.toFixed(2)} CPU-ms per segment per rendition = ${share(vigilMs)} of one ` +
      `core per rendition in real time (${SEG_S} s segments); ${share(groupMs)} per ${TRACKS}-track channel`,
  );
  console.log(
    `  copy baseline:        ${copyMs.toFixed(2)} CPU-ms per segment per track; Vigil adds ` +
      `${(vigilMs - copyMs).toFixed(2)} (paired median ${paired.toFixed(2)}), x${(vigilMs / copyMs).toFixed(1)}`,
  );
  console.log(
    `  bytes per CPU-second: Vigil ${mb(summary.vigilBytesPerCpuSecond)} MB/s, copy ${mb(summary.copyBytesPerCpuSecond)} MB/s`,
  );
  console.log(
    `  channel processingMsAvg (wall ms per group, all tracks): ${summary.processingMsAvg.toFixed(1)}`,
  );
  console.log(
    `  in memory, no I/O (retime, CENC, signalling, HLS AES-128), CPU-ms per segment: ` +
      `${split.msPerSegment.map((ms, s) => `${s < TRACKS - 1 ? `${SETTINGS.ladder[s]!.height}p` : 'audio'} ${ms.toFixed(2)} (${mb(split.bytesPerCpuSecond[s]!)} MB/CPU-s)`).join(', ')}`,
  );
  console.log(
    `  estimated per track (in-memory work + the rest spread evenly, ${sharedMs.toFixed(2)} ms each): ` +
      `${videoMs.map((ms, s) => `${SETTINGS.ladder[s]!.height}p ${ms.toFixed(2)} ms = ${share(ms)}`).join(', ')}, ` +
      `audio ${audioMs.toFixed(2)} ms = ${share(audioMs)} of one core`,
  );
  return {
    config: {
      pace: PACE,
      rounds: ROUNDS,
      sourceSeconds: SOURCE_SECONDS,
      groups: fragments.groups.length,
      trackBytes: fragments.trackBytes,
      cacheArgs: cacheArgs('<dir>'),
    },
    runs,
    summary,
  };
}

async function partTwo() {
  console.log(
    `\nPart 2: capacity. K channels with the real ffmpeg (${FFMPEG}), test pattern, ladder ` +
      `${SETTINGS.ladder.map((r) => `${r.height}p`).join('/')} + audio, preset ${SETTINGS.preset}, ` +
      `${SEG_S} s segments; per step: start, ${WARMUP_SECONDS} s warm-up after every channel's first segment, ` +
      `${STEP_SECONDS} s measured. Kept up, on every channel: media rate >= ${MIN_RATE}, at least ` +
      `${MIN_RATE * 100}% of the expected segments less one, edge lag growth <= ${MAX_LAG_GROWTH_SEGMENTS} ` +
      `segments, no restart or error. CPU in % of one core ` +
      `(${NCPU} cores = ${NCPU * 100}%).\n`,
  );
  const steps: Step[] = [];
  STEP_TABLE.header();
  for (let k = 1; k <= MAX_CHANNELS; k++) {
    if (interrupted) throw new Error('interrupted');
    const step = await runStep(k);
    steps.push(step);
    STEP_TABLE.print(step);
    if (step.failure) console.log(`   ${step.failure}`);
    for (const c of step.perChannel.filter((x) => !x.keptUp)) {
      console.log(
        `   channel ${c.channel}: rate ${c.rate.toFixed(3)}, lag +${(c.lagGrowthMs / 1000).toFixed(1)} s, ` +
          `${c.restarts} restarts${c.errors.length ? `, ${c.errors.join('; ')}` : ''}`,
      );
    }
    if (!step.keptUp) break;
  }
  const sustained = Math.max(0, ...steps.filter((s) => s.keptUp).map((s) => s.channels));
  const ok = steps.filter((s) => s.keptUp && Number.isFinite(s.ffmpegCores));
  const ffmpegPerChannel = median(ok.map((s) => s.ffmpegCores / s.channels));
  const vigilPerChannel = median(ok.map((s) => s.vigilCores / s.channels));
  const perChannel = ffmpegPerChannel + vigilPerChannel;
  const summary = {
    sustained,
    capped: sustained === MAX_CHANNELS,
    ffmpegCoresPerChannel: ffmpegPerChannel,
    vigilCoresPerChannel: vigilPerChannel,
    /** What the per-channel CPU would allow on these cores with nothing else running. */
    idleMachineEstimate: ok.length ? Math.floor(NCPU / perChannel) : undefined,
  };
  console.log(
    `\n  ${sustained} channel(s) sustained in real time${summary.capped ? ` (the cap, BENCH_LIVE_MAX_CHANNELS=${MAX_CHANNELS})` : ''}` +
      (steps.at(-1)?.keptUp === false ? `; ${steps.at(-1)!.channels} did not keep up` : ''),
  );
  if (ok.length) {
    console.log(
      `  per channel while keeping up: ffmpeg ${pct(ffmpegPerChannel)}, Vigil ${pct(vigilPerChannel)} of one core ` +
        `(medians); ${NCPU} idle cores would fit about ${summary.idleMachineEstimate} by CPU alone`,
    );
  }
  return {
    config: { seconds: STEP_SECONDS, warmupSeconds: WARMUP_SECONDS, maxChannels: MAX_CHANNELS },
    steps,
    summary,
  };
}

async function main(): Promise<void> {
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\ninterrupted: stopping every channel');
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSigint);
  console.log(
    `live channel bench: ${NCPU} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, Node ${process.version}, ` +
      `${execFileSync(FFMPEG, ['-version'], { encoding: 'utf8' }).split('\n', 1)[0]}`,
  );
  try {
    const report: Record<string, unknown> = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: NCPU,
      cpuModel: cpus()[0]?.model,
      loadavgAtStart: loadavg(),
      settings: SETTINGS,
    };
    if (PART !== '2') report.packaging = await partOne();
    if (PART !== '1') report.capacity = await partTwo();
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `live-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nresults: ${file}`);
  } finally {
    await cleanUp();
    process.off('SIGINT', onSigint);
  }
}

// A last resort should the bench die some other way: no encoder outlives it.
process.on('exit', () => {
  for (const channel of channels) {
    const pid = channel.status().encoder.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  for (const child of children) child.kill('SIGKILL');
});

try {
  await main();
} catch (err) {
  console.error(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
}
