/**
 * Packaging pipeline benchmark: `packageMedia` (cenc, ephemeral keys, 4 s segments, key period 2) run
 * whole in a child process, against the bare ffmpeg command it runs (the same transcode and poster
 * arguments, from the pipeline's own builders), interleaved A B A B. See bench/README.md.
 *
 *   npm run bench:package            BENCH_ROUNDS=3 BENCH_SOURCE_SECONDS=30
 *
 * Goal: the pipeline's overhead over bare ffmpeg at most 5%, in wall time and in CPU time (user + system,
 * children included).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { chooseRenditions, DEFAULT_LADDER, type SourceInfo } from '../packages/packager/src/index.ts';
import { ffmpegBin } from '../packages/packager/src/pipeline/ffmpeg.ts';
import { probeSource } from '../packages/packager/src/pipeline/probe.ts';
import {
  dashArgs,
  outputFrameRate,
  stillsOf,
  type TranscodeSettings,
} from '../packages/packager/src/pipeline/transcode.ts';
import { envNumber, median } from './common.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RUNNER = join(import.meta.dirname, 'package-runner.ts');
const RESULTS_DIR = join(import.meta.dirname, 'results');

const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3));
const SOURCE_SECONDS = envNumber('BENCH_SOURCE_SECONDS', 30);
const WARMUP_SECONDS = 2;
const SEGMENT_DURATION = 4;
const GOAL_OVERHEAD = 0.05;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** What `ffmpeg()` in pipeline/ffmpeg.ts puts before every argument list. */
const FFMPEG_PREFIX = ['-hide_banner', '-nostdin', '-y'];

const now = () => performance.timeOrigin + performance.now();

/** User + system CPU seconds of this process's reaped children (and theirs): cutime + cstime. */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Field 2 (comm) may hold spaces: count from the closing parenthesis, whose next field is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

// ---------------------------------------------------------------------------------------------------
// Source clips, made once and cached in the OS temp folder

function ensureClip(seconds: number): string {
  const path = join(tmpdir(), `vigil-package-bench-720p30-${seconds}s-v1.mp4`);
  if (existsSync(path)) return path;
  console.log(`making a ${seconds} s 1280x720 source clip (once): ${path}`);
  const partial = `${path}.${process.pid}.partial.mp4`;
  execFileSync(ffmpegBin(), [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    ...['-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p'],
    ...['-g', '60', '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', partial],
  ]);
  renameSync(partial, path);
  return path;
}

/** The transcode settings `packageMedia` derives for these options (checked against its transcode.json). */
function pipelineSettings(source: SourceInfo): TranscodeSettings {
  return {
    segmentDuration: SEGMENT_DURATION,
    renditions: chooseRenditions(source, DEFAULT_LADDER),
    preset: 'veryfast',
    audioBitrate: 128_000,
    withAudio: source.audio !== null,
  };
}

// ---------------------------------------------------------------------------------------------------
// Child processes

const running = new Set<ChildProcess>();

interface Timed {
  wall: number;
  cpu: number;
  startedAt: number;
  exitedAt: number;
  stdout: string;
}

/** Runs a command to completion: wall from spawn to exit, CPU of the whole tree (cutime + cstime delta). */
async function timed(bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const cpu0 = childrenCpu();
  const startedAt = now();
  // Its own process group, so that an interrupted bench can stop the runner's ffmpeg too.
  const child = spawn(bin, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8192);
  });
  const exited = new Promise<{ code: number | null; at: number }>((done, fail) => {
    child.once('error', fail);
    // 'exit' comes after libuv's waitpid: the child's CPU is in our cutime by now.
    child.once('exit', (code) => done({ code, at: now() }));
  });
  const closed = new Promise<void>((done) => child.once('close', () => done()));
  const { code, at } = await exited;
  const cpu = childrenCpu() - cpu0;
  await closed;
  running.delete(child);
  if (code !== 0) throw new Error(`${bin} exited with ${code}:\n${stderr}`);
  return { wall: (at - startedAt) / 1000, cpu, startedAt, exitedAt: at, stdout };
}

interface Mark {
  phase: string;
  percent: number;
  at: number;
  selfCpu: number;
  childCpu: number;
}

