/** Synthetic captures of the colour box for the tests: sampling, blur at symbol changes, colour shifts, noise. */
import { type ColourSample, paletteRgb } from '@vigil/watermark-codec';

export type Rgb3 = [number, number, number];

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
}

export interface CaptureOptions {
  symbolSeconds: number;
  /** Symbols of the sequence shown before the capture starts (may be fractional: mid-symbol start). */
  startSymbol: number;
  /** Length of the capture in symbols. */
  symbols: number;
  /** Samples per symbol, drawn uniformly in [min, max] for each symbol. */
  samplesPerSymbol: [number, number];
  /** Timestamp jitter, as a fraction of the mean sample spacing. */
  jitter?: number;
  /** Fraction of a symbol at each change over which the old colour blends into the new one. */
  blur?: number;
  /** Colour transform applied to every sample. */
  transform?: (rgb: Rgb3) => Rgb3;
  /** Gaussian noise (standard deviation, 0..255 levels) per channel per sample. */
  noise?: number;
  /** Arbitrary clock origin of the capture, ms. */
  t0?: number;
  /** Playback speed of the capture (1.02 = sped up 2%). */
  speed?: number;
}

export function capture(
  sequence: readonly number[],
  opts: CaptureOptions,
  rand: () => number,
): ColourSample[] {
  const palette = paletteRgb();
  const T = opts.symbolSeconds * 1000;
  const speed = opts.speed ?? 1;
  const samples: ColourSample[] = [];
  const t0 = opts.t0 ?? 0;
  const colourAt = (s: number): Rgb3 => {
    const i = Math.floor(s);
    const n = sequence.length;
    const now = palette[sequence[((i % n) + n) % n]!]!;
    const blur = opts.blur ?? 0;
    const u = s - i;
    if (blur > 0 && u < blur) {
      const prev = palette[sequence[(((i - 1) % n) + n) % n]!]!;
      const w = u / blur;
      return [0, 1, 2].map((c) => prev[c]! * (1 - w) + now[c]! * w) as Rgb3;
    }
    return [...now] as Rgb3;
  };
  for (let k = 0; k < Math.ceil(opts.symbols); k++) {
    const [lo, hi] = opts.samplesPerSymbol;
    const count = lo + Math.floor(rand() * (hi - lo + 1));
    for (let m = 0; m < count; m++) {
      const u = (m + 0.5 + (rand() - 0.5) * 2 * (opts.jitter ?? 0) * 0.5) / count;
      const local = k + Math.min(0.999, Math.max(0, u));
      if (local > opts.symbols) break;
      const s = opts.startSymbol + local;
      let rgb = colourAt(s);
      if (opts.transform) rgb = opts.transform(rgb);
      if (opts.noise) rgb = rgb.map((v) => v + gaussian(rand) * opts.noise!) as Rgb3;
      rgb = rgb.map((v) => Math.max(0, Math.min(255, v))) as Rgb3;
      samples.push({ t: t0 + (local * T) / speed, rgb });
    }
  }
  return samples;
}

// Colour shifts, as a restream's encoder, scaler or capture could apply them (BT.601 Y'CbCr, full range).
export function toYcc([r, g, b]: Rgb3): Rgb3 {
  const y = 0.299 * r + 0.587 * g + 0.114 * b;
  return [y, (b - y) * 0.564, (r - y) * 0.713];
}

export function fromYcc([y, cb, cr]: Rgb3): Rgb3 {
  const r = y + cr / 0.713;
  const b = y + cb / 0.564;
  const g = (y - 0.299 * r - 0.114 * b) / 0.587;
  return [r, g, b];
}

export const brightness =
  (factor: number) =>
  (rgb: Rgb3): Rgb3 =>
    rgb.map((v) => v * factor) as Rgb3;

export const saturation =
  (factor: number) =>
  (rgb: Rgb3): Rgb3 => {
    const [y, cb, cr] = toYcc(rgb);
    return fromYcc([y, cb * factor, cr * factor]);
  };

export const hueRotation =
  (degrees: number) =>
  (rgb: Rgb3): Rgb3 => {
    const [y, cb, cr] = toYcc(rgb);
    const a = (degrees * Math.PI) / 180;
    return fromYcc([y, cb * Math.cos(a) - cr * Math.sin(a), cb * Math.sin(a) + cr * Math.cos(a)]);
  };

/** Full-range video squeezed into limited range (16..235 luma, 16..240 chroma) and shown as if full range. */
export const limitedRange = (rgb: Rgb3): Rgb3 => {
  const [y, cb, cr] = toYcc(rgb);
  return fromYcc([16 + (y * 219) / 255, (cb * 224) / 255, (cr * 224) / 255]);
};

export const gamma =
  (g: number) =>
  (rgb: Rgb3): Rgb3 =>
    rgb.map((v) => 255 * (Math.max(0, v) / 255) ** (1 / g)) as Rgb3;

export const compose =
  (...fs: ((rgb: Rgb3) => Rgb3)[]) =>
  (rgb: Rgb3): Rgb3 =>
    fs.reduce((v, f) => f(v), rgb);
