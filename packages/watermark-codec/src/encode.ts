import { type CodecLayout, type CodecParams, DEFAULT_CODEC, layoutOf, TAG_BITS } from './params.ts';

/** The tag as k RS message symbols, most significant first; the k*m - 32 top bits are zero. */
export function tagToMessage(tag: number, layout: CodecLayout): number[] {
  if (!Number.isInteger(tag) || tag < 0 || tag >= 2 ** TAG_BITS) {
    throw new RangeError('the tag must be an unsigned 32-bit integer');
  }
  const { fieldBits, messageLength } = layout.params;
  const size = 2 ** fieldBits;
  const message = new Array<number>(messageLength).fill(0);
  let rest = tag;
  for (let i = messageLength - 1; i >= 0; i--) {
    message[i] = rest % size;
    rest = Math.floor(rest / size);
  }
  return message;
}

/** The inverse of tagToMessage, or null when the spare top bits are not zero. */
export function messageToTag(message: readonly number[], layout: CodecLayout): number | null {
  const size = 2 ** layout.params.fieldBits;
  let value = 0;
  for (const s of message) value = value * size + s;
  return value < 2 ** TAG_BITS ? value : null;
}

/** Data colour indices of a codeword: each RS symbol as its colours, most significant bits first, whitened. */
export function codewordToColours(codeword: readonly number[], layout: CodecLayout): number[] {
  const { bitsPerColour, coloursPerSymbol, params } = layout;
  const mask = (1 << bitsPerColour) - 1;
  const out: number[] = [];
  for (const symbol of codeword) {
    for (let j = coloursPerSymbol - 1; j >= 0; j--) {
      const i = out.length;
      out.push(((symbol >> (j * bitsPerColour)) & mask) ^ params.whitening[i % params.whitening.length]!);
    }
  }
  return out;
}

/** The cyclic symbol sequence (palette indices) the player shows, one symbol per symbolSeconds, looping forever. */
export function encodeTag(tag: number, params: CodecParams = DEFAULT_CODEC): number[] {
  const layout = layoutOf(params);
  const codeword = layout.rs.encode(tagToMessage(tag, layout));
  return [
    ...new Array<number>(params.syncSymbols).fill(layout.syncIndex),
    ...codewordToColours(codeword, layout),
  ];
}

/** Palette colours as [r,g,b] 0..255, for drawing: the data colours, then the sync colour. */
export function paletteRgb(params: CodecParams = DEFAULT_CODEC): [number, number, number][] {
  layoutOf(params);
  return [...params.dataColours, params.syncColour].map((c) => [c[0], c[1], c[2]]);
}

/** Symbols in one cycle of the sequence. */
export function cycleLength(params: CodecParams = DEFAULT_CODEC): number {
  return layoutOf(params).cycleLength;
}

/**
 * Which symbol of `sequence` is on screen `elapsedMs` after the sequence started. A player should derive
 * the symbol from a clock like this (rather than count timer ticks) so that the sequence never drifts.
 */
export function symbolAt(sequence: readonly number[], elapsedMs: number, symbolSeconds: number): number {
  const i = Math.floor(elapsedMs / (symbolSeconds * 1000));
  const n = sequence.length;
  return sequence[((i % n) + n) % n]!;
}
