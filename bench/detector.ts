/**
 * Leak detector benchmark (issue 12). See bench/README.md.
 *
 *   npm run bench:detector     BENCH_OFFSETS=5 BENCH_NEGATIVES=200 BENCH_ATTACKS=360p-300k,phone
 *
 * 1. Colour mode on recordings of the real player (test/support/player-recording.ts: headless Chromium, the
 *    plugin, a 20 s capture, plus a whole-page capture where the player is one element of the page) through
 *    every attack of the suite (packages/detector/test/support/attacks.ts): the seconds of footage the
 *    identification needed, counted from BENCH_OFFSETS different starting points of each clip (median and
 *    worst per attack), and the decoding speed of the whole pipeline (ffmpeg + colour reader) in multiples
 *    of real time, per wall second and per CPU second (ffmpeg's and this process').
 * 2. The same attacks on synthetic 40 s clips (testsrc2 with a box drawn at the tenant's box), one with
 *    Vigil's scheme and one with the seed's (16 colours with gradients, 1.5 s a symbol, 8 bits a character,
 *    no error correction: bench/detector-seed.ts), decoded in turn (Vigil, seed, Vigil, seed...).
 * 3. BENCH_NEGATIVES negative clips (unmarked colourful content of several kinds, random boxes with the
 *    symbol rhythm): any session found is a false accusation.
 * 4. Text mode (bench/detector-text.ts): the same figures over the same attacks on a text-mode recording
 *    of the player, and BENCH_NEGATIVES negative clips of its own (unmarked content, other tenants' ids).
 *    BENCH_MODES=color or BENCH_MODES=text runs one mode only.
 * Goals: at most 15 s of footage at 360p / 300 kbit/s, decoding at least 10x real time.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WATERMARK, type WatermarkConfig } from '@vigil/core';
import { ColorReader, colorFrames, frames, readColorMark } from '@vigil/detector';
import { encodeTag, paletteRgb, symbolAt } from '@vigil/watermark-codec';
import { rectMean } from '../packages/detector/src/color/grid.ts';
import {
  ATTACKS,
  type Attack,
  attacked,
  lavfiClip,
  randomRhythmClip,
} from '../packages/detector/test/support/attacks.ts';
import { playerRecording, type Recording } from '../test/support/player-recording.ts';
import { envNumber } from './common.ts';
import {
  SEED_SYMBOL_SECONDS,
  type SeedSample,
  seedBoxPixels,
  seedDecode,
  seedSequence,
} from './detector-seed.ts';
import { type TextRow, textAttacks, textNegatives } from './detector-text.ts';

const RESULTS_DIR = join(import.meta.dirname, 'results');
const OFFSETS = Math.max(1, Math.round(envNumber('BENCH_OFFSETS', 5)));
const NEGATIVES = Math.max(0, Math.round(envNumber('BENCH_NEGATIVES', 200)));
const ONLY = (process.env.BENCH_ATTACKS ?? '').split(',').filter(Boolean);
const MODES = (process.env.BENCH_MODES ?? 'color,text').split(',');
const GOAL_FOOTAGE_S = 15;
const GOAL_SPEED = 10;
const SYNTH_SECONDS = 40;
const SYNTH_SESSION = 'pirate-007';
const DECOYS = ['viewer-001', 'viewer-002', 'pirate-008', 'piraat-007'];
/** The tenant's box (the default: 2%, 2%, 4% x 6%) on a 640x360 picture. */
const BOX = { x: 13, y: 7, w: 26, h: 22 };

type Frame = Awaited<ReturnType<typeof collect>>[number];

async function collect(clip: string, symbolSeconds: number) {
  const out: { t: number; width: number; height: number; data: Uint8Array }[] = [];
  for await (const f of frames(clip, colorFrames(symbolSeconds))) out.push(f);
  return out;
}

async function* from(list: readonly Frame[], t0: number) {
  for (const f of list) if (f.t >= t0 - 1e-9) yield { ...f, t: f.t - t0 };
}

const median = (v: number[]) => {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
};
const worst = (v: number[]) =>
  v.some((x) => !Number.isFinite(x)) ? Number.POSITIVE_INFINITY : Math.max(...v);
const fmt = (s: number) => (Number.isFinite(s) ? `${s.toFixed(1)}` : 'miss');

/** Vigil: seconds of footage from `t0` until the right session, or Infinity. */
async function vigilFootage(
  list: readonly Frame[],
  t0: number,
  watermark: WatermarkConfig,
  tag: number,
  session: string,
) {
  const r = await readColorMark(from(list, t0), {
    watermark,
    tenantId: 'default',
    sessionsForTag: async (t) => (t === tag ? [session] : []),
  });
  if (r.found && r.sessionId !== session) throw new Error('a wrong session was identified');
  return r.found ? r.footageSeconds : Number.POSITIVE_INFINITY;
}