interface RunnerReport {
  startedAt: number;
  elapsedMs: number;
  keys: number;
  periods: number;
  tracks: { id: string; segments: number }[];
  marks: Mark[];
}

interface Span {
  name: string;
  wall: number;
  /** CPU of the node process; undefined where it cannot be told apart (a sub-span). */
  nodeCpu?: number;
  /** CPU of ffprobe/ffmpeg, counted when each one exits. */
  toolCpu?: number;
}

const runnerEnv: NodeJS.ProcessEnv = { ...process.env, BENCH_CLK_TCK: String(CLK_TCK) };
delete runnerEnv.NODE_OPTIONS;

/**
 * Where the pipeline's time goes, from its progress events: probe (ffprobe + a 0.5 s decode check),
 * transcode (ffmpeg; then its exit, the poster and the segment scan), keys + encryption, manifests,
 * cleanup (the private work folder), and the node process's start (tsx, imports) and exit.
 */
function spans(run: Timed, report: RunnerReport): Span[] {
  const m = report.marks;
  const first = (phase: string) => m.find((x) => x.phase === phase)!;
  const last = (phase: string) => m.filter((x) => x.phase === phase).at(-1)!;
  const between = (name: string, a: Mark, b: Mark): Span => ({
    name,
    wall: (b.at - a.at) / 1000,
    nodeCpu: b.selfCpu - a.selfCpu,
    toolCpu: b.childCpu - a.childCpu,
  });
  const ready = first('ready');
  const returned = last('returned');
  const probeEnd = last('probe');
  const transcodeEnd = last('transcode');
  const keys = first('keys');
  const manifests = first('manifests');
  const done = first('done');
  return [
    {
      name: 'node start (tsx, imports)',
      wall: (ready.at - run.startedAt) / 1000,
      nodeCpu: ready.selfCpu,
      toolCpu: 0,
    },
    between('probe (ffprobe, decode check)', ready, probeEnd),
    between('transcode, poster, scan', probeEnd, keys),
    { name: '  ffmpeg to last progress', wall: (transcodeEnd.at - probeEnd.at) / 1000 },
    { name: '  its exit, poster, scan', wall: (keys.at - transcodeEnd.at) / 1000 },
    between('keys + encrypt', keys, manifests),
    between('manifests', manifests, done),
    between('cleanup (work folder)', done, returned),
    {
      name: 'node exit',
      wall: (run.exitedAt - returned.at) / 1000,
      // The rest of the measured total: the runner's last moments and anything not yet counted.
      nodeCpu: Math.max(0, run.cpu - returned.selfCpu - returned.childCpu),
      toolCpu: 0,
    },
  ];
}

interface Run {
  round: number;
  target: 'pipeline' | 'bare';
  wall: number;
  cpu: number;
  nodeCpu: number;
  toolCpu: number;
  /** pipeline: packageMedia's own elapsedMs; bare: the transcode and poster runs. */
  detail: Record<string, number>;
  spans?: Span[];
}

/** Seconds of wall or CPU that A spent starting and ending its node process. */
function nodeStartExit(r: Run, key: 'wall' | 'nodeCpu'): number {
  return r.spans!.filter((s) => s.name.startsWith('node ')).reduce((a, s) => a + (s[key] ?? 0), 0);
}

const transcodeSpan = (phases: { name: string; nodeCpu?: number | undefined }[]) =>
  phases.find((p) => p.name.startsWith('transcode'))!;

function countSegments(dashDir: string): number {
  return readdirSync(dashDir).filter((f) => /^seg-\d+-\d+\.m4s$/.test(f)).length;
}

