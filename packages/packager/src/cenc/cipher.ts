/**
 * The two ISO/IEC 23001-7 ciphers over one sample, reading clear (or encrypted) bytes from `src` and
 * writing only the protected bytes into `dst` (which already holds a copy of the sample):
 *
 * - `cenc` (§10.1): AES-128-CTR, one counter stream per sample started at the sample's IV (an 8-byte IV
 *   fills the upper half of the counter block), running on across the protected ranges of all its
 *   subsamples. One cipher object per sample, fed whole protected ranges.
 * - `cbcs` (§10.4): AES-128-CBC with a crypt:skip pattern of 16-byte blocks, restarted with the IV
 *   at every subsample; in a protected range only whole blocks count, a trailing partial block stays
 *   clear. The encrypted blocks of one range form a single CBC chain that continues across the
 *   skipped blocks, so they are gathered into one buffer, run through one cipher and scattered back.
 *   Pattern 0:0 means every whole block of the range.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import type { Subsample } from './types.ts';

export type AesKey = Buffer | KeyObject;

export interface Pattern {
  crypt: number;
  skip: number;
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
  if (!subsamples) {
    if (size > 0) cipher.update(src.subarray(srcStart, srcStart + size)).copy(dst, dstStart);
    return;
  }
  let o = 0;
  for (const s of subsamples) {
    o += s.clear;
    if (s.protected > 0) {
      if (o + s.protected > size) throw new Error('subsamples overrun the sample');
      cipher.update(src.subarray(srcStart + o, srcStart + o + s.protected)).copy(dst, dstStart + o);
      o += s.protected;
    }
  }
  if (o !== size) throw new Error(`subsamples cover ${o} bytes of a ${size}-byte sample`);
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
  if (!subsamples) {
    cbcRange(decrypt, key, iv, pattern, src, srcStart, size, dst, dstStart);
    return;
  }
  let o = 0;
  for (const s of subsamples) {
    o += s.clear;
    if (s.protected > 0) {
      if (o + s.protected > size) throw new Error('subsamples overrun the sample');
      cbcRange(decrypt, key, iv, pattern, src, srcStart + o, s.protected, dst, dstStart + o);
      o += s.protected;
    }
  }
  if (o !== size) throw new Error(`subsamples cover ${o} bytes of a ${size}-byte sample`);
}
