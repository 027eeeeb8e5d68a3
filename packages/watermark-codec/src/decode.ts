/**
 * The decoder: colour samples of the box over time -> the tag.
 *
 *  1. Symbol clock. Every symbol change is a jump in colour between two consecutive samples, so the true
 *     boundary phase lies inside the time interval of every big jump. For each candidate symbol period
 *     (the nominal one, and a small range around it in case the restream was sped up or slowed down) the
 *     jumps vote, with their size, for the phases they cover; the phase covered by most colour change wins.
 *  2. Slots. Each symbol slot's colour is the per-channel median of the samples in its middle 60% (away
 *     from the blur of encoder and frame blending at the boundaries).
 *  3. Colours, adaptively. A first labelling comes from a model-free normalisation of the observed colours
 *     (per channel to the levels it shows, or luma to its levels and chroma to its spread, or luma alone when
 *     the capture lost its colour). Then an affine colour model (observed = A * palette + c, 12 parameters) is
 *     fitted by least squares to the labelled slots and the slots are relabelled against the predicted
 *     palette until stable, dropping outliers: that absorbs brightness, contrast, levels, limited range,
 *     saturation, hue rotation, cross-talk and casts exactly, and predicts even colours the sequence happens
 *     not to show. The sync position is the cycle position that looks most like the sync colour relative to
 *     its nearest data colour (the payload never shows the sync colour). Each starting point gives a labelling;
 *     they are tried best-explained first.
 *  4. Cycles combine: each data position's label is the one with the lowest robust (capped) distance summed
 *     over every time it was seen, and the gap to the runner-up is its reliability.
 *  5. Reed-Solomon errors-and-erasures decoding with spare parity for verification, first with only unseen
 *     positions erased, then also with the two least reliable symbols erased (generalised minimum distance).
 *     The tag is accepted only if the code, the spare parity and the zero top bits of the message all agree.
 */
import { codewordToColours, messageToTag } from './encode.ts';
import { type CodecLayout, type CodecParams, DEFAULT_CODEC, layoutOf, TAG_BITS } from './params.ts';

export interface ColourSample {
  /** Time in ms (any origin, e.g. the capture's presentation time). */
  t: number;
  /** Mean colour of the box's inner pixels, 0..255. */
  rgb: readonly [number, number, number];
}

export interface DecodeOptions {
  /** Seconds per symbol the player used (the directive's symbolSeconds). */
  symbolSeconds: number;
  params?: CodecParams;
  /** Relative playback-speed change of the capture to search for, default 0.02 (±2%). 0 turns it off. */
  speedTolerance?: number;
}

export interface DecodeResult {
  tag: number;
  /** Data symbols (after combining the cycles seen) that disagree with the decoded sequence: corrected errors. */
  symbolErrors: number;
  /** Data symbols never seen (or without a usable sample), decoded as erasures. */
  erasures: number;
  /** When (ms, in the samples' clock) the first sync symbol within the samples started. */
  startedAt: number;
  /** The symbol duration measured in the samples, ms. */
  symbolMs: number;
  /** How many times each data symbol was seen, on average. */
  cycles: number;
  /**
   * The chance that a capture of unrelated colours decodes as well as this one did (to some tag): the share of
   * received words within the corrected distance of a valid codeword, times the decoding attempts made.
   * About 2e-16 for a clean full cycle, 2e-8 with 3 corrected RS symbols. A detector that acts on a decode
   * should want it small, or the same tag again from a second, disjoint window.
   */
  falseMatchProbability: number;
}

type V3 = [number, number, number];

const dist = (a: readonly number[], b: readonly number[]) =>
  Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const mod = (a: number, m: number) => ((a % m) + m) % m;

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

interface Slots {
  /** Slot colour, or null when no sample falls in the slot. */
  values: (V3 | null)[];
  /** Start of slot 0, ms. */
  origin: number;
}