/** The seed's scheme: seconds of footage from `t0` until its decoder names the right session, or Infinity. */
function seedFootage(list: readonly Frame[], t0: number, candidates: readonly string[]) {
  const seedWatermark: WatermarkConfig = {
    ...DEFAULT_WATERMARK,
    mode: 'color',
    symbolSeconds: SEED_SYMBOL_SECONDS,
  };
  const reader = new ColorReader(seedWatermark);
  const kept: Frame[] = [];
  const every = Math.max(1, Math.round(reader.fps));
  for (const f of list) {
    if (f.t < t0 - 1e-9) continue;
    const g = { ...f, t: f.t - t0 };
    reader.push(g);
    kept.push(g);
    const seen = g.t + 1 / reader.fps;
    if (reader.frames % every !== 0 || seen < 20 * SEED_SYMBOL_SECONDS) continue;
    for (const c of reader.candidates(45)) {
      const r = c.rect;
      const q = { width: r.width / 2, height: r.height / 2 };
      const samples: SeedSample[] = kept.slice(c.firstFrame).map((k) => ({
        t: k.t * 1000,
        a: rectMean(k, {
          x: r.x + r.width * 0.1,
          y: r.y + r.height * 0.1,
          width: q.width * 0.8,
          height: q.height * 0.8,
        }),
        b: rectMean(k, {
          x: r.x + r.width * 0.5 + q.width * 0.1,
          y: r.y + r.height * 0.5 + q.height * 0.1,
          width: q.width * 0.8,
          height: q.height * 0.8,
        }),
      }));
      const id = seedDecode(samples, candidates);
      if (id && id !== SYNTH_SESSION) throw new Error('the seed decoder named a wrong session');
      if (id) return seen;
    }
  }
  return Number.POSITIVE_INFINITY;
}

/** testsrc2 with a box over it showing `scheme`'s sequence, made once. */
async function synthetic(scheme: 'vigil' | 'seed', tag: number): Promise<string> {
  const dir = join(tmpdir(), 'vigil-detector-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `synthetic-${scheme}-${SYNTH_SECONDS}s-v1.mp4`);
  if (existsSync(path)) return path;
  const fps = 25;
  const ff = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${fps}`],
      ...[
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${BOX.w}x${BOX.h}`,
        '-r',
        String(fps),
        '-i',
        'pipe:0',
      ],
      ...['-filter_complex', `[0:v][1:v]overlay=x=${BOX.x}:y=${BOX.y}:shortest=1,format=yuv420p`],
      ...[
        '-t',
        String(SYNTH_SECONDS),
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-crf',
        '18',
        `${path}.partial.mp4`,
      ],
    ],
    { stdio: ['pipe', 'inherit', 'inherit'] },
  );
  const seq = encodeTag(tag);
  const pal = paletteRgb();
  const seedSeq = seedSequence(SYNTH_SESSION);
  for (let n = 0; n < SYNTH_SECONDS * fps; n++) {
    const t = n / fps;
    let box: Buffer;
    if (scheme === 'vigil') {
      const c = pal[symbolAt(seq, t * 1000 + 3100, DEFAULT_WATERMARK.symbolSeconds)]!;
      box = Buffer.alloc(BOX.w * BOX.h * 3);
      for (let i = 0; i < BOX.w * BOX.h; i++) box.set(c, i * 3);
    } else {
      box = seedBoxPixels(seedSeq[Math.floor(t / SEED_SYMBOL_SECONDS + 3) % seedSeq.length]!, BOX.w, BOX.h);
    }
    if (!ff.stdin.write(box)) await new Promise((r) => ff.stdin.once('drain', r));
  }
  ff.stdin.end();
  const code = await new Promise((r) => ff.on('close', r));
  if (code !== 0) throw new Error(`ffmpeg failed to make the ${scheme} clip`);
  const { renameSync } = await import('node:fs');
  renameSync(`${path}.partial.mp4`, path);
  return path;
}

interface Row {
  attack: string;
  what: string;
  vigil: number[];
  speedWall: number;
  speedCpu: number;
  synthVigil: number[];
  synthSeed: number[];
}

