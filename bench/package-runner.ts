/**
 * Child process of bench/package-pipeline.ts: one `packageMedia` run (cenc, ephemeral keys), then one JSON
 * line on stdout with the progress events, each stamped with the wall clock and the CPU time so far of
 * this process and of its reaped children (the pipeline's ffprobe/ffmpeg runs).
 *
 *   node --import tsx bench/package-runner.ts <input> <out> [<workDir>]
 *
 * `workDir` is for the bench's check that it runs the same ffmpeg command as the pipeline (the pipeline
 * then keeps its transcode.json); measured runs leave it out, as `vigil package` does.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ephemeralKeySource, type PackagePhase, packageMedia } from '../packages/packager/src/index.ts';

/** Here: the imports are loaded (node, tsx and the packager's modules). */
const readyAt = performance.timeOrigin + performance.now();
const CLK_TCK = Number(process.env.BENCH_CLK_TCK) || 100;

/** User + system CPU seconds of the reaped children (cutime + cstime of /proc/self/stat). */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

function selfCpu(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

interface Mark {
  phase: PackagePhase | 'ready' | 'returned';
  percent: number;
  /** Epoch milliseconds. */
  at: number;
  selfCpu: number;
  childCpu: number;
}

const [input, out, workDir] = process.argv.slice(2);
if (!input || !out) throw new Error('usage: package-runner.ts <input> <out> [<workDir>]');

const marks: Mark[] = [];
const mark = (phase: Mark['phase'], percent: number) =>
  marks.push({
    phase,
    percent,
    at: performance.timeOrigin + performance.now(),
    selfCpu: selfCpu(),
    childCpu: childrenCpu(),
  });
marks.push({ phase: 'ready', percent: 0, at: readyAt, selfCpu: selfCpu(), childCpu: childrenCpu() });

const summary = await packageMedia(
  {
    input,
    out,
    resourceId: 'bench-resource',
    scheme: 'cenc',
    keys: ephemeralKeySource(),
    segmentDuration: 4,
    keyPeriod: 2,
    ...(workDir ? { workDir } : {}),
  },
  { onProgress: (p) => mark(p.phase, p.percent) },
);
mark('returned', 100);

const segments = summary.layout.tracks.map((t) => ({
  id: t.id,
  segments: t.periods.reduce((n, p) => n + p.segments.length, 0),
}));
process.stdout.write(
  `${JSON.stringify({
    startedAt: performance.timeOrigin,
    elapsedMs: summary.elapsedMs,
    keys: summary.keys.length,
    periods: summary.layout.periods.length,
    tracks: segments,
    marks,
  })}\n`,
);
