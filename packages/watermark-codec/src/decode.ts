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

import { calibrate, chromaKept, type Start } from './decode/calibrate.ts';
import { estimateSymbolClock } from './decode/clock.ts';
import { dist, type V3 } from './decode/math.ts';
import { collectSlots, type Labelling } from './decode/slots.ts';
import type { ColourSample, DecodeOptions, DecodeResult } from './decode/types.ts';
import { decodeLabelling } from './decode/word.ts';
import { DEFAULT_CODEC, layoutOf } from './params.ts';

export { estimateSymbolClock } from './decode/clock.ts';
export type { ColourSample, DecodeOptions, DecodeResult } from './decode/types.ts';

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
