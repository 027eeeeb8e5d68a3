import type { CodecLayout } from '../params.ts';
import { dist, median, type V3 } from './math.ts';
import { dataPosition, type Labelling, labelSlots, nearestData } from './slots.ts';

/** Otsu's two-cluster split of one channel: the means of the low and the high cluster. */
function twoClusters(values: number[]): [number, number] | null {
  const s = values.slice().sort((a, b) => a - b);
  const n = s.length;
  if (n < 2) return null;
  const total = s.reduce((a, b) => a + b, 0);
  let left = 0;
  let bestScore = -1;
  let best: [number, number] | null = null;
  for (let i = 1; i < n; i++) {
    left += s[i - 1]!;
    if (s[i] === s[i - 1]) continue;
    const m0 = left / i;
    const m1 = (total - left) / (n - i);
    const score = i * (n - i) * (m1 - m0) ** 2;
    if (score > bestScore) {
      bestScore = score;
      best = [m0, m1];
    }
  }
  return best;
}

/** Solves the 4x4 system A x = B (B with 3 columns) by Gaussian elimination; null when ill-conditioned. */
function solve4(A: number[][], B: number[][]): number[][] | null {
  const m = A.map((row, i) => [...row, ...B[i]!]);
  const scale = Math.max(...A.map((row, i) => Math.abs(row[i]!)), 1e-12);
  for (let col = 0; col < 4; col++) {
    let pivot = col;
    for (let r = col + 1; r < 4; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    if (Math.abs(m[pivot]![col]!) < 1e-6 * scale) return null;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    const p = m[col]!;
    for (let r = 0; r < 4; r++) {
      if (r === col) continue;
      const row = m[r]!;
      const f = row[col]! / p[col]!;
      if (f !== 0) for (let c = col; c < 7; c++) row[c] = row[c]! - f * p[c]!;
    }
  }
  return m.map((row, i) => row.slice(4).map((v) => v / row[i]!));
}

/** Least-squares affine map palette (0..1) -> observed colour; returns the predicted palette. */
function fitPalette(
  values: readonly V3[],
  labels: readonly number[],
  weights: readonly number[],
  palette: readonly (readonly number[])[],
): V3[] | null {
  const A = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
  const B = Array.from({ length: 4 }, () => [0, 0, 0]);
  const seen = new Set<number>();
  let count = 0;
  for (let j = 0; j < values.length; j++) {
    const w = weights[j]!;
    if (!(w > 0)) continue;
    const p = palette[labels[j]!]!;
    const x = [p[0]!, p[1]!, p[2]!, 1];
    const v = values[j]!;
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) A[r]![c] = A[r]![c]! + w * x[r]! * x[c]!;
      for (let c = 0; c < 3; c++) B[r]![c] = B[r]![c]! + w * x[r]! * v[c]!;
    }
    seen.add(labels[j]!);
    count++;
  }
  if (seen.size < 4 || count < 8) return null;
  const beta = solve4(A, B);
  if (!beta) return null;
  return palette.map((p) => {
    const out: V3 = [0, 0, 0];
    for (let c = 0; c < 3; c++) {
      out[c] = p[0]! * beta[0]![c]! + p[1]! * beta[1]![c]! + p[2]! * beta[2]![c]! + beta[3]![c]!;
    }
    return out;
  });
}

export type Start = 'channels' | 'clusters' | 'luma-chroma' | 'luma';

/** Per channel, the levels that the palette's low and high values map to. */
function channelLevels(values: readonly number[], start: Start): [number, number] | null {
  if (start === 'clusters') return twoClusters([...values]);
  // The mean of the lowest and of the highest quarter.
  const s = [...values].sort((a, b) => a - b);
  const q = Math.max(1, s.length >> 2);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [mean(s.slice(0, q)), mean(s.slice(-q))];
}

/** BT.601 Y'CbCr (full range, chroma centred on 0). */
const toYcc = ([r, g, b]: readonly number[]): V3 => {
  const y = 0.299 * r! + 0.587 * g! + 0.114 * b!;
  return [y, 0.564 * (b! - y), 0.713 * (r! - y)];
};

