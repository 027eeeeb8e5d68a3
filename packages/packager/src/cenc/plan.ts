/** Planning the CTR keystream and the ranges the cipher rewrites: what each sample's encryption is. */
import { createSecretKey } from 'node:crypto';
import type { FragmentSample } from '../isobmff/fragment.ts';
import type { AesKey, Pattern } from './cipher.ts';
import { AUDIO_PATTERN } from './init.ts';
import type { Subsample } from './types.ts';

export const MASK64 = (1n << 64n) - 1n;
export const MASK128 = (1n << 128n) - 1n;

export interface SampleJob {
  sample: FragmentSample;
  /** 16-byte cipher IV (CTR counter block or CBC IV); null on the segment's CTR keystream */
  iv: Buffer | null;
  /** on the segment's CTR keystream: the counter block (from its first) where the sample starts */
  block: number;
  subsamples: Subsample[] | null;
}

/** The samples of one traf, encrypted by one pass of the segment's CTR keystream over their data. */
export interface SpanJob {
  /** input offsets of the run of sample data */
  start: number;
  end: number;
  /** the counter block (from the keystream's first) at `start` */
  block: number;
  samples: FragmentSample[];
  subsamples: Subsample[][];
}

/** What runs on the segment's CTR keystream, in order. */
export type CtrWork = { span: SpanJob; job?: undefined } | { job: SampleJob; span?: undefined };

export function checkKey(key: Buffer): Buffer {
  if (key.length !== 16) throw new Error('the content key must be 16 bytes (AES-128)');
  return key;
}

export function aesKey(key: Buffer): AesKey {
  return createSecretKey(checkKey(key));
}

/** Input ranges the cipher rewrites completely (CTR protected ranges, whole-block CBC). */
export function overwritten(scheme: string, pattern: Pattern, jobs: SampleJob[]): [number, number][] {
  const ranges: [number, number][] = [];
  if (scheme === 'cbcs' && pattern.crypt !== 0 && pattern.skip !== 0) return ranges;
  for (const { sample, subsamples } of jobs) {
    if (!subsamples) {
      const length = scheme === 'cenc' ? sample.size : sample.size - (sample.size % 16);
      if (length > 0) ranges.push([sample.offset, sample.offset + length]);
      continue;
    }
    let o = sample.offset;
    for (const s of subsamples) {
      o += s.clear;
      const length = scheme === 'cenc' ? s.protected : s.protected - (s.protected % 16);
      if (length > 0) ranges.push([o, o + length]);
      o += s.protected;
    }
  }
  return ranges;
}

/** Input ranges that `runCtrWork` rewrites completely. */
export function overwrittenByCtr(work: CtrWork[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const w of work) {
    if (w.span) ranges.push([w.span.start, w.span.end]);
    else ranges.push(...overwritten('cenc', AUDIO_PATTERN, [w.job]));
  }
  return ranges;
}

/** Bytes of a sample that AES-CTR protects: the protected bytes of its subsamples, or all of it. */
export function protectedBytes(size: number, subsamples: Subsample[] | null): number {
  if (!subsamples) return size;
  let n = 0;
  for (const s of subsamples) n += s.protected;
  return n;
}

/**
 * Lays the samples of one traf on the segment's CTR keystream, which is at counter block `block`:
 * appends their work to `work` and returns each sample's IV (as a counter block number) and where the
 * keystream will be after them. One pass over all the sample data when the samples are contiguous and
 * none has more than one protected range (the subsample map then starts each range on a block
 * boundary from the first sample); otherwise sample after sample.
 */
export function planCtr(
  samples: FragmentSample[],
  subs: Subsample[][] | null,
  block: number,
  work: CtrWork[],
  /** the IV (a negative number) for a sample without protected bytes */
  unusedIv: () => number,
): { blocks: number[]; next: number } {
  const count = samples.length;
  const blocks: number[] = new Array(count);
  let span = subs !== null && count > 0;
  for (let i = 0; span && i < count; i++) {
    const s = samples[i]!;
    if (i > 0 && s.offset !== samples[i - 1]!.offset + samples[i - 1]!.size) span = false;
    let ranges = 0;
    for (const sub of subs![i]!) if (sub.protected > 0) ranges++;
    if (ranges > 1) span = false;
  }
  if (span) {
    const start = samples[0]!.offset;
    const last = samples[count - 1]!;
    const end = last.offset + last.size;
    for (let i = 0; i < count; i++) {
      let o = samples[i]!.offset;
      let first = -1;
      for (const sub of subs![i]!) {
        o += sub.clear;
        if (sub.protected > 0) {
          first = o;
          break;
        }
      }
      if (first >= 0 && (first - start) % 16 !== 0) throw new Error('protected range off the block grid');
      blocks[i] = first < 0 ? unusedIv() : block + (first - start) / 16;
    }
    work.push({ span: { start, end, block, samples, subsamples: subs! } });
    return { blocks, next: block + Math.ceil((end - start) / 16) };
  }
  let next = block;
  for (let i = 0; i < count; i++) {
    const sample = samples[i]!;
    const sampleSubs = subs ? subs[i]! : null;
    work.push({ job: { sample, iv: null, block: next, subsamples: sampleSubs } });
    blocks[i] = next;
    next += Math.max(1, Math.ceil(protectedBytes(sample.size, sampleSubs) / 16));
  }
  if (next >= 2 ** 52) throw new Error('segment too large');
  return { blocks, next };
}
