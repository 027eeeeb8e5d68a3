/**
 * Colour mode: frames -> the box's colour samples -> the codec's tag -> the session.
 *
 * Two ways to find the box, tried on the footage read so far, about once a second of it:
 *  1. where the tenant's configured geometry puts it, with the picture filling the frame;
 *  2. anywhere: a coarse grid of cells is scored by how much of its colour change falls on one phase of
 *     the symbol clock (a box's colour jumps once a symbol and holds; content changes at any phase), and
 *     the best-scoring clusters of cells are decoded. That survives scaling, cropping, letter/pillarboxing,
 *     mirroring, a player inside a larger frame and a phone filming a screen.
 * A decode counts only when the codec's checks pass (Reed-Solomon with spare parity and the tag's zero
 * bits); its false-match probability is multiplied by the number of decodes tried (a union bound).
 */
import type { WatermarkConfig } from '@vigil/core';
import {
  type CodecParams,
  type ColourSample,
  DEFAULT_CODEC,
  type DecodeResult,
  decodeSamples,
  layoutOf,
} from '@vigil/watermark-codec';
import { writeCrop } from '../evidence.ts';
import type { DetectResult, Evidence, Frame } from '../types.ts';
import { cellMeans, type Grid, gridFor, type PxRect, RhythmWindow, rectMean } from './grid.ts';

/** Samples a symbol the colour reader asks for. */
export const SAMPLES_PER_SYMBOL = 4;
/** Width frames are scaled to for colour mode. */
export const COLOR_WIDTH = 384;
const CELL = 3;
/** Cells the region search starts clusters from, at most. */
const SEEDS = 50;

export function colorFps(symbolSeconds: number): number {
  return SAMPLES_PER_SYMBOL / symbolSeconds;
}

/** The frames colour mode asks the input layer for: its rate and width, decoded the quick way. */
export function colorFrames(symbolSeconds: number): { fps: number; width: number; quick: true } {
  return { fps: colorFps(symbolSeconds), width: COLOR_WIDTH, quick: true };
}

export interface ColorReadOptions {
  watermark: WatermarkConfig;
  sessionsForTag(tag: number): Promise<string[]>;
  tenantId: string;
  evidenceDir?: string;
  signal?: AbortSignal;
  maxSeconds?: number;
  onProgress?(footageSeconds: number): void;
  /** The codec design (the default one, or another for the benchmark's baseline). */
  params?: CodecParams;
  /** Decode attempts start after this many seconds of footage (default: the least the codec can use). */
  minSeconds?: number;
}

export interface ColorHit {
  decode: DecodeResult;
  region: PxRect;
  /** Decodes tried so far. */
  attempts: number;
  /** Index of the last frame used. */
  lastFrame: number;
  firstFrame: number;
}

/** The configured box in pixels of a frame of `width` x `height`, or null for pixel-sized boxes. */
export function configuredBox(w: WatermarkConfig, width: number, height: number): PxRect | null {
  const b = w.box;
  if (b.sizeUnit === 'px') return null;
  return {
    x: (b.x / 100) * width,
    y: (b.y / 100) * height,
    width: (b.width / 100) * width,
    height: (b.height / 100) * height,
  };
}

/** The inner part of a rectangle (a quarter of each side off). */
const inner = (r: PxRect): PxRect => ({
  x: r.x + r.width / 4,
  y: r.y + r.height / 4,
  width: r.width / 2,
  height: r.height / 2,
});

/**
 * Incremental colour reader over a sequence of frames; `push` each frame, `attempt` to decode. Pure apart
 * from the evidence files.
 */
export class ColorReader {
  readonly fps: number;
  private readonly k: number;
  private grid: Grid | null = null;
  private rhythm: RhythmWindow | null = null;
  private readonly series: Uint8Array[] = [];
  private readonly fixed: ColourSample[] = [];
  private readonly times: number[] = [];
  /** One frame a second, for evidence. */
  private readonly keep = new Map<number, Frame>();
  attempts = 0;

  constructor(
    private readonly watermark: WatermarkConfig,
    private readonly params: CodecParams = DEFAULT_CODEC,
  ) {
    this.k = SAMPLES_PER_SYMBOL;
    this.fps = colorFps(watermark.symbolSeconds);
  }

  get frames(): number {
    return this.series.length;
  }