/** Luma levels (means of the lowest and highest quarter), mean chroma and RMS chroma spread. */
function yccStats(vs: readonly V3[]) {
  const level = channelLevels(
    vs.map((v) => v[0]),
    'channels',
  )!;
  const cb = vs.reduce((a, v) => a + v[1], 0) / vs.length;
  const cr = vs.reduce((a, v) => a + v[2], 0) / vs.length;
  const rms = Math.sqrt(vs.reduce((a, v) => a + (v[1] - cb) ** 2 + (v[2] - cr) ** 2, 0) / vs.length);
  return { level, cb, cr, rms };
}

/** How much chroma the capture kept relative to its luma, as a fraction of the palette's. */
export function chromaKept(observed: readonly V3[], palette: readonly (readonly number[])[]): number {
  const ps = yccStats(palette.map(toYcc));
  const os = yccStats(observed.map(toYcc));
  const ratio = (s: ReturnType<typeof yccStats>) => s.rms / Math.max(s.level[1] - s.level[0], 1e-9);
  return ratio(os) / ratio(ps);
}

/**
 * Luma alone, for captures that lost their colour: the observed luma is a * palette luma + b for some a, b,
 * found by a grid search that explains the most slots (a Hough transform in one dimension), since a
 * luma-only labelling has many local optima (every shift by one level).
 */
function lumaStart(
  observed: readonly V3[],
  palette: readonly (readonly number[])[],
): { observed: (v: readonly number[]) => V3; palette: (p: readonly number[]) => V3 } {
  const levels = palette.map((p) => toYcc(p)[0]);
  const ys = observed.map((v) => toYcc(v)[0]);
  const sorted = [...levels].sort((a, b) => a - b);
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i]! - sorted[i - 1]! > 1e-9) gap = Math.min(gap, sorted[i]! - sorted[i - 1]!);
  const ps = channelLevels(levels, 'channels')!;
  const os = channelLevels(ys, 'channels')!;
  const a0 = Math.max(os[1] - os[0], 1) / Math.max(ps[1] - ps[0], 1e-9);
  const b0 = os[0] - a0 * ps[0];
  let best = { cost: Number.POSITIVE_INFINITY, a: a0, b: b0 };
  for (let i = 0; i <= 40; i++) {
    const a = a0 * (0.6 + i * 0.025);
    const cap = ((a * gap) / 2) ** 2;
    for (let k = 0; k <= 40; k++) {
      const b = b0 + (k / 20 - 1) * 0.3 * (os[1] - os[0]);
      let cost = 0;
      for (const y of ys) {
        let d = cap;
        for (const l of levels) d = Math.min(d, (y - a * l - b) ** 2);
        cost += d / cap;
      }
      if (cost < best.cost) best = { cost, a, b };
    }
  }
  const { a, b } = best;
  return { observed: (v) => [(toYcc(v)[0] - b) / a, 0, 0], palette: (p) => [toYcc(p)[0], 0, 0] };
}

/**
 * A first, model-free normalisation of the observed colours and of the palette into one space, so that
 * nearest-colour labels are a fair start for the fit:
 *  - 'channels': each of R, G, B stretched between the means of its lowest and highest quarter (undoes levels,
 *    brightness, contrast, limited range, gamma on the corners);
 *  - 'clusters': the same with the two Otsu clusters of each channel;
 *  - 'luma-chroma': luma stretched like 'channels', chroma centred and scaled to the palette's RMS chroma (undoes
 *    a saturation change of any size, and a colour cast);
 *  - 'luma': luma alone, for captures that lost (nearly) all colour: the corners' luma levels differ by >= 29.
 */
