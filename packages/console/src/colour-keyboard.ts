/**
 * The manual colour keyboard's decoder: the colours an operator read off stills (one per symbol, in
 * order, one whole cycle from any point in it) → the session tag, through the codec's own decoder, by turning the
 * typed symbols into evenly timed colour samples.
 */
import { cycleLength, DEFAULT_CODEC, decodeSamples, paletteRgb } from '@vigil/watermark-codec';

export const PALETTE = paletteRgb(DEFAULT_CODEC);
export const COLOUR_NAMES = [
  'black',
  'blue',
  'green',
  'cyan',
  'red',
  'magenta',
  'yellow',
  'white',
  'grey (sync)',
];
/** Symbols in one cycle: one grey, then the data colours. */
export const CYCLE = cycleLength(DEFAULT_CODEC);

/** The tag shown by the typed palette indices, or null when they do not decode. */
export function decodeTyped(typed: readonly number[]): { tag: number; corrected: number } | null {
  if (typed.length !== CYCLE) return null;
  const symbolMs = 500;
  // Repeat what was typed so a cycle typed from the middle still holds a whole sync-to-sync run.
  const seq = [...typed, ...typed, ...typed];
  const samples = seq.flatMap((c, i) => {
    const rgb = PALETTE[c]!;
    return [0.25, 0.5, 0.75].map((f) => ({
      t: (i + f) * symbolMs,
      rgb: [rgb[0], rgb[1], rgb[2]] as [number, number, number],
    }));
  });
  const result = decodeSamples(samples, { symbolSeconds: symbolMs / 1000, speedTolerance: 0 });
  return result ? { tag: result.tag, corrected: result.symbolErrors } : null;
}