  push(frame: Frame): void {
    if (!this.grid || this.grid.width !== frame.width || this.grid.height !== frame.height) {
      if (this.grid) this.reset();
      this.grid = gridFor(frame.width, frame.height, CELL);
      this.rhythm = new RhythmWindow(this.grid.cols * this.grid.rows, this.k);
    }
    const n = this.series.length;
    this.series.push(cellMeans(frame, this.grid));
    this.times.push(frame.t);
    const box = configuredBox(this.watermark, frame.width, frame.height);
    if (box) this.fixed.push({ t: frame.t * 1000, rgb: rectMean(frame, inner(box)) });
    if (n % Math.max(1, Math.round(this.fps)) === 0) this.keep.set(n, frame);
  }

  private reset(): void {
    // A resolution change (an HLS variant switch): start over on the new geometry.
    this.series.length = 0;
    this.fixed.length = 0;
    this.times.length = 0;
    this.keep.clear();
  }

  private decode(samples: readonly ColourSample[]): DecodeResult | null {
    this.attempts++;
    return decodeSamples(samples, { symbolSeconds: this.watermark.symbolSeconds, params: this.params });
  }

  /**
   * The candidate boxes (lazily) over the last `windowSeconds` of footage and their colour samples: the configured
   * geometry first (when it is in percent), then up to three clusters of the rhythm search, best first.
   */
  candidates(windowSeconds = 30): { rect: PxRect; samples: ColourSample[]; firstFrame: number }[] {
    const grid = this.grid;
    const to = this.series.length;
    if (!grid || to < 8) return [];
    const from = Math.max(0, to - Math.round(windowSeconds * this.fps));
    const out: { rect: PxRect; samples: ColourSample[]; firstFrame: number }[] = [];
    if (this.fixed.length === to) {
      out.push({
        rect: configuredBox(this.watermark, grid.width, grid.height)!,
        samples: this.fixed.slice(from),
        firstFrame: from,
      });
    }
    for (const region of this.regions(from, to)) {
      const samples: ColourSample[] = [];
      for (let n = from; n < to; n++)
        samples.push({ t: this.times[n]! * 1000, rgb: this.meanOf(region.cells, n) });
      out.push({ rect: region.rect, samples, firstFrame: from });
    }
    return out;
  }

  /** Tries the configured geometry, then the rhythm search; the first decode that passes, or null. */
  attempt(windowSeconds = 30): ColorHit | null {
    const to = this.series.length;
    for (const c of this.candidates(windowSeconds)) {
      const d = this.decode(c.samples);
      if (d)
        return {
          decode: d,
          region: c.rect,
          attempts: this.attempts,
          lastFrame: to - 1,
          firstFrame: c.firstFrame,
        };
    }
    return null;
  }

  private meanOf(cells: readonly number[], n: number): [number, number, number] {
    const s = this.series[n]!;
    let r = 0;
    let g = 0;
    let b = 0;
    for (const c of cells) {
      r += s[c * 3]!;
      g += s[c * 3 + 1]!;
      b += s[c * 3 + 2]!;
    }
    return [r / cells.length, g / cells.length, b / cells.length];
  }

  /** Up to three candidate boxes: clusters of cells with a strong symbol rhythm, best first. */
  private regions(from: number, to: number): { cells: number[]; rect: PxRect }[] {
    const grid = this.grid!;
    const count = grid.cols * grid.rows;
    const scores = this.rhythm!.scores(this.series, from, to);
    const order = topCells(scores, SEEDS);
    const taken = new Uint8Array(count);
    const out: { cells: number[]; rect: PxRect }[] = [];
    for (const seed of order) {
      if (out.length >= 3) break;
      if (taken[seed]) continue;
      const best = scores[seed]!;
      if (best < 2) break; // too little rhythmic change anywhere
      // Flood fill over neighbours scoring at least half the seed's, bounded.
      const cluster: number[] = [];
      const queue = [seed];
      taken[seed] = 1;
      while (queue.length && cluster.length < 2000) {
        const c = queue.pop()!;
        cluster.push(c);
        const cx = c % grid.cols;
        const cy = Math.floor(c / grid.cols);
        for (const [dx, dy] of [
          [1, 0],
          [-1, 0],
          [0, 1],
          [0, -1],
        ] as const) {
          const x = cx + dx;
          const y = cy + dy;
          if (x < 0 || y < 0 || x >= grid.cols || y >= grid.rows) continue;
          const j = y * grid.cols + x;
          if (!taken[j] && scores[j]! >= 0.5 * best) {
            taken[j] = 1;
            queue.push(j);
          }
        }
      }
      // The box's inside: the cells scoring at least 0.7 of the seed's (edges mix in the background).
      const core = cluster.filter((c) => scores[c]! >= 0.7 * best);
      const xs = cluster.map((c) => c % grid.cols);
      const ys = cluster.map((c) => Math.floor(c / grid.cols));
      const rect = {
        x: Math.min(...xs) * grid.cell,
        y: Math.min(...ys) * grid.cell,
        width: (Math.max(...xs) - Math.min(...xs) + 1) * grid.cell,
        height: (Math.max(...ys) - Math.min(...ys) + 1) * grid.cell,
      };
      out.push({ cells: core.length ? core : [seed], rect });
    }
    return out;
  }

