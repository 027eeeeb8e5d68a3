/**
 * The two ISO/IEC 23001-7 ciphers over one sample, reading clear (or encrypted) bytes from `src` and
 * writing only the protected bytes into `dst` (which already holds a copy of the sample):
 *
 * - `cenc` (§10.1): AES-128-CTR, one counter stream per sample started at the sample's IV (an 8-byte IV
 *   fills the upper half of the counter block), running on across the protected ranges of all its
 *   subsamples. `ctrSample` runs one cipher object per sample; `CtrStream` runs one keystream across
 *   many samples, the fast path of the encryptor: each sample's IV is then the counter block at which
 *   its protected bytes start in that keystream (see `segment.ts` for the two layouts).
 * - `cbcs` (§10.4): AES-128-CBC with a crypt:skip pattern of 16-byte blocks, restarted with the IV
 *   at every subsample; in a protected range only whole blocks count, a trailing partial block stays
 *   clear. The encrypted blocks of one range form a single CBC chain that continues across the
 *   skipped blocks, so they are gathered into one buffer, run through one cipher and scattered back.
 *   Pattern 0:0 means every whole block of the range.
 */
import { type Cipher, createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import type { Subsample } from './types.ts';

export type AesKey = Buffer | KeyObject;

export interface Pattern {
  crypt: number;
  skip: number;
}

/**
 * Calls `fn(offset, length)` for each protected range of a sample of `size` bytes (offsets from the
 * sample's first byte): the whole sample without a subsample map, else each subsample's protected
 * bytes, the map covering the sample exactly.
 */
export function forEachProtected(
  size: number,
  subsamples: Subsample[] | null,
  fn: (offset: number, length: number) => void,
): void {
  if (!subsamples) {
    if (size > 0) fn(0, size);
    return;
  }
  let o = 0;
  for (const s of subsamples) {
    o += s.clear;
    if (s.protected > 0) {
      if (o + s.protected > size) throw new Error('subsamples overrun the sample');
      fn(o, s.protected);
      o += s.protected;
    }
  }
  if (o !== size) throw new Error(`subsamples cover ${o} bytes of a ${size}-byte sample`);
}

/** AES-CTR over a sample (encryption and decryption are the same operation). */
export function ctrSample(
  key: AesKey,
  iv: Buffer,
  src: Buffer,
  srcStart: number,
  size: number,
  subsamples: Subsample[] | null,
  dst: Buffer,
  dstStart: number,
): void {
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  forEachProtected(size, subsamples, (o, n) => {
    cipher.update(src.subarray(srcStart + o, srcStart + o + n)).copy(dst, dstStart + o);
  });
}

/**
 * `Cipher.update` allocates a new output buffer per call, and its fixed cost per call is that of a few
 * KiB of AES (measured here: 4 KiB calls ran at ~40% of the speed of 32 KiB ones, 1 MiB calls at ~35%).
 * So a `CtrStream` encrypts ranges of at least DIRECT bytes straight from the input, in calls of at most
 * MAX_CALL bytes, and gathers smaller ones into a reused buffer of GATHER bytes, encrypted in one call.
 */
const DIRECT = 8 * 1024;
const MAX_CALL = 64 * 1024;
const GATHER = 32 * 1024;

/**
 * One AES-128-CTR keystream over the protected bytes of many samples, written into one output buffer.
 *
 * Ranges are given in keystream order. Small ones are gathered into a reused buffer, encrypted together
 * and scattered to their places in `dst`; larger ones are encrypted straight from `src` (after whatever
 * is pending). Because the keystream advances only by what goes through the cipher, how the bytes are
 * split between calls cannot change a byte of the output.
 *
 * At the end of a sample, `endSample` skips the rest of the current keystream block, so the next sample
 * starts on a fresh counter block: with `iv` as the stream's first counter block, a sample whose
 * protected bytes go in from `block` on has the IV `iv` + `block`, and a decryptor restarting at that IV
 * computes the same bytes.
 */
export class CtrStream {
  private readonly cipher: Cipher;
  private readonly scratch = Buffer.allocUnsafe(GATHER);
  /** bytes pending in `scratch` */
  private fill = 0;
  /** pending scatter, three numbers per piece: offset in `dst`, offset in `scratch`, length */
  private readonly pieces: number[] = [];
  /** keystream bytes already through the cipher */
  private done = 0;
  private sampleStart = 0;

  constructor(
    key: AesKey,
    iv: Buffer,
    private readonly dst: Buffer,
  ) {
    this.cipher = createCipheriv('aes-128-ctr', key, iv);
  }

  /** Keystream bytes used so far. */
  get position(): number {
    return this.done + this.fill;
  }

  /** Keystream blocks used so far: the counter offset, from the first IV, of the next sample's IV. */
  get block(): number {
    return Math.ceil(this.position / 16);
  }

  /** Encrypts (or decrypts) `src[start, start + length)` into `dst` at `dstStart`, continuing the stream. */
  update(src: Buffer, start: number, length: number, dstStart: number): void {
    if (length >= DIRECT) {
      this.flush();
      const calls = Math.ceil(length / MAX_CALL);
      const step = Math.ceil(length / calls / 16) * 16;
      for (let o = 0; o < length; o += step) {
        const n = Math.min(step, length - o);
        const out = this.cipher.update(src.subarray(start + o, start + o + n));
        if (out.length !== n) throw new Error('AES-CTR returned a short output');
        this.dst.set(out, dstStart + o);
      }
      this.done += length;
      return;
    }
    let from = start;
    let to = dstStart;
    let left = length;
    while (left > 0) {
      const n = Math.min(left, GATHER - this.fill);
      src.copy(this.scratch, this.fill, from, from + n);
      this.pieces.push(to, this.fill, n);
      this.fill += n;
      from += n;
      to += n;
      left -= n;
      if (this.fill === GATHER) this.flush();
    }
  }

  /**
   * Ends a sample: skips the rest of the current keystream block. With `atLeastOneBlock`, a sample that
   * used no keystream at all still uses one block, so that every sample gets an IV of its own.
   */
  endSample(atLeastOneBlock: boolean): void {
    let skip = -this.position & 15;
    if (atLeastOneBlock && this.position === this.sampleStart) skip = 16;
    if (this.fill + skip > GATHER) this.flush();
    this.fill += skip;
    if (this.fill === GATHER) this.flush();
    this.sampleStart = this.position;
  }

  /** Skips `count` whole keystream blocks (at a block boundary). */
  skipBlocks(count: number): void {
    if (this.position % 16 !== 0) throw new Error('keystream skip off a block boundary');
    for (let left = count * 16; left > 0; ) {
      if (this.fill === GATHER) this.flush();
      const n = Math.min(left, GATHER - this.fill);
      this.fill += n;
      left -= n;
    }
    if (this.fill === GATHER) this.flush();
    this.sampleStart = this.position;
  }

  /** Runs what is pending through the cipher and writes it out. */
  flush(): void {
    if (this.fill === 0) return;
    const out = this.cipher.update(this.scratch.subarray(0, this.fill));
    if (out.length !== this.fill) throw new Error('AES-CTR returned a short output');
    const p = this.pieces;
    for (let i = 0; i < p.length; i += 3) {
      const from = p[i + 1]!;
      this.dst.set(out.subarray(from, from + p[i + 2]!), p[i]!);
    }
    p.length = 0;
    this.done += this.fill;
    this.fill = 0;
  }
}

function cbcRange(
  decrypt: boolean,
  key: AesKey,
  iv: Buffer,
  pattern: Pattern,
  src: Buffer,
  srcStart: number,
  length: number,
  dst: Buffer,
  dstStart: number,
): void {
  const blocks = length >>> 4;
  if (blocks === 0) return;
  const cipher = decrypt ? createDecipheriv('aes-128-cbc', key, iv) : createCipheriv('aes-128-cbc', key, iv);
  cipher.setAutoPadding(false);
  const { crypt, skip } = pattern;
  if (crypt === 0 || skip === 0) {
    const out = cipher.update(src.subarray(srcStart, srcStart + blocks * 16));
    if (out.length !== blocks * 16) throw new Error('AES-CBC returned a short output');
    out.copy(dst, dstStart);
    return;
  }
  const period = crypt + skip;
  const count = Math.floor(blocks / period) * crypt + Math.min(blocks % period, crypt);
  const gathered = Buffer.allocUnsafe(count * 16);
  let t = 0;
  for (let b = 0; b < blocks; b += period) {
    const from = srcStart + b * 16;
    const bytes = Math.min(crypt, blocks - b) * 16;
    for (let k = 0; k < bytes; k++) gathered[t + k] = src[from + k]!;
    t += bytes;
  }
  const out = cipher.update(gathered);
  if (out.length !== gathered.length) throw new Error('AES-CBC returned a short output');
  t = 0;
  for (let b = 0; b < blocks; b += period) {
    const to = dstStart + b * 16;
    const bytes = Math.min(crypt, blocks - b) * 16;
    for (let k = 0; k < bytes; k++) dst[to + k] = out[t + k]!;
    t += bytes;
  }
}

/** AES-CBC with a pattern over a sample: whole sample when `subsamples` is null. */
export function cbcsSample(
  decrypt: boolean,
  key: AesKey,
  iv: Buffer,
  pattern: Pattern,
  src: Buffer,
  srcStart: number,
  size: number,
  subsamples: Subsample[] | null,
  dst: Buffer,
  dstStart: number,
): void {
  forEachProtected(size, subsamples, (o, n) => {
    cbcRange(decrypt, key, iv, pattern, src, srcStart + o, n, dst, dstStart + o);
  });
}