async function speedOf(clip: string, rec: Recording) {
  let ffCpu = 0;
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const r = await readColorMark(
    frames(clip, {
      ...colorFrames(rec.watermark.symbolSeconds),
      onCpuSeconds: (s) => {
        ffCpu = s;
      },
    }),
    {
      watermark: rec.watermark,
      tenantId: 'default',
      sessionsForTag: async (t) => (t === rec.colorTag ? [rec.sessionId] : []),
    },
  );
  const wall = (performance.now() - w0) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpu = (c.user + c.system) / 1e6 + ffCpu;
  const footage = r.found ? r.footageSeconds : rec.seconds;
  return { wall: footage / wall, cpu: footage / cpu };
}

async function main() {
  const started = Date.now();
  console.log(
    `# detector benchmark: ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const offsets = Array.from({ length: OFFSETS }, (_, i) => (i * 5) / OFFSETS);
  const color = MODES.includes('color') ? await colorBench(offsets) : undefined;
  let text: { rows: TextRow[]; falseAccusations: number } | undefined;
  if (MODES.includes('text')) {
    const rows = await textAttacks(offsets, ONLY);
    const falseAccusations = await textNegatives(NEGATIVES);
    text = { rows, falseAccusations };
    console.log('\n| attack (text mode) | footage s, median / worst | speed x real time (wall / CPU) |');
    console.log('| --- | --- | --- |');
    for (const r of rows) {
      console.log(
        `| ${r.attack} | ${fmt(median(r.footage))} / ${fmt(worst(r.footage))} | ${r.speedWall.toFixed(1)} / ${r.speedCpu.toFixed(1)} |`,
      );
    }
    const within = rows.filter((r) => worst(r.footage) <= GOAL_FOOTAGE_S).length;
    console.log(
      `\ntext mode: the session from at most ${GOAL_FOOTAGE_S} s of footage from every start in ${within}/${rows.length} attacks; ` +
        `negatives: ${NEGATIVES} clips, ${falseAccusations} false accusations.`,
    );
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `detector-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { offsets, color, text, load: loadavg(), seconds: (Date.now() - started) / 1000 },
      null,
      2,
    ),
  );
  console.log(`# results in ${file}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Colour mode over the attack suite, the seed's scheme beside it, and the negatives. */
async function colorBench(offsets: number[]) {
  const rec = await playerRecording({ mode: 'color', sessionId: 'pirate-7', seconds: 20 });
  const page = await playerRecording({ mode: 'color', sessionId: 'pirate-7', seconds: 20, layout: 'page' });
  console.log(
    `# recordings: ${rec.captures} and ${page.captures} screenshots (median ${rec.medianCaptureMs} / ${page.medianCaptureMs} ms apart)`,
  );
  const synthTag = 0x5eed1234;
  const synthV = await synthetic('vigil', synthTag);
  const synthS = await synthetic('seed', 0);
  const attacks: (Attack & { source?: Recording })[] = [
    ...ATTACKS,
    {
      name: 'page-360p',
      what: 'a whole-page capture (player not the full frame), re-encoded 360p 300 kbit/s',
      args: ATTACKS[0]!.args,
      source: page,
    },
  ].filter((a) => ONLY.length === 0 || ONLY.includes(a.name));
  const rows: Row[] = [];
  const vigilSymbol = rec.watermark.symbolSeconds;
  const synthWatermark: WatermarkConfig = { ...DEFAULT_WATERMARK, mode: 'color' };
  for (const attack of attacks) {
    const source = attack.source ?? rec;
    const clip = attacked(source.path, attack);
    const speed = await speedOf(clip, source);
    const list = await collect(clip, vigilSymbol);
    const vigil: number[] = [];
    for (const t0 of offsets)
      vigil.push(await vigilFootage(list, t0, source.watermark, source.colorTag, source.sessionId));
    const row: Row = {
      attack: attack.name,
      what: attack.what,
      vigil,
      speedWall: speed.wall,
      speedCpu: speed.cpu,
      synthVigil: [],
      synthSeed: [],
    };
    if (!attack.source) {
      // The two schemes on the same synthetic content, in turn.
      const clipV = attacked(synthV, attack);
      const clipS = attacked(synthS, attack);
      const listV = await collect(clipV, vigilSymbol);
      const listS = await collect(clipS, SEED_SYMBOL_SECONDS);
      for (const t0 of offsets) {
        row.synthVigil.push(await vigilFootage(listV, t0, synthWatermark, synthTag, SYNTH_SESSION));
        row.synthSeed.push(seedFootage(listS, t0, [SYNTH_SESSION, ...DECOYS]));
      }
    }
    rows.push(row);
    console.log(
      `${attack.name.padEnd(15)} vigil median ${fmt(median(vigil))} s worst ${fmt(worst(vigil))} s · ${speed.wall.toFixed(1)}x wall ${speed.cpu.toFixed(1)}x cpu` +
        (row.synthSeed.length
          ? ` · synthetic: vigil ${fmt(median(row.synthVigil))}/${fmt(worst(row.synthVigil))} s, seed ${fmt(median(row.synthSeed))}/${fmt(worst(row.synthSeed))} s`
          : ''),
    );
  }

  // Negatives: nothing may be identified.
  let falseVigil = 0;
  let falseSeed = 0;
  const negWatermark: WatermarkConfig = { ...DEFAULT_WATERMARK, mode: 'color' };
  for (let i = 0; i < NEGATIVES; i++) {
    const kind = i % 4;
    const clip =
      kind === 0
        ? randomRhythmClip(1000 + i, 15)
        : kind === 1
          ? lavfiClip(
              `life-${i}`,
              `life=size=640x360:rate=25:seed=${i}:ratio=0.35:mold=${i % 20}:life_color=#${['ff3050', '30ff50', 'f0e020', '20a0f0'][i % 4]}`,
              15,
            )
          : kind === 2
            ? lavfiClip(`cellauto-${i}`, `cellauto=size=640x360:rate=25:rule=${(i * 7) % 256}:seed=${i}`, 15)
            : lavfiClip(
                `testsrc2-${i}`,
                `testsrc2=size=640x360:rate=25,hue=h=${(i * 37) % 360}:s=${1 + (i % 3) * 0.5}`,
                15,
              );
    const r = await readColorMark(frames(clip, colorFrames(negWatermark.symbolSeconds)), {
      watermark: negWatermark,
      tenantId: 'default',
      // Every tag maps to a session: only the codec's own checks stand between a clip and an accusation.
      sessionsForTag: async (t) => [`session-of-tag-${t}`],
    });
    if (r.found) falseVigil++;
    if (kind === 0) {
      const list = await collect(clip, SEED_SYMBOL_SECONDS);
      if (seedFootage(list, 0, [SYNTH_SESSION, ...DECOYS]) !== Number.POSITIVE_INFINITY) falseSeed++;
    }
    if ((i + 1) % 20 === 0)
      console.log(`# negatives: ${i + 1}/${NEGATIVES}, false accusations ${falseVigil}`);
  }

  const at360 = rows.find((r) => r.attack === '360p-300k');
  const speeds = rows.map((r) => r.speedCpu);
  console.log(
    '\n| attack | what | Vigil footage s, median / worst | speed x real time (wall / CPU) | synthetic Vigil median / worst | seed scheme median / worst |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.attack} | ${r.what} | ${fmt(median(r.vigil))} / ${fmt(worst(r.vigil))} | ${r.speedWall.toFixed(1)} / ${r.speedCpu.toFixed(1)} | ` +
        `${r.synthVigil.length ? `${fmt(median(r.synthVigil))} / ${fmt(worst(r.synthVigil))}` : '-'} | ` +
        `${r.synthSeed.length ? `${fmt(median(r.synthSeed))} / ${fmt(worst(r.synthSeed))}` : '-'} |`,
    );
  }
  const identifiedAll = rows.filter((r) => Number.isFinite(worst(r.vigil))).length;
  const seedAll = rows.filter((r) => r.synthSeed.length && Number.isFinite(worst(r.synthSeed))).length;
  console.log(
    `\nVigil identified the session in every start of ${identifiedAll}/${rows.length} attacks; the seed scheme in ${seedAll}/${rows.filter((r) => r.synthSeed.length).length}.`,
  );
  console.log(
    `negatives: ${NEGATIVES} clips, ${falseVigil} false accusations by Vigil's decoder; seed decoder ${falseSeed} on the ${Math.ceil(NEGATIVES / 4)} rhythm-box clips.`,
  );
  if (at360) {
    const ok = worst(at360.vigil) <= GOAL_FOOTAGE_S;
    console.log(
      `goal footage at 360p/300k <= ${GOAL_FOOTAGE_S} s: worst ${fmt(worst(at360.vigil))} s ${ok ? 'MET' : 'MISSED'}`,
    );
  }
  const slowest = Math.min(...speeds);
  console.log(
    `goal speed >= ${GOAL_SPEED}x real time per CPU second: median ${median(speeds).toFixed(1)}x, slowest ${slowest.toFixed(1)}x ${median(speeds) >= GOAL_SPEED ? 'MET (median)' : 'MISSED'}`,
  );
  return { rows, negatives: { count: NEGATIVES, falseVigil, falseSeed } };
}

await main();