  /** Evidence: up to three kept frames inside the decoded window, cropped around the region. */
  evidence(dir: string, hit: ColorHit): Evidence[] {
    const frames = [...this.keep.entries()]
      .filter(([n]) => n >= hit.firstFrame && n <= hit.lastFrame)
      .map(([, f]) => f);
    if (frames.length === 0) return [];
    const picks = [...new Set([0, Math.floor(frames.length / 2), frames.length - 1])].map((i) => frames[i]!);
    return picks.map((f, i) => writeCrop(dir, `color-${i + 1}-${f.t.toFixed(2)}s.png`, f, hit.region));
  }
}

/** The `n` best-scoring cells (score > 0), best first; ties in cell order (as a stable sort would give). */
function topCells(scores: Float32Array, n: number): number[] {
  const top: number[] = [];
  for (let c = 0; c < scores.length; c++) {
    const s = scores[c]!;
    if (!(s > 0) || (top.length === n && s <= scores[top[n - 1]!]!)) continue;
    let i = top.length;
    while (i > 0 && scores[top[i - 1]!]! < s) i--;
    top.splice(i, 0, c);
    if (top.length > n) top.pop();
  }
  return top;
}

/** The false-match probability of a hit, with every decode tried counted (a union bound), at most 1. */
export function hitProbability(hit: ColorHit): number {
  return Math.min(1, hit.decode.falseMatchProbability * Math.max(1, hit.attempts));
}

/** The least footage (s) worth a decode attempt: the data symbols the codec cannot do without. */
export function minColorSeconds(symbolSeconds: number, params: CodecParams = DEFAULT_CODEC): number {
  const l = layoutOf(params);
  return (l.dataLength - l.params.maxErasures * l.coloursPerSymbol) * symbolSeconds;
}

/** Reads frames until a decode passes and maps to exactly one session, or the frames end. */
export async function readColorMark(
  frames: AsyncIterable<Frame>,
  opts: ColorReadOptions,
): Promise<DetectResult> {
  const reader = new ColorReader(opts.watermark, opts.params);
  const minSeconds = opts.minSeconds ?? minColorSeconds(opts.watermark.symbolSeconds, opts.params);
  const every = Math.max(1, Math.round(reader.fps)); // one attempt a second of footage
  let seen = 0;
  for await (const frame of frames) {
    if (opts.signal?.aborted) return { found: false, reason: 'aborted' };
    if (opts.maxSeconds !== undefined && frame.t > opts.maxSeconds) break;
    reader.push(frame);
    seen = frame.t + 1 / reader.fps;
    if (reader.frames % every !== 0 || seen < minSeconds) continue;
    opts.onProgress?.(seen);
    const hit = reader.attempt();
    if (!hit) continue;
    // A valid tag that names no single session is the answer too: further footage shows the same tag.
    return conclude(reader, hit, opts, seen);
  }
  if (seen === 0) return { found: false, reason: 'no frames' };
  const last = seen >= minSeconds && reader.frames % every !== 0 ? reader.attempt() : null;
  if (last) return conclude(reader, last, opts, seen);
  return {
    found: false,
    reason:
      seen < minSeconds
        ? `the clip is too short for colour mode (${seen.toFixed(1)} s, at least ${minSeconds.toFixed(1)} s needed)`
        : `no colour mark decoded in ${seen.toFixed(1)} s of footage`,
  };
}

async function conclude(
  reader: ColorReader,
  hit: ColorHit,
  opts: ColorReadOptions,
  footage: number,
): Promise<DetectResult> {
  const sessions = [...new Set(await opts.sessionsForTag(hit.decode.tag))];
  if (sessions.length === 0) {
    return {
      found: false,
      reason: `a colour mark decoded (tag ${hit.decode.tag}) but no session of this tenant showed it`,
    };
  }
  if (sessions.length > 1) {
    return { found: false, reason: `a colour mark decoded but its tag maps to ${sessions.length} sessions` };
  }
  const p = hitProbability(hit);
  return {
    found: true,
    sessionId: sessions[0]!,
    tenant: opts.tenantId,
    mode: 'color',
    confidence: 1 - p,
    falseMatchProbability: p,
    footageSeconds: Math.round(footage * 100) / 100,
    evidence: opts.evidenceDir ? reader.evidence(opts.evidenceDir, hit) : [],
  };
}
