import { dist, median, mod } from './math.ts';

/** Finds the symbol period (ms) and the phase (ms, modulo the period) of the symbol boundaries. */
export function estimateSymbolClock(
  ts: readonly number[],
  vs: readonly (readonly [number, number, number])[],
  nominalMs: number,
  speedTolerance: number,
): { period: number; phase: number } | null {
  const n = ts.length;
  if (n < 3) return null;
  const span = ts[n - 1]! - ts[0]!;
  if (!(span > nominalMs)) return null;
  const jumps: number[] = [];
  for (let i = 0; i + 1 < n; i++) jumps.push(dist(vs[i]!, vs[i + 1]!));

  // Candidate periods: steps small enough that one step drifts by at most 2% of a symbol over the span.
  // The nominal period keeps the win unless another one is clearly better (a sped-up or slowed restream).
  const origin = ts[0]!;
  const tol = Math.max(0, Math.min(0.2, speedTolerance));
  const half = Math.min(200, Math.ceil(tol / ((0.04 * nominalMs) / span)));
  const K = 64;
  let best = { score: Number.NEGATIVE_INFINITY, period: nominalMs, bins: new Float64Array(K) };
  let nominal = best;
  for (const c of [0, ...Array.from({ length: 2 * half }, (_, i) => (i < half ? i - half : i - half + 1))]) {
    const period = nominalMs * (1 + (half === 0 ? 0 : (c * tol) / half));
    const binW = period / K;
    const acc = new Float64Array(2 * K + 1);
    let base = 0;
    for (let i = 0; i + 1 < n; i++) {
      const d = jumps[i]!;
      const gap = ts[i + 1]! - ts[i]!;
      if (!(d > 0) || gap >= period) continue;
      // The jump votes for every phase in (t_i, t_i+1]; `base` is what a jump at a random phase would give.
      base += (d * gap) / period;
      const a = mod(ts[i]! - origin, period);
      const c0 = Math.floor(a / binW - 0.5) + 1;
      const c1 = Math.floor((a + gap) / binW - 0.5);
      if (c1 < c0) continue;
      acc[c0] = acc[c0]! + d;
      acc[c1 + 1] = acc[c1 + 1]! - d;
    }
    const bins = new Float64Array(K);
    let run = 0;
    for (let b = 0; b < 2 * K; b++) {
      run += acc[b]!;
      bins[b % K] = bins[b % K]! + run;
    }
    let top = Number.NEGATIVE_INFINITY;
    for (let b = 0; b < K; b++) top = Math.max(top, bins[b]! - base);
    const candidate = { score: top, period, bins };
    if (c === 0) nominal = candidate;
    if (top > best.score) best = candidate;
  }
  if (best.score < nominal.score * 1.03) best = nominal;
  if (!(best.score > 0)) return null;
  // The boundary is the middle of the plateau of near-best phases around the best one.
  const { bins, period } = best;
  let top = 0;
  for (let b = 1; b < K; b++) if (bins[b]! > bins[top]!) top = b;
  const level = bins[top]! - 0.1 * (bins[top]! - median([...bins]));
  let lo = 0;
  while (lo < K - 1 && bins[mod(top - lo - 1, K)]! >= level) lo++;
  let hi = 0;
  while (hi < K - 1 - lo && bins[mod(top + hi + 1, K)]! >= level) hi++;
  const centre = top + (hi - lo) / 2;
  return { period, phase: mod(origin + (centre + 0.5) * (period / K), period) };
}