async function runPipeline(
  input: string,
  round: number,
  workDir?: string,
): Promise<Run & { report: RunnerReport }> {
  const scratch = mkdtempSync(join(tmpdir(), 'vigil-package-bench-a-'));
  try {
    const run = await timed(
      process.execPath,
      ['--import', 'tsx', RUNNER, input, join(scratch, 'out'), ...(workDir ? [workDir] : [])],
      runnerEnv,
    );
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as RunnerReport;
    const s = spans(run, report);
    const nodeCpu = s.reduce((a, x) => a + (x.nodeCpu ?? 0), 0);
    return {
      round,
      target: 'pipeline',
      wall: run.wall,
      cpu: run.cpu,
      nodeCpu,
      toolCpu: run.cpu - nodeCpu,
      detail: { packageMediaSeconds: report.elapsedMs / 1000 },
      spans: s,
      report,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface Bare {
  source: SourceInfo;
  settings: TranscodeSettings;
  frameRate: string;
}

function bareCommand(b: Bare, dir: string): string[] {
  const stills = stillsOf(b.source, b.settings, dir);
  return [...FFMPEG_PREFIX, ...dashArgs(b.source, b.settings, b.frameRate, join(dir, 'dash'), stills)];
}

async function runBare(b: Bare, round: number): Promise<Run & { segments: number }> {
  const scratch = mkdtempSync(join(tmpdir(), 'vigil-package-bench-b-'));
  try {
    mkdirSync(join(scratch, 'dash'));
    // The pipeline's one run: the ladder and the poster from the same decode.
    const transcode = await timed(ffmpegBin(), bareCommand(b, scratch));
    if (!existsSync(join(scratch, 'poster.jpg'))) throw new Error('bare ffmpeg wrote no poster');
    return {
      round,
      target: 'bare',
      wall: transcode.wall,
      cpu: transcode.cpu,
      nodeCpu: 0,
      toolCpu: transcode.cpu,
      detail: { transcodeWall: transcode.wall, transcodeCpu: transcode.cpu },
      segments: countSegments(join(scratch, 'dash')),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function bareFor(input: string): Promise<Bare> {
  const source = await probeSource(input);
  return { source, settings: pipelineSettings(source), frameRate: outputFrameRate(source.fps).text };
}

// ---------------------------------------------------------------------------------------------------
// Report

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const f2 = (x: number | undefined) => (x === undefined ? '' : x.toFixed(2));

const COLUMNS: [string, number, (r: Run) => string][] = [
  ['round', 5, (r) => String(r.round)],
  ['target', 8, (r) => r.target],
  ['wall s', 7, (r) => f2(r.wall)],
  ['CPU s', 7, (r) => f2(r.cpu)],
  ['load', 5, (r) => f2(r.cpu / r.wall)],
  ['node CPU s', 10, (r) => f2(r.nodeCpu)],
  ['ffmpeg CPU s', 12, (r) => f2(r.toolCpu)],
  [
    'detail',
    0,
    (r) =>
      r.target === 'pipeline'
        ? `packageMedia ${f2(r.detail.packageMediaSeconds)} s`
        : `transcode and poster ${f2(r.detail.transcodeWall)} s / ${f2(r.detail.transcodeCpu)} CPU-s`,
  ],
];
const row = (cells: string[]) =>
  cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(COLUMNS[i]![1]))).join('  ');

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);

async function main(): Promise<void> {
  const load0 = loadavg();
  const input = ensureClip(SOURCE_SECONDS);
  const warmInput = ensureClip(WARMUP_SECONDS);
  const bare = await bareFor(input);
  const warmBare = await bareFor(warmInput);

  console.log(
    `packageMedia (cenc, ${SEGMENT_DURATION} s segments, key period 2, ephemeral keys) vs the bare ffmpeg commands it runs`,
  );
  console.log(
    `source: ${SOURCE_SECONDS} s ${bare.source.width}x${bare.source.height} @ ${bare.source.fps} fps + audio; ` +
      `renditions ${bare.settings.renditions.map((r) => r.id).join(', ')}; ${ROUNDS} rounds`,
  );
  console.log(
    `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const shown = bareCommand(bare, '$OUT');
  console.log(
    '\nB, the bare command (the pipeline also runs ffprobe and a 0.5 s ffmpeg decode check first):',
  );
  console.log(`  ${ffmpegBin()} ${shown.map(quote).join(' ')}\n`);

  // Warm-up on a short clip (tsx's cache, the page cache), and the check that B is what A runs: the
  // pipeline's transcode.json holds the settings it passed to the argument builders.
  const warmWork = mkdtempSync(join(tmpdir(), 'vigil-package-bench-work-'));
  try {
    const a = await runPipeline(warmInput, 0, warmWork);
    const marker = JSON.parse(readFileSync(join(warmWork, 'transcode.json'), 'utf8')) as {
      settings: unknown;
      frameRate: string;
    };
    if (!isDeepStrictEqual(marker.settings, warmBare.settings) || marker.frameRate !== warmBare.frameRate) {
      throw new Error(
        `the pipeline's transcode settings differ from the bench's:\n${JSON.stringify(marker)}\n${JSON.stringify(warmBare.settings)}`,
      );
    }
    const b = await runBare(warmBare, 0);
    const segments = a.report.tracks.reduce((n, t) => n + t.segments, 0);
    if (b.segments !== segments) throw new Error(`segments: pipeline ${segments}, bare ffmpeg ${b.segments}`);
  } finally {
    rmSync(warmWork, { recursive: true, force: true });
  }

  const runs: Run[] = [];
  console.log(row(COLUMNS.map(([h]) => h)));
  for (let round = 1; round <= ROUNDS; round++) {
    const a = await runPipeline(input, round);
    const { report: _report, ...aRun } = a;
    runs.push(aRun);
    console.log(row(COLUMNS.map(([, , f]) => f(aRun))));
    const b = await runBare(bare, round);
    const pipelineSegments = a.report.tracks.reduce((n, t) => n + t.segments, 0);
    if (b.segments !== pipelineSegments)
      throw new Error(`segments: pipeline ${pipelineSegments}, bare ffmpeg ${b.segments}`);
    const { segments: _segments, ...bRun } = b;
    runs.push(bRun);
    console.log(row(COLUMNS.map(([, , f]) => f(bRun))));
  }

  const A = runs.filter((r) => r.target === 'pipeline');
  const B = runs.filter((r) => r.target === 'bare');
  const summary = {
    pipelineWall: median(A.map((r) => r.wall)),
    pipelineCpu: median(A.map((r) => r.cpu)),
    bareWall: median(B.map((r) => r.wall)),
    bareCpu: median(B.map((r) => r.cpu)),
    overheadWall: 0,
    overheadCpu: 0,
    pairedOverheadWall: median(A.map((a, i) => a.wall / B[i]!.wall - 1)),
    pairedOverheadCpu: median(A.map((a, i) => a.cpu / B[i]!.cpu - 1)),
    bareTranscodeWall: median(B.map((r) => r.detail.transcodeWall!)),
    /** A without its node process's start (tsx, imports) and exit: packageMedia itself. */
    innerWall: median(A.map((r) => r.wall - nodeStartExit(r, 'wall'))),
    innerCpu: median(A.map((r) => r.cpu - nodeStartExit(r, 'nodeCpu'))),
    innerOverheadWall: 0,
    innerOverheadCpu: 0,
  };
  summary.overheadWall = summary.pipelineWall / summary.bareWall - 1;
  summary.overheadCpu = summary.pipelineCpu / summary.bareCpu - 1;
  summary.innerOverheadWall = summary.innerWall / summary.bareWall - 1;
  summary.innerOverheadCpu = summary.innerCpu / summary.bareCpu - 1;
  const verdicts = {
    wall: summary.overheadWall <= GOAL_OVERHEAD ? 'PASS' : 'MISS',
    cpu: summary.overheadCpu <= GOAL_OVERHEAD ? 'PASS' : 'MISS',
  };

  console.log(`\nsummary (medians over ${ROUNDS} rounds)       wall s     CPU s`);
  console.log(
    `  A pipeline (packageMedia in node)  ${f2(summary.pipelineWall).padStart(7)}   ${f2(summary.pipelineCpu).padStart(7)}`,
  );
  console.log(
    `  B bare ffmpeg (transcode + poster) ${f2(summary.bareWall).padStart(7)}   ${f2(summary.bareCpu).padStart(7)}`,
  );
  console.log(
    `  overhead (A-B)/B, wall   ${pct(summary.overheadWall).padStart(7)}   goal <= ${GOAL_OVERHEAD * 100}%  ${verdicts.wall}` +
      `   (paired per round: ${pct(summary.pairedOverheadWall)})`,
  );
  console.log(
    `  overhead (A-B)/B, CPU    ${pct(summary.overheadCpu).padStart(7)}   goal <= ${GOAL_OVERHEAD * 100}%  ${verdicts.cpu}` +
      `   (paired per round: ${pct(summary.pairedOverheadCpu)})`,
  );
  console.log(
    `  without node's start and exit: ${f2(summary.innerWall)} s, ${f2(summary.innerCpu)} CPU-s, overhead ` +
      `${pct(summary.innerOverheadWall)} wall, ${pct(summary.innerOverheadCpu)} CPU (packageMedia itself)`,
  );
  // Both sides are one ffmpeg doing the same work: if they got different shares of the cores, the
  // difference in wall time is the machine's, not the pipeline's.
  const unequal = A.filter((a, i) => Math.abs(a.cpu / a.wall / (B[i]!.cpu / B[i]!.wall) - 1) > 0.1).length;
  if (unequal > 0) {
    console.log(
      `  note: in ${unequal} of ${ROUNDS} rounds the load of A and B differs by more than 10%: other work on ` +
        'the machine moved the wall times; the CPU figures and the phase table hold better',
    );
  }

  // Phase split of A, medians per span.
  const names = A[0]!.spans!.map((s) => s.name);
  const spanMedian = (name: string, key: 'wall' | 'nodeCpu' | 'toolCpu') => {
    const values = A.map((r) => r.spans!.find((s) => s.name === name)![key]);
    return values.some((v) => v === undefined) ? undefined : median(values as number[]);
  };
  const phases = names.map((name) => ({
    name,
    wall: spanMedian(name, 'wall')!,
    nodeCpu: spanMedian(name, 'nodeCpu'),
    toolCpu: spanMedian(name, 'toolCpu'),
  }));
  console.log('\nA by phase (medians)              wall s   node CPU s   ffmpeg CPU s');
  for (const p of phases) {
    console.log(
      `  ${p.name.padEnd(30)} ${f2(p.wall).padStart(7)}   ${f2(p.nodeCpu).padStart(10)}   ${f2(p.toolCpu).padStart(12)}`,
    );
  }
  // Where A - B goes: the spans outside the transcode (node, ffprobe, keys, encryption...), and what the
  // transcode span takes beyond the bare commands of the same round (spawning, the segment scan, noise).
  const isTranscode = (name: string) => name.startsWith('transcode');
  const outsideOf = (r: Run, key: 'wall' | 'cpu') =>
    r
      .spans!.filter((x) => !x.name.startsWith(' ') && !isTranscode(x.name))
      .reduce((a, x) => a + (key === 'wall' ? x.wall : (x.nodeCpu ?? 0) + (x.toolCpu ?? 0)), 0);
  const transcodeOf = (r: Run) => r.spans!.find((x) => isTranscode(x.name))!;
  const split = {
    outsideWall: median(A.map((r) => outsideOf(r, 'wall'))),
    outsideCpu: median(A.map((r) => outsideOf(r, 'cpu'))),
    transcodeExtraWall: median(A.map((r, i) => transcodeOf(r).wall - B[i]!.wall)),
    transcodeExtraCpu: median(A.map((r, i) => transcodeOf(r).nodeCpu! + transcodeOf(r).toolCpu! - B[i]!.cpu)),
  };
  console.log(
    `  outside the transcode span: ${f2(split.outsideWall)} s (${pct(split.outsideWall / summary.bareWall)} of B), ` +
      `${f2(split.outsideCpu)} CPU-s (${pct(split.outsideCpu / summary.bareCpu)})`,
  );
  console.log(
    `  transcode span minus B of the same round: ${f2(split.transcodeExtraWall)} s, ` +
      `${f2(split.transcodeExtraCpu)} CPU-s (node: ${f2(transcodeSpan(phases).nodeCpu)} CPU-s)`,
  );

  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `package-pipeline-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        loadAverageAtStart: { one: load0[0], five: load0[1], fifteen: load0[2] },
        config: {
          rounds: ROUNDS,
          sourceSeconds: SOURCE_SECONDS,
          segmentDuration: SEGMENT_DURATION,
          keyPeriod: 2,
          clkTck: CLK_TCK,
          settings: bare.settings,
          bareCommand: `${ffmpegBin()} ${shown.map(quote).join(' ')}`,
        },
        goal: { overheadAtMost: GOAL_OVERHEAD },
        summary,
        verdicts,
        unequalLoadRounds: unequal,
        phases,
        split,
        runs,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults: ${file}`);
}

// No child outlives the bench.
const stopCurrent = () => {
  for (const child of running) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
};
process.on('exit', stopCurrent);
process.on('SIGINT', () => {
  stopCurrent();
  process.exit(130);
});

try {
  await main();
} catch (err) {
  console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
