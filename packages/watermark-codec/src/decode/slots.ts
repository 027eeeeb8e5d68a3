import type { CodecLayout } from '../params.ts';
import { dist, median, mod, type V3 } from './math.ts';

export interface Slots {
  /** Slot colour, or null when no sample falls in the slot. */
  values: (V3 | null)[];
  /** Start of slot 0, ms. */
  origin: number;
}

export function collectSlots(ts: readonly number[], vs: readonly V3[], period: number, phase: number): Slots {
  const first = Math.floor((ts[0]! - phase) / period);
  const last = Math.floor((ts[ts.length - 1]! - phase) / period);
  const count = last - first + 1;
  // Samples in the middle of the slot first; failing that, nearer its edges; failing that, any.
  const tiers: number[][][][] = [0, 1, 2].map(() => Array.from({ length: count }, () => []));
  for (let i = 0; i < ts.length; i++) {
    const x = (ts[i]! - phase) / period;
    const j = Math.floor(x);
    const u = x - j;
    const tier = u >= 0.2 && u <= 0.8 ? 0 : u >= 0.08 && u <= 0.92 ? 1 : 2;
    tiers[tier]![j - first]!.push(vs[i]!);
  }
  const values = tiers[0]!.map((_, j) => {
    const use = tiers.map((t) => t[j]!).find((t) => t.length > 0);
    if (!use) return null;
    return [0, 1, 2].map((ch) => median(use.map((v) => v[ch]!))) as V3;
  });
  return { values, origin: phase + first * period };
}

export interface Labelling {
  /** Per slot: distance to each palette colour, in units of the closest pair of data colours. */
  dists: (number[] | null)[];
  /** Slot residue (mod cycle length) where the sync symbols start. */
  syncResidue: number;
  syncScore: number;
}

export function labelSlots(
  values: readonly (V3 | null)[],
  reference: readonly (readonly number[])[],
  layout: CodecLayout,
): Labelling {
  const data = layout.syncIndex;
  let scale = Number.POSITIVE_INFINITY;
  for (let a = 0; a < data; a++)
    for (let b = a + 1; b < data; b++) scale = Math.min(scale, dist(reference[a]!, reference[b]!));
  if (!(scale > 1e-9)) scale = 1;
  const dists = values.map((v) => (v ? reference.map((r) => dist(v, r) / scale) : null));
  const L = layout.cycleLength;
  const S = layout.params.syncSymbols;
  // How much more each residue looks like the sync colour than like any data colour.
  const sums = new Float64Array(L);
  const counts = new Float64Array(L);
  dists.forEach((d, j) => {
    if (!d) return;
    let nearest = Number.POSITIVE_INFINITY;
    for (let c = 0; c < data; c++) nearest = Math.min(nearest, d[c]!);
    sums[j % L] = sums[j % L]! + nearest - d[data]!;
    counts[j % L] = counts[j % L]! + 1;
  });
  let syncResidue = -1;
  let syncScore = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < L; r++) {
    let score = 0;
    let ok = true;
    for (let s = 0; s < S; s++) {
      const q = (r + s) % L;
      if (counts[q] === 0) ok = false;
      else score += sums[q]! / counts[q]!;
    }
    if (ok && score > syncScore) {
      syncScore = score;
      syncResidue = r;
    }
  }
  return { dists, syncResidue, syncScore };
}

/** Data position (0..dataLength-1) of slot j, or -1 for a sync slot. */
export const dataPosition = (j: number, syncResidue: number, layout: CodecLayout) => {
  const q = mod(j - syncResidue, layout.cycleLength) - layout.params.syncSymbols;
  return q;
};

export function nearestData(d: readonly number[], data: number): number {
  let best = 0;
  for (let c = 1; c < data; c++) if (d[c]! < d[best]!) best = c;
  return best;
}
