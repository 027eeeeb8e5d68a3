/**
 * The seed system's colour scheme, for the detector benchmark's baseline: 16 colours (solid ones and
 * diagonal two-colour gradients), 1.5 s a symbol, the session id's characters 8 bits each (2 symbols a
 * character, high nibble first), no sync symbol and no error correction. The seed's exact palette is not
 * published; this one takes 10 well-separated solid colours and 6 gradients, the most favourable reading
 * of its description.
 *
 * Its decoder is the best an automatic reader can do with it: the same box finding as Vigil's (the
 * configured box, else the symbol-rhythm search), the symbol clock from the colour jumps, each slot's
 * median colour matched to the nearest palette colour (gradients by their top-left and bottom-right
 * halves), and, since there is no sync, every rotation of the last cycle's symbols compared with every
 * session id the tenant served: accepted only when exactly one (rotation, session) matches every symbol.
 */
import { estimateSymbolClock } from '@vigil/watermark-codec';

export const SEED_SYMBOL_SECONDS = 1.5;

type Rgb = [number, number, number];
export interface SeedColour {
  /** Top-left and bottom-right colours (equal for a solid colour). */
  a: Rgb;
  b: Rgb;
}

const solid = (c: Rgb): SeedColour => ({ a: c, b: c });
export const SEED_PALETTE: readonly SeedColour[] = [
  solid([0, 0, 0]),
  solid([255, 255, 255]),
  solid([255, 0, 0]),
  solid([0, 200, 0]),
  solid([0, 0, 255]),
  solid([255, 255, 0]),
  solid([0, 255, 255]),
  solid([255, 0, 255]),
  solid([255, 140, 0]),
  solid([128, 128, 128]),
  { a: [255, 0, 0], b: [0, 0, 255] },
  { a: [0, 200, 0], b: [255, 255, 0] },
  { a: [0, 0, 0], b: [255, 255, 255] },
  { a: [0, 255, 255], b: [255, 0, 255] },
  { a: [255, 140, 0], b: [0, 0, 0] },
  { a: [0, 0, 255], b: [255, 255, 255] },
];

/** The cyclic symbol sequence of a session id. */
export function seedSequence(sessionId: string): number[] {
  const out: number[] = [];
  for (const byte of Buffer.from(sessionId, 'utf8')) out.push(byte >> 4, byte & 15);
  return out;
}

/** The box's pixels (RGB24, w x h) for palette colour `i`: solid, or a diagonal gradient. */
export function seedBoxPixels(i: number, w: number, h: number): Buffer {
  const { a, b } = SEED_PALETTE[i]!;
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const f = (x / Math.max(1, w - 1) + y / Math.max(1, h - 1)) / 2;
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) buf[o + c] = Math.round(a[c]! * (1 - f) + b[c]! * f);
    }
  }
  return buf;
}

/** A sample: time (ms), the mean colours of the box's top-left and bottom-right halves. */
export interface SeedSample {
  t: number;
  a: Rgb;
  b: Rgb;
}

const dist2 = (p: readonly number[], q: readonly number[]) =>
  (p[0]! - q[0]!) ** 2 + (p[1]! - q[1]!) ** 2 + (p[2]! - q[2]!) ** 2;

/** Each half's expected mean for palette colour i (the mean of a half of the diagonal gradient). */
const HALF_MEANS = SEED_PALETTE.map(({ a, b }) => {
  const mix = (f: number) => [0, 1, 2].map((c) => a[c]! * (1 - f) + b[c]! * f);
  return { a: mix(1 / 3), b: mix(2 / 3) };
});

/** The session whose id the samples show, or null (no match, or not a unique one). */
export function seedDecode(samples: readonly SeedSample[], candidates: readonly string[]): string | null {
  if (samples.length < 4) return null;
  const nominal = SEED_SYMBOL_SECONDS * 1000;
  const ts = samples.map((s) => s.t);
  const vs = samples.map(
    (s) => [(s.a[0] + s.b[0]) / 2, (s.a[1] + s.b[1]) / 2, (s.a[2] + s.b[2]) / 2] as [number, number, number],
  );
  const clock = estimateSymbolClock(ts, vs, nominal, 0.02);
  if (!clock) return null;
  // Slots: the median of each half over the middle 60% of each symbol.
  const t0 = ts[0]!;
  const first = Math.ceil((t0 - clock.phase) / clock.period);
  const slots: number[] = [];
  for (let k = first; ; k++) {
    const start = clock.phase + k * clock.period;
    if (start + clock.period > ts.at(-1)!) break;
    const inside = samples.filter(
      (s) => s.t >= start + 0.2 * clock.period && s.t <= start + 0.8 * clock.period,
    );
    if (inside.length === 0) {
      slots.push(-1);
      continue;
    }
    const med = (pick: (s: SeedSample) => number) => {
      const v = inside.map(pick).sort((x, y) => x - y);
      return v[Math.floor(v.length / 2)]!;
    };
    const a = [0, 1, 2].map((c) => med((s) => s.a[c]!));
    const b = [0, 1, 2].map((c) => med((s) => s.b[c]!));
    let best = -1;
    let bestD = Number.POSITIVE_INFINITY;
    for (let i = 0; i < HALF_MEANS.length; i++) {
      const d = dist2(a, HALF_MEANS[i]!.a) + dist2(b, HALF_MEANS[i]!.b);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    slots.push(best);
  }
  let found: string | null = null;
  for (const id of candidates) {
    const seq = seedSequence(id);
    const n = seq.length;
    if (slots.length < n) continue;
    const last = slots.slice(-n);
    for (let r = 0; r < n; r++) {
      if (last.every((s, i) => s === seq[(i + r) % n])) {
        if (found !== null && found !== id) return null;
        found = id;
      }
    }
  }
  return found;
}
