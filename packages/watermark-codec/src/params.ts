/**
 * The codec's parameters, and the default design (see README.md for the reasoning and the numbers).
 *
 * Default, in one line: 8 data colours (the corners of the RGB cube, 3 bits a symbol) plus a mid-grey sync
 * colour the payload never uses; the 32-bit tag is protected by a shortened Reed-Solomon code RS(14, 6)
 * over GF(64), each 6-bit RS symbol shown as 2 colours; one cycle is 1 sync + 28 data symbols = 29 symbols,
 * 14.5 s at the default 0.5 s a symbol.
 */
import { GaloisField } from './gf.ts';
import { ReedSolomon } from './reed-solomon.ts';

export type Rgb = readonly [number, number, number];

export interface CodecParams {
  /**
   * The data colours, [r, g, b] 0..255; palette index i is dataColours[i]. Their count is a power of two,
   * 2^b, and each shows b bits.
   */
  readonly dataColours: readonly Rgb[];
  /** The sync colour, palette index dataColours.length. The payload never shows it. */
  readonly syncColour: Rgb;
  /** How many sync symbols start each cycle. */
  readonly syncSymbols: number;
  /** m: the Reed-Solomon code works over GF(2^m); m is a multiple of the bits per colour. */
  readonly fieldBits: number;
  /** The field's primitive polynomial (bit i = coefficient of x^i). */
  readonly primitivePolynomial: number;
  /** The first root's exponent b of the generator polynomial, alpha^b .. alpha^(b+n-k-1). */
  readonly firstRoot: number;
  /** n: RS symbols per cycle (a shortened code when below 2^m - 1). */
  readonly codeLength: number;
  /** k: RS symbols carrying the tag; k * m >= 32, and the extra high bits must decode as zero. */
  readonly messageLength: number;
  /**
   * Parity kept for verification, never spent on correction: a decode is accepted only when
   * 2 * errors + erasures <= n - k - spareParity. With n - k = 8 and 2 spare, 3 wrong RS symbols are
   * corrected and up to 5 are always refused, never miscorrected (the code's distance is 9).
   */
  readonly spareParity: number;
  /** At most this many erased (unseen or doubtful) RS symbols are accepted in one decode. */
  readonly maxErasures: number;
  /**
   * XORed onto the data colour indices (repeating), so that every tag — 0 included — shows a spread of
   * colours with frequent changes, which the decoder needs to calibrate colours and to find the symbol clock.
   */
  readonly whitening: readonly number[];
}

/** The default design. */
export const DEFAULT_CODEC: CodecParams = Object.freeze({
  // R, G and B either 0 or 255: black, blue, green, cyan, red, magenta, yellow, white (index = RGB bits).
  // Corners of the RGB cube are as far apart as 8 colours can be (255 in RGB, >= 130 in Y'CbCr even for
  // the closest pairs, with a 29-level luma step too), survive 4:2:0 subsampling of a flat box, and stay
  // corners under per-channel levels/gamma changes, which keeps the decoder's affine colour model exact.
  dataColours: Object.freeze([
    [0, 0, 0],
    [0, 0, 255],
    [0, 255, 0],
    [0, 255, 255],
    [255, 0, 0],
    [255, 0, 255],
    [255, 255, 0],
    [255, 255, 255],
  ] as const),
  // Mid-grey: the centre of the cube, at least as far from every corner as the corners are from each other
  // in Y'CbCr, and unmistakable even where saturation is lost.
  syncColour: Object.freeze([128, 128, 128] as const),
  syncSymbols: 1,
  fieldBits: 6,
  primitivePolynomial: 0x43, // x^6 + x + 1
  firstRoot: 1,
  codeLength: 14,
  messageLength: 6,
  spareParity: 2,
  maxErasures: 4,
  whitening: Object.freeze([
    6, 3, 4, 5, 7, 6, 5, 7, 0, 1, 0, 4, 1, 6, 0, 7, 1, 5, 2, 4, 3, 2, 0, 2, 1, 3, 5, 2,
  ]),
});

export const TAG_BITS = 32;

/** Everything derived from a CodecParams, checked once. */
export interface CodecLayout {
  readonly params: CodecParams;
  readonly rs: ReedSolomon;
  readonly bitsPerColour: number;
  readonly coloursPerSymbol: number;
  /** Palette size: data colours + the sync colour. */
  readonly paletteSize: number;
  readonly syncIndex: number;
  /** Data colours per cycle. */
  readonly dataLength: number;
  /** Symbols per cycle: sync + data. */
  readonly cycleLength: number;
  /** Palette colours scaled to 0..1. */
  readonly palette: readonly Rgb[];
}

const layouts = new WeakMap<CodecParams, CodecLayout>();

export function layoutOf(params: CodecParams = DEFAULT_CODEC): CodecLayout {
  const cached = layouts.get(params);
  if (cached) return cached;
  const p = params;
  const count = p.dataColours.length;
  const bitsPerColour = Math.log2(count);
  const fail = (why: string): never => {
    throw new RangeError(`invalid codec parameters: ${why}`);
  };
  if (!Number.isInteger(bitsPerColour) || bitsPerColour < 1)
    fail('the number of data colours must be 2, 4, 8, ...');
  for (const c of [...p.dataColours, p.syncColour]) {
    if (c.length !== 3 || c.some((v) => !(v >= 0 && v <= 255))) fail('colours are [r, g, b] in 0..255');
  }
  if (!Number.isInteger(p.syncSymbols) || p.syncSymbols < 1) fail('syncSymbols must be >= 1');
  if (p.fieldBits % bitsPerColour !== 0) fail('fieldBits must be a multiple of the bits per colour');
  if (p.messageLength * p.fieldBits < TAG_BITS) fail('the message must hold 32 bits');
  if (!(p.spareParity >= 0 && p.spareParity < p.codeLength - p.messageLength)) fail('spareParity too large');
  if (!(p.maxErasures >= 0)) fail('maxErasures must be >= 0');
  if (p.whitening.length === 0 || p.whitening.some((w) => !Number.isInteger(w) || w < 0 || w >= count)) {
    fail('whitening must be data colour indices');
  }
  const rs = new ReedSolomon(
    new GaloisField(p.fieldBits, p.primitivePolynomial),
    p.codeLength,
    p.messageLength,
    p.firstRoot,
  );
  const coloursPerSymbol = p.fieldBits / bitsPerColour;
  const dataLength = p.codeLength * coloursPerSymbol;
  const layout: CodecLayout = {
    params,
    rs,
    bitsPerColour,
    coloursPerSymbol,
    paletteSize: count + 1,
    syncIndex: count,
    dataLength,
    cycleLength: p.syncSymbols + dataLength,
    palette: [...p.dataColours, p.syncColour].map((c) => [c[0] / 255, c[1] / 255, c[2] / 255] as const),
  };
  layouts.set(params, layout);
  return layout;
}