function collectSlots(ts: readonly number[], vs: readonly V3[], period: number, phase: number): Slots {
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

interface Labelling {
  /** Per slot: distance to each palette colour, in units of the closest pair of data colours. */
  dists: (number[] | null)[];
  /** Slot residue (mod cycle length) where the sync symbols start. */
  syncResidue: number;
  syncScore: number;
}

function labelSlots(
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
const dataPosition = (j: number, syncResidue: number, layout: CodecLayout) => {
  const q = mod(j - syncResidue, layout.cycleLength) - layout.params.syncSymbols;
  return q;
};

function nearestData(d: readonly number[], data: number): number {
  let best = 0;
  for (let c = 1; c < data; c++) if (d[c]! < d[best]!) best = c;
  return best;
}

type Start = 'channels' | 'clusters' | 'luma-chroma' | 'luma';

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
function chromaKept(observed: readonly V3[], palette: readonly (readonly number[])[]): number {
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
function calibrate(
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

/**
 * Decode from colour samples of the box over time (e.g. mean RGB of the box region per captured frame, with
 * timestamps in ms, possibly irregular, possibly several samples per symbol, possibly starting mid-sequence,
 * with colour shift/compression noise). Returns the tag and a confidence/error count, or null.
 */
export function decodeSamples(samples: readonly ColourSample[], opts: DecodeOptions): DecodeResult | null {
  const layout = layoutOf(opts.params ?? DEFAULT_CODEC);
  const nominal = opts.symbolSeconds * 1000;
  if (!(nominal > 0)) throw new RangeError('symbolSeconds must be > 0');
  const clean = samples
    .filter((s) => Number.isFinite(s.t) && s.rgb?.length === 3 && s.rgb.every((v) => Number.isFinite(v)))
    .sort((a, b) => a.t - b.t);
  const ts = clean.map((s) => s.t);
  const vs = clean.map((s) => [s.rgb[0], s.rgb[1], s.rgb[2]] as V3);
  const data = layout.syncIndex;
  const { maxErasures } = layout.params;
  // Cheap refusal: fewer symbols' worth of time than the code could ever decode.
  const minDataSlots = layout.dataLength - maxErasures * layout.coloursPerSymbol;
  if (ts.length < 3 || ts[ts.length - 1]! - ts[0]! < minDataSlots * nominal * 0.9) return null;

  const clock = estimateSymbolClock(ts, vs, nominal, opts.speedTolerance ?? 0.02);
  if (!clock) return null;
  const { values, origin } = collectSlots(ts, vs, clock.period, clock.phase);
  const observed = values.filter((v) => v !== null) as V3[];
  if (observed.length < minDataSlots) return null;

  // Calibrate colours from several starting points; try the labellings, best explained first.
  const starts: Start[] = ['channels', 'clusters', 'luma-chroma'];
  if (chromaKept(observed, layout.palette.slice(0, data)) < 0.4) starts.push('luma');
  const centre = [0, 1, 2].map((ch) => observed.reduce((a, v) => a + v[ch]!, 0) / observed.length);
  const spread = Math.sqrt(observed.reduce((a, v) => a + dist(v, centre) ** 2, 0) / observed.length);
  const candidates: { labelling: Labelling; quality: number; key: string }[] = [];
  for (const start of starts) {
    const result = calibrate(values, observed, layout, start, Math.max(0.3 * spread, 1));
    if (!result || !(result.labelling.syncScore > 0)) continue;
    const key = `${result.labelling.syncResidue}:${result.labels.join(',')}`;
    if (!candidates.some((c) => c.key === key)) candidates.push({ ...result, key });
  }
  candidates.sort((a, b) => a.quality - b.quality);
  const attempts = { count: 0 };
  for (const { labelling } of candidates) {
    const result = decodeLabelling(labelling, layout, attempts);
    if (result) {
      return { ...result, startedAt: origin + labelling.syncResidue * clock.period, symbolMs: clock.period };
    }
  }
  return null;
}

/**
 * The share of all words of length m over GF(q) that lie within distance e of one of the 2^32 codewords
 * carrying a valid tag: 2^32 * sum_{i<=e} C(m, i) (q-1)^i / q^m.
 */
function falseMatchShare(layout: CodecLayout, known: number, errors: number): number {
  const q = layout.rs.field.size;
  let volume = 0;
  let binomial = 1;
  for (let i = 0; i <= errors; i++) {
    volume += binomial * (q - 1) ** i;
    binomial = (binomial * (known - i)) / (i + 1);
  }
  return Math.min(1, (2 ** TAG_BITS * volume) / q ** known);
}

/** Combines the cycles of a labelling into one word per data position and runs the Reed-Solomon decoder. */
function decodeLabelling(
  labelling: Labelling,
  layout: CodecLayout,
  attempts: { count: number },
): Omit<DecodeResult, 'startedAt' | 'symbolMs'> | null {
  const { dists, syncResidue } = labelling;
  const data = layout.syncIndex;
  // Robust cost per data position and colour: each sighting adds its capped squared distance.
  const D = layout.dataLength;
  const cost = Array.from({ length: D }, () => new Float64Array(data));
  const seenCount = new Int32Array(D);
  dists.forEach((d, j) => {
    const q = dataPosition(j, syncResidue, layout);
    if (!d || q < 0) return;
    seenCount[q] = seenCount[q]! + 1;
    for (let c = 0; c < data; c++) cost[q]![c] = cost[q]![c]! + Math.min(d[c]! ** 2, 1);
  });
  const labels: number[] = [];
  const margins: number[] = [];
  for (let q = 0; q < D; q++) {
    const c = cost[q]!;
    const bestColour = nearestData([...c], data);
    let second = Number.POSITIVE_INFINITY;
    for (let k = 0; k < data; k++) if (k !== bestColour) second = Math.min(second, c[k]!);
    labels.push(bestColour);
    margins.push(seenCount[q]! > 0 ? (second - c[bestColour]!) / seenCount[q]! : 0);
  }

  // The Reed-Solomon word, with unseen symbols erased and a reliability per symbol.
  const { params, rs, coloursPerSymbol: cps, bitsPerColour } = layout;
  const word: number[] = [];
  const reliability: number[] = [];
  const unseen: number[] = [];
  for (let s = 0; s < params.codeLength; s++) {
    let value = 0;
    let rel = Number.POSITIVE_INFINITY;
    let missing = false;
    for (let j = 0; j < cps; j++) {
      const q = s * cps + j;
      value = (value << bitsPerColour) | (labels[q]! ^ params.whitening[q % params.whitening.length]!);
      rel = Math.min(rel, margins[q]!);
      if (seenCount[q] === 0) missing = true;
    }
    word.push(value);
    reliability.push(rel);
    if (missing) unseen.push(s);
  }
  if (unseen.length > params.maxErasures) return null;
  const budget = rs.parity - params.spareParity;
  // Generalised minimum distance: if the word does not decode, erase its two least reliable symbols.
  const erasureSets = [unseen];
  if (unseen.length + 2 <= params.maxErasures) {
    const doubtful = [...reliability.keys()]
      .filter((s) => !unseen.includes(s))
      .sort((a, b) => reliability[a]! - reliability[b]!)
      .slice(0, 2);
    if (doubtful.length === 2 && doubtful.every((s) => reliability[s]! < 0.5))
      erasureSets.push([...unseen, ...doubtful]);
  }
  for (const erasures of erasureSets) {
    attempts.count++;
    const decoded = rs.decode(word, erasures, budget);
    if (!decoded) continue;
    const tag = messageToTag(decoded.message, layout);
    if (tag === null) continue;
    const expected = codewordToColours(decoded.codeword, layout);
    let symbolErrors = 0;
    let erased = 0;
    for (let q = 0; q < D; q++) {
      if (seenCount[q] === 0) erased++;
      else if (labels[q] !== expected[q]) symbolErrors++;
    }
    const known = params.codeLength - erasures.length;
    return {
      tag,
      symbolErrors,
      erasures: erased,
      cycles: seenCount.reduce((a, b) => a + b, 0) / D,
      falseMatchProbability: Math.min(1, attempts.count * falseMatchShare(layout, known, decoded.errors)),
    };
  }
  return null;
}
