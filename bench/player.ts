/**
 * Player benchmark: what the Vigil video.js plugin costs in headless Chromium, against plain video.js
 * playing the same clip packaged clear. See bench/README.md.
 *
 *   npm run bench:player             BENCH_ROUNDS=5 BENCH_CPU_SECONDS=20 BENCH_CPU_ROUNDS=3
 *
 * 1. Start-up: from `player.src()` to the first frame presented (`requestVideoFrameCallback`), the plugin
 *    on the CENC DASH (EME and the license round trip included) against plain video.js on the clear DASH,
 *    interleaved A B A B after one unrecorded pair. Goal: the plugin's median under 1 s.
 * 2. CPU while playing: Chromium's CPU time (SystemInfo.getProcessInfo: renderer, GPU, browser and
 *    utility processes) and the page's main-thread task and script time (Performance.getMetrics) over
 *    BENCH_CPU_SECONDS of playback, per second of media played, for plain video.js (clear) and the plugin
 *    (CENC) with the watermark off, in text mode and in colour mode, interleaved.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { CDPSession } from 'playwright-core';
import { openPlayerPage, type PlayerPage } from '../test/support/browser.ts';
import { type PlayerRig, startPlayerRig } from '../test/support/player-rig.ts';
import { envNumber } from './common.ts';

const RESULTS_DIR = join(import.meta.dirname, 'results');

const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 5));
const CPU_SECONDS = envNumber('BENCH_CPU_SECONDS', 20);
const CPU_ROUNDS = Math.round(envNumber('BENCH_CPU_ROUNDS', 3));
/** Long enough that playback at 1× does not end within a CPU window started after 1 s of media. */
const CLIP_SECONDS = Math.ceil(CPU_SECONDS + 6);
const GOAL_FIRST_FRAME_MS = 1000;
const START_TIMEOUT_MS = 120_000;
const RESOURCE = 'bench-player-clip';

type Variant = 'plain' | 'off' | 'text' | 'color';
const LABEL: Record<Variant, string> = {
  plain: 'video.js, clear, no plugin',
  off: 'plugin, CENC, mark off',
  text: 'plugin, CENC, text mark',
  color: 'plugin, CENC, colour mark',
};
const WATERMARK: Record<Exclude<Variant, 'plain'>, Record<string, unknown>> = {
  off: { enabled: false },
  text: { enabled: true, mode: 'text' },
  color: { enabled: true, mode: 'color' },
};

// ---------------------------------------------------------------------------------------------------

interface Started {
  player: PlayerPage;
  /** ms from player.src() to the first presented frame, and how it was seen. */
  firstFrameMs: number;
  how: string;
}

/**
 * Opens a page and starts video.js on `manifest`, with the plugin (and a viewer token) or without;
 * resolves at the first frame presented.
 */