function normaliseStart(
  observed: readonly V3[],
  palette: readonly (readonly number[])[],
  start: Start,
): { observed: (v: readonly number[]) => V3; palette: (p: readonly number[]) => V3 } {
  if (start === 'luma') return lumaStart(observed, palette);
  if (start === 'luma-chroma') {
    const ps = yccStats(palette.map(toYcc));
    const os = yccStats(observed.map(toYcc));
    const yScale = (ps.level[1] - ps.level[0]) / Math.max(os.level[1] - os.level[0], 1);
    const cScale = ps.rms / Math.max(os.rms, 1e-9);
    return {
      observed: (v) => {
        const [y, cb, cr] = toYcc(v);
        return [
          (y - os.level[0]) * yScale + ps.level[0],
          (cb - os.cb) * cScale + ps.cb,
          (cr - os.cr) * cScale + ps.cr,
        ];
      },
      palette: toYcc,
    };
  }
  const norm: [number, number][] = [];
  const paletteNorm: [number, number][] = [];
  for (let ch = 0; ch < 3; ch++) {
    const seen = channelLevels(
      observed.map((v) => v[ch]!),
      start,
    );
    const pal = channelLevels(
      palette.map((p) => p[ch]!),
      start,
    );
    norm.push(seen && seen[1] - seen[0] > 1 ? seen : [0, 255]);
    paletteNorm.push(pal && pal[1] > pal[0] ? pal : [0, 1]);
  }
  const normalise = (v: readonly number[], n: [number, number][]) =>
    v.map((x, ch) => (x - n[ch]![0]) / (n[ch]![1] - n[ch]![0])) as V3;
  return { observed: (v) => normalise(v, norm), palette: (p) => normalise(p, paletteNorm) };
}

/**
 * Labels the slots: a first guess from a model-free normalisation, then an affine colour model fitted to the
 * labelled slots and the slots relabelled against it, until stable (at most 6 rounds), trimming outliers.
 * `quality` is the mean capped squared distance of each slot to its label (lower is better).
 */
export function calibrate(
  values: readonly (V3 | null)[],
  observed: readonly V3[],
  layout: CodecLayout,
  start: Start,
  cap: number,
): { labelling: Labelling; labels: number[]; quality: number } | null {
  const data = layout.syncIndex;
  const first = normaliseStart(
    observed,
    start === 'luma' ? layout.palette : layout.palette.slice(0, data),
    start,
  );
  let labelling = labelSlots(
    values.map((v) => (v ? first.observed(v) : null)),
    layout.palette.map(first.palette),
    layout,
  );
  if (labelling.syncResidue < 0) return null;
  const labelsOf = (l: Labelling) =>
    l.dists.map((d, j) =>
      !d ? 0 : dataPosition(j, l.syncResidue, layout) < 0 ? layout.syncIndex : nearestData(d, data),
    );
  let weights = values.map((v) => (v ? 1 : 0));
  let previous = '';
  let model: V3[] | null = null;
  for (let iter = 0; iter < 6; iter++) {
    const labels = labelsOf(labelling);
    const key = `${labelling.syncResidue}:${labels.join(',')}:${weights.join('')}`;
    if (key === previous) break;
    previous = key;
    const predicted = fitPalette(
      values.map((v) => v ?? [0, 0, 0]),
      labels,
      weights,
      layout.palette,
    );
    if (!predicted) break;
    model = predicted;
    labelling = labelSlots(values, predicted, layout);
    if (labelling.syncResidue < 0) return null;
    const residuals = values.map((v, j) => (v ? dist(v, predicted[labels[j]!]!) : 0));
    const typical = median(residuals.filter((_, j) => values[j] !== null));
    const limit = Math.max(3 * typical, 0.15 * dist(predicted[0]!, predicted[data - 1]!));
    weights = residuals.map((r, j) => (values[j] && r <= limit ? 1 : 0));
  }
  // Without a colour model there is nothing to compare with other starts (nor is the labelling plausible:
  // every tag shows at least 4 colours).
  if (!model) return null;
  const labels = labelsOf(labelling);
  let total = 0;
  let count = 0;
  values.forEach((v, j) => {
    if (!v) return;
    total += Math.min(dist(v, model[labels[j]!]!) ** 2 / cap ** 2, 1);
    count++;
  });
  return { labelling, labels, quality: count ? total / count : Number.POSITIVE_INFINITY };
}
