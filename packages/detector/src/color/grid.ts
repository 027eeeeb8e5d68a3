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
  const sums = new Float64Array(cols * rows * 3);
  const w = frame.width;
  const d = frame.data;
  for (let y = 0; y < rows * cell; y++) {
    const rowBase = Math.floor(y / cell) * cols;
    let p = y * w * 3;
    for (let cx = 0; cx < cols; cx++) {
      const o = (rowBase + cx) * 3;
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
  const out = new Uint8Array(sums.length);
  const n = cell * cell;
  for (let i = 0; i < sums.length; i++) out[i] = Math.round(sums[i]! / n);
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

/**
 * The rhythm score of every cell over frames [from, to): with `k` samples a symbol, the colour jumps
 * between consecutive samples are folded by their phase modulo k. A box puts (nearly) all of its change
 * into one or two neighbouring phases; content spreads it over all of them. score = concentration (0 for
 * an even spread, 1 for all change in two neighbouring phases) × mean jump size.
 */
export function rhythmScores(
  series: readonly Uint8Array[],
  cells: number,
  k: number,
  from: number,
  to: number,
): Float32Array {
  const bins = new Float64Array(cells * k);
  for (let n = Math.max(from, 1); n < to; n++) {
    const a = series[n - 1]!;
    const b = series[n]!;
    const phase = n % k;
    for (let c = 0; c < cells; c++) {
      const o = c * 3;
      const dr = b[o]! - a[o]!;
      const dg = b[o + 1]! - a[o + 1]!;
      const db = b[o + 2]! - a[o + 2]!;
      const j = Math.sqrt(dr * dr + dg * dg + db * db);
      // Small changes (noise, compression) do not vote.
      if (j > 12) bins[c * k + phase] = bins[c * k + phase]! + j;
    }
  }
  const out = new Float32Array(cells);
  const samples = Math.max(1, to - Math.max(from, 1));
  for (let c = 0; c < cells; c++) {
    let total = 0;
    let best = 0;
    for (let p = 0; p < k; p++) {
      const pair = bins[c * k + p]! + bins[c * k + ((p + 1) % k)]!;
      total += bins[c * k + p]!;
      if (pair > best) best = pair;
    }
    if (total <= 0) continue;
    const even = 2 / k;
    const concentration = Math.max(0, (best / total - even) / (1 - even));
    out[c] = concentration * concentration * (total / samples);
  }
  return out;
}