async function start(rig: PlayerRig, variant: Variant, sessionId: string): Promise<Started> {
  const plugin = variant !== 'plain';
  if (plugin) await rig.setWatermark(WATERMARK[variant]);
  const player = await openPlayerPage(rig.browser, rig.statics, 'videojs', rig.server.url);
  try {
    const opts = {
      manifestUrl: `${rig.statics.mediaUrl}/${plugin ? 'cenc' : 'clear'}/manifest.mpd`,
      server: rig.server.url,
      token: plugin ? await rig.token(sessionId) : '',
      plugin,
      timeoutMs: START_TIMEOUT_MS,
    };
    const result = await player.page.evaluate(
      (o) =>
        new Promise<{ ms: number; how: string }>((resolve, reject) => {
          // biome-ignore lint/suspicious/noExplicitAny: the page's video.js is untyped here.
          const w = window as any;
          const p = w.videojs('video', { html5: { vhs: { overrideNative: true } }, muted: true });
          w.player = p;
          if (o.plugin) p.vigil({ server: o.server, token: o.token });
          const video = p.tech(true).el() as HTMLVideoElement;
          let t0 = 0;
          const timer = setTimeout(() => reject(new Error('no frame in time')), o.timeoutMs);
          const done = (how: string) => {
            clearTimeout(timer);
            resolve({ ms: performance.now() - t0, how });
          };
          p.on('error', () => {
            clearTimeout(timer);
            reject(new Error(`player error: ${JSON.stringify(p.error())}`));
          });
          if (typeof video.requestVideoFrameCallback === 'function') {
            video.requestVideoFrameCallback(() => done('requestVideoFrameCallback'));
          } else {
            const onTime = () => {
              if (video.currentTime > 0) {
                video.removeEventListener('timeupdate', onTime);
                done('timeupdate');
              }
            };
            video.addEventListener('timeupdate', onTime);
          }
          t0 = performance.now();
          p.src({ src: o.manifestUrl, type: 'application/dash+xml' });
          const played = p.play();
          if (played && typeof played.catch === 'function') played.catch(() => {});
        }),
      opts,
    );
    return { player, firstFrameMs: result.ms, how: result.how };
  } catch (err) {
    const diagnostics = await player.diagnostics().catch(() => '');
    await player.close();
    throw new Error(`${LABEL[variant]}: ${(err as Error).message}\n${diagnostics}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------
// CPU

interface ProcessCpu {
  type: string;
  id: number;
  cpuTime: number;
}

/** Cumulative CPU seconds of every Chromium process. */
async function processCpu(cdp: CDPSession): Promise<ProcessCpu[]> {
  const info = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: ProcessCpu[] };
  return info.processInfo;
}

/** CPU seconds per process type between two snapshots (processes present in both). */
function cpuByType(before: ProcessCpu[], after: ProcessCpu[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of after) {
    const b = before.find((p) => p.id === a.id);
    if (!b) continue;
    out[a.type] = (out[a.type] ?? 0) + Math.max(0, a.cpuTime - b.cpuTime);
  }
  return out;
}

async function pageMetrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as {
    metrics: { name: string; value: number }[];
  };
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

interface CpuRun {
  variant: Variant;
  round: number;
  wallSeconds: number;
  mediaSeconds: number;
  /** CPU seconds by Chromium process type over the window. */
  cpu: Record<string, number>;
  /** Page main thread: all tasks, and script, seconds. */
  taskSeconds: number;
  scriptSeconds: number;
  droppedFrames: number;
  totalFrames: number;
}

interface MediaState {
  t: number;
  dropped: number;
  total: number;
  paused: boolean;
}

const mediaState = (player: PlayerPage): Promise<MediaState> =>
  player.page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: the page's video.js is untyped here.
    const video = (window as any).player.tech(true).el() as HTMLVideoElement;
    const q = video.getVideoPlaybackQuality();
    return {
      t: video.currentTime,
      dropped: q.droppedVideoFrames,
      total: q.totalVideoFrames,
      paused: video.paused,
    };
  });

async function cpuRun(
  rig: PlayerRig,
  browserCdp: CDPSession,
  variant: Variant,
  round: number,
): Promise<CpuRun> {
  const { player } = await start(rig, variant, `bench-cpu-${variant}-${round}`);
  try {
    // Past the start-up (first license, first segments) before measuring.
    const deadline = Date.now() + START_TIMEOUT_MS;
    while ((await mediaState(player)).t < 1) {
      if (Date.now() > deadline) throw new Error(`${LABEL[variant]}: playback did not reach 1 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cdp = await player.page.context().newCDPSession(player.page);
    await cdp.send('Performance.enable');
    const m0 = await pageMetrics(cdp);
    const p0 = await processCpu(browserCdp);
    const s0 = await mediaState(player);
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
    const s1 = await mediaState(player);
    const w1 = performance.now();
    const p1 = await processCpu(browserCdp);
    const m1 = await pageMetrics(cdp);
    if (s1.paused) throw new Error(`${LABEL[variant]}: playback paused or ended within the window`);
    if (variant !== 'plain') {
      const mode = await player.page.evaluate(() => {
        // biome-ignore lint/suspicious/noExplicitAny: the page's video.js is untyped here.
        const d = (window as any).player.vigil.debug();
        return d.enabled ? d.mode : 'off';
      });
      if (mode !== variant) throw new Error(`${LABEL[variant]}: the mark was ${mode}`);
    }
    return {
      variant,
      round,
      wallSeconds: (w1 - w0) / 1000,
      mediaSeconds: s1.t - s0.t,
      cpu: cpuByType(p0, p1),
      taskSeconds: (m1.TaskDuration ?? 0) - (m0.TaskDuration ?? 0),
      scriptSeconds: (m1.ScriptDuration ?? 0) - (m0.ScriptDuration ?? 0),
      droppedFrames: s1.dropped - s0.dropped,
      totalFrames: s1.total - s0.total,
    };
  } finally {
    await player.close();
  }
}

// ---------------------------------------------------------------------------------------------------

function quantile(values: number[], q: number): number {
  const s = values.slice().sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
const median = (values: number[]) => quantile(values, 0.5);

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells
    .map((r, k) =>
      r.map((c, i) => (i === 0 || k === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
    )
    .join('\n');
}

async function main(): Promise<void> {
  console.log(
    `player bench: ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}; ${ROUNDS} start-up rounds, ${CPU_ROUNDS} CPU rounds of ${CPU_SECONDS} s, ${CLIP_SECONDS} s clip`,
  );
  const setupStarted = performance.now();
  const rig = await startPlayerRig({
    prefix: 'vigil-bench-player-',
    resourceId: RESOURCE,
    clipSeconds: CLIP_SECONDS,
    segmentDuration: 2,
    keyPeriod: 5,
    clear: true,
  });
  console.log(
    `setup (server, browser, two packages): ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`,
  );
  try {
    // 1. Start-up, interleaved, after one unrecorded pair.
    await rig.setWatermark({ heartbeatSeconds: 15, symbolSeconds: 0.5 });
    const firstFrame: Record<'plugin' | 'plain', number[]> = { plugin: [], plain: [] };
    const hows = new Set<string>();
    console.log('\n1. player.src() to the first frame presented');
    for (let round = 0; round <= ROUNDS; round++) {
      for (const variant of ['text', 'plain'] as const) {
        const s = await start(rig, variant, `bench-start-${round}`);
        await s.player.close();
        hows.add(s.how);
        const key = variant === 'plain' ? 'plain' : 'plugin';
        if (round > 0) firstFrame[key].push(s.firstFrameMs);
        console.log(
          `  ${round === 0 ? 'warm-up' : `round ${round}`}  ${(variant === 'plain' ? LABEL.plain : 'plugin, CENC').padEnd(26)} ${s.firstFrameMs.toFixed(0).padStart(6)} ms`,
        );
      }
    }
    const ms = (v: number) => v.toFixed(0);
    console.log(`  (first frame seen by ${[...hows].join(', ')})\n`);
    console.log(
      table(
        ['first frame, ms', 'median', 'p90', 'min', 'max'],
        (['plugin', 'plain'] as const).map((k) => [
          k === 'plugin' ? 'plugin, CENC' : LABEL.plain,
          ms(median(firstFrame[k])),
          ms(quantile(firstFrame[k], 0.9)),
          ms(Math.min(...firstFrame[k])),
          ms(Math.max(...firstFrame[k])),
        ]),
      ),
    );
    const pluginMedian = median(firstFrame.plugin);
    const plainMedian = median(firstFrame.plain);
    const paired = firstFrame.plugin.map((v, i) => v - firstFrame.plain[i]!);
    console.log(
      `  plugin − plain: median of paired differences ${ms(median(paired))} ms; ` +
        `goal plugin median < ${GOAL_FIRST_FRAME_MS} ms: ${pluginMedian < GOAL_FIRST_FRAME_MS ? 'MET' : 'MISSED'} ` +
        `(${ms(pluginMedian)} ms; plain ${ms(plainMedian)} ms)`,
    );

    // 2. CPU while playing, interleaved.
    console.log(`\n2. CPU while playing (${CPU_SECONDS} s windows)`);
    const browserCdp = await rig.browser.newBrowserCDPSession();
    const runs: CpuRun[] = [];
    const variants: Variant[] = ['plain', 'off', 'text', 'color'];
    for (let round = 1; round <= CPU_ROUNDS; round++) {
      for (const variant of variants) {
        const run = await cpuRun(rig, browserCdp, variant, round);
        runs.push(run);
        const all = Object.values(run.cpu).reduce((a, b) => a + b, 0);
        console.log(
          `  round ${round}  ${LABEL[variant].padEnd(26)} media ${run.mediaSeconds.toFixed(1)} s in ${run.wallSeconds.toFixed(1)} s, ` +
            `renderer ${(run.cpu.renderer ?? 0).toFixed(2)} s, all ${all.toFixed(2)} s CPU, ` +
            `${run.droppedFrames}/${run.totalFrames} frames dropped`,
        );
      }
    }
    await browserCdp.detach();
    const perMedia = (r: CpuRun, v: number) => v / r.mediaSeconds;
    const stat = (variant: Variant, pick: (r: CpuRun) => number) =>
      median(runs.filter((r) => r.variant === variant).map((r) => perMedia(r, pick(r))));
    const renderer = (r: CpuRun) => r.cpu.renderer ?? 0;
    const rendererRange = (variant: Variant) => {
      const values = runs.filter((r) => r.variant === variant).map((r) => perMedia(r, renderer(r)));
      return `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`;
    };
    const gpu = (r: CpuRun) => r.cpu.GPU ?? r.cpu.gpu ?? 0;
    const all = (r: CpuRun) => Object.values(r.cpu).reduce((a, b) => a + b, 0);
    const summary = Object.fromEntries(
      variants.map((v) => [
        v,
        {
          renderer: stat(v, renderer),
          gpu: stat(v, gpu),
          all: stat(v, all),
          task: stat(v, (r) => r.taskSeconds),
          script: stat(v, (r) => r.scriptSeconds),
        },
      ]),
    ) as Record<Variant, Record<'renderer' | 'gpu' | 'all' | 'task' | 'script', number>>;
    const f3 = (v: number) => v.toFixed(3);
    const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
    console.log(`\n  CPU-seconds per media second (medians over ${CPU_ROUNDS} rounds)\n`);
    console.log(
      table(
        [
          '',
          'renderer',
          'range',
          'Δ renderer',
          'GPU proc',
          'all Chromium',
          'Δ all',
          'main task',
          'script',
          'Δ script',
        ],
        variants.map((v) => {
          const s = summary[v];
          const base = summary.plain;
          return [
            LABEL[v],
            f3(s.renderer),
            rendererRange(v),
            v === 'plain' ? '' : signed(s.renderer - base.renderer),
            f3(s.gpu),
            f3(s.all),
            v === 'plain' ? '' : signed(s.all - base.all),
            f3(s.task),
            f3(s.script),
            v === 'plain' ? '' : signed(s.script - base.script),
          ];
        }),
      ),
    );
    console.log(
      '\n  Δ: against plain video.js on the clear package (so the plugin rows include ClearKey decryption);' +
        `\n  text − off ${signed(summary.text.renderer - summary.off.renderer)}, colour − off ` +
        `${signed(summary.color.renderer - summary.off.renderer)} renderer CPU-s per media s.`,
    );

    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `player-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          settings: { ROUNDS, CPU_SECONDS, CPU_ROUNDS, CLIP_SECONDS, cpus: cpus().length },
          firstFrame,
          firstFrameSummary: {
            plugin: { median: pluginMedian, p90: quantile(firstFrame.plugin, 0.9) },
            plain: { median: plainMedian, p90: quantile(firstFrame.plain, 0.9) },
            goalMs: GOAL_FIRST_FRAME_MS,
            met: pluginMedian < GOAL_FIRST_FRAME_MS,
          },
          cpuRuns: runs,
          cpuSummary: summary,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nresults: ${file}`);
  } finally {
    await rig.close();
  }
}

await main();
