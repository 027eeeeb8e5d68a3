/**
 * Per-frame summaries for colour mode, pure: mean colours of a coarse grid of cells, the mean colour of a
 * fixed rectangle, and the rhythm score that tells a watermark box (colour jumps that line up with the
 * symbol clock, flat in between) from picture content (changes at any phase).
 */
import type { Frame } from '../types.ts';

export interface Grid {
  cols: number;
  rows: number;
  cell: number;
  width: number;
  height: number;
}

export function gridFor(width: number, height: number, cell: number): Grid {
  return { cols: Math.floor(width / cell), rows: Math.floor(height / cell), cell, width, height };
}

/** Mean RGB of every cell, rounded into bytes: [cell0 r, g, b, cell1 r, ...], row-major. */
export function cellMeans(frame: Frame, grid: Grid): Uint8Array {
  const { cols, rows, cell } = grid;
  const out = new Uint8Array(cols * rows * 3);
  const sums = new Uint32Array(cols * 3);
  const stride = frame.width * 3;
  const d = frame.data;
  const n = cell * cell;
  for (let cy = 0; cy < rows; cy++) {
    sums.fill(0);
    for (let y = cy * cell; y < (cy + 1) * cell; y++) {
      let p = y * stride;
      for (let o = 0; o < cols * 3; o += 3) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let i = 0; i < cell; i++) {
          r += d[p]!;
          g += d[p + 1]!;
          b += d[p + 2]!;
          p += 3;
        }
        sums[o] = sums[o]! + r;
        sums[o + 1] = sums[o + 1]! + g;
        sums[o + 2] = sums[o + 2]! + b;
      }
    }
    // Rounded to the nearest (halves up), in integers: floor((2s + n) / 2n).
    const base = cy * cols * 3;
    for (let i = 0; i < cols * 3; i++) out[base + i] = Math.floor((2 * sums[i]! + n) / (2 * n));
  }
  return out;
}

/** A rectangle in pixels. */
export interface PxRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Mean RGB of a rectangle of the frame (clamped to it). */
export function rectMean(frame: Frame, r: PxRect): [number, number, number] {
  const x0 = Math.max(0, Math.floor(r.x));
  const y0 = Math.max(0, Math.floor(r.y));
  const x1 = Math.min(frame.width, Math.ceil(r.x + r.width));
  const y1 = Math.min(frame.height, Math.ceil(r.y + r.height));
  let red = 0;
  let green = 0;
  let blue = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    let p = (y * frame.width + x0) * 3;
    for (let x = x0; x < x1; x++) {
      red += frame.data[p]!;
      green += frame.data[p + 1]!;
      blue += frame.data[p + 2]!;
      p += 3;
      n++;
    }
  }
  return n === 0 ? [0, 0, 0] : [red / n, green / n, blue / n];
}

/** Jumps smaller than this (noise, compression) do not vote. */
const MIN_JUMP = 12;
/** Jumps are added in fixed point (1/1024), so that taking frames out again leaves exactly what adding left. */
const FIXED = 1024;

/**
 * The rhythm score of every cell over a window of frames, kept as the window moves: with `k` samples a
 * symbol, the colour jumps between consecutive samples are folded by their phase modulo k. A box puts
 * (nearly) all of its change into one or two neighbouring phases; content spreads it over all of them.
 * score = concentration (0 for an even spread, 1 for all change in two neighbouring phases) × mean jump
 * size. Moving the window forward costs one pass over the cells per frame that enters or leaves it.
 */
export class RhythmWindow {
  private readonly bins: Float64Array;
  private readonly cells: number;
  private readonly k: number;
  /** The jumps into frames [from, to) are in the bins. */
  private from = 1;
  private to = 1;

  constructor(cells: number, k: number) {
    this.cells = cells;
    this.k = k;
    this.bins = new Float64Array(cells * k);
  }

  /** The scores over frames [from, to) of `series` (each frame's cell means). */
  scores(series: readonly Uint8Array[], from: number, to: number): Float32Array {
    const lo = Math.max(from, 1);
    if (lo < this.from || lo > this.to || to < this.to) {
      this.bins.fill(0);
      this.from = lo;
      this.to = lo;
    }
    for (; this.to < to; this.to++) this.add(series, this.to, 1);
    for (; this.from < lo; this.from++) this.add(series, this.from, -1);
    return this.score(Math.max(1, to - lo));
  }

  /** Adds (sign 1) or takes out (-1) the jumps from frame n - 1 to frame n. */
  private add(series: readonly Uint8Array[], n: number, sign: 1 | -1): void {
    const a = series[n - 1]!;
    const b = series[n]!;
    const bins = this.bins;
    const cells = this.cells;
    const k = this.k;
    const phase = n % k;
    for (let c = 0, o = 0; c < cells; c++, o += 3) {
      const dr = b[o]! - a[o]!;
      const dg = b[o + 1]! - a[o + 1]!;
      const db = b[o + 2]! - a[o + 2]!;
      const j2 = dr * dr + dg * dg + db * db;
      if (j2 > MIN_JUMP * MIN_JUMP) {
        const i = c * k + phase;
        bins[i] = bins[i]! + sign * Math.round(Math.sqrt(j2) * FIXED);
      }
    }
  }

  private score(samples: number): Float32Array {
    const bins = this.bins;
    const cells = this.cells;
    const k = this.k;
    const out = new Float32Array(cells);
    const even = 2 / k;
    for (let c = 0; c < cells; c++) {
      let total = 0;
      let best = 0;
      for (let p = 0; p < k; p++) {
        const pair = bins[c * k + p]! + bins[c * k + ((p + 1) % k)]!;
        total += bins[c * k + p]!;
        if (pair > best) best = pair;
      }
      if (total <= 0) continue;
      const concentration = Math.max(0, (best / total - even) / (1 - even));
      out[c] = (concentration * concentration * (total / FIXED)) / samples;
    }
    return out;
  }
}
