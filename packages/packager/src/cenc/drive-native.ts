/** The cipher drivers on the native AES (`@vigil/aes-native`): ranges of the segment in one call. */
import type { NativeAes } from '@vigil/aes-native';
import type { Pattern } from './cipher.ts';
import type { CtrWork, SampleJob } from './plan.ts';

/**
 * The CTR ranges of one sample's protected bytes, appended to `out` five numbers each: input offset and
 * length, then where they start in the keystream of counter block `iv` (block, byte), the sample's
 * keystream beginning at block `block`. Checks the subsample map as `ctrSample` does.
 */
function pushCtrRanges(out: number[], job: SampleJob, srcLength: number, iv: number, block: number): void {
  const { offset, size } = job.sample;
  if (offset + size > srcLength) throw new Error('sample data lies outside the segment');
  const subsamples = job.subsamples;
  if (!subsamples) {
    if (size > 0) out.push(offset, size, iv, block, 0);
    return;
  }
  let o = 0;
  let used = 0;
  for (const sub of subsamples) {
    o += sub.clear;
    if (sub.protected > 0) {
      if (o + sub.protected > size) throw new Error('subsamples overrun the sample');
      out.push(offset + o, sub.protected, iv, block + Math.floor(used / 16), used % 16);
      used += sub.protected;
      o += sub.protected;
    }
  }
  if (o !== size) throw new Error(`subsamples cover ${o} bytes of a ${size}-byte sample`);
}

/**
 * The CTR work of a segment for the native AES: only the protected ranges, each at its own place in the
 * segment's keystream (counter block 0 of `ivs`), so the bytes are those of `runCtrWork`'s one pass.
 */
export function ctrRangesOfWork(work: CtrWork[], srcLength: number): number[] {
  const ranges: number[] = [];
  for (const w of work) {
    if (w.job) {
      pushCtrRanges(ranges, w.job, srcLength, 0, w.job.block);
      continue;
    }
    const span = w.span;
    if (span.end > srcLength) throw new Error('sample data lies outside the segment');
    for (const [i, sample] of span.samples.entries()) {
      let o = sample.offset;
      for (const sub of span.subsamples[i]!) {
        o += sub.clear;
        if (sub.protected > 0) {
          const at = o - span.start;
          ranges.push(o, sub.protected, 0, span.block + Math.floor(at / 16), at % 16);
        }
        o += sub.protected;
      }
      if (o !== sample.offset + sample.size) throw new Error('subsamples do not cover the sample');
    }
  }
  return ranges;
}

/** The CTR ranges of samples with IVs of their own (8-byte IVs): the n-th job's IV is the n-th of `ivs`. */
export function ctrRangesOfJobs(jobs: SampleJob[], srcLength: number): { ranges: number[]; ivs: Buffer } {
  const ranges: number[] = [];
  const ivs = Buffer.allocUnsafe(16 * jobs.length);
  for (const [i, job] of jobs.entries()) {
    job.iv!.copy(ivs, 16 * i);
    pushCtrRanges(ranges, job, srcLength, i, 0);
  }
  return { ranges, ivs };
}

/** The input ranges of CTR ranges (five numbers each): what the native AES writes. */
export function holesOf(ranges: number[]): [number, number][] {
  const holes: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 5) holes.push([ranges[i]!, ranges[i]! + ranges[i + 1]!]);
  return holes;
}

/**
 * AES-CTR with the native AES from the input straight into the output (where the rewrite left the
 * protected ranges uncopied): one pass over the memory, no buffer per call.
 */
export function runCtrNative(
  aes: NativeAes,
  key: Buffer,
  ivs: Buffer,
  ranges: number[],
  src: Buffer,
  dst: Buffer,
  newOffset: (old: number) => number,
): void {
  const r = new Float64Array((ranges.length / 5) * 6);
  for (let i = 0, k = 0; i < ranges.length; i += 5, k += 6) {
    const from = ranges[i]!;
    r[k] = newOffset(from);
    r[k + 1] = ranges[i + 1]!;
    r[k + 2] = ranges[i + 2]!;
    r[k + 3] = ranges[i + 3]!;
    r[k + 4] = ranges[i + 4]!;
    r[k + 5] = from;
  }
  aes.ctr(dst, key, ivs, r, src);
}

/** cbcs encryption with the native AES, in place in `dst` (which holds a full copy of the input). */
export function runCbcsNative(
  aes: NativeAes,
  key: Buffer,
  pattern: Pattern,
  jobs: SampleJob[],
  srcLength: number,
  dst: Buffer,
  newOffset: (old: number) => number,
): void {
  if (jobs.length === 0) return;
  const ranges: number[] = [];
  // every sample's IV is the constant IV
  const iv = jobs[0]!.iv!;
  for (const job of jobs) {
    if (!job.iv!.equals(iv)) throw new Error('cbcs samples with different IVs');
    const { offset, size } = job.sample;
    if (offset + size > srcLength) throw new Error('sample data lies outside the segment');
    const to = newOffset(offset);
    if (!job.subsamples) {
      ranges.push(to, size);
      continue;
    }
    let o = 0;
    for (const s of job.subsamples) {
      o += s.clear;
      if (s.protected > 0) {
        if (o + s.protected > size) throw new Error('subsamples overrun the sample');
        ranges.push(to + o, s.protected);
        o += s.protected;
      }
    }
    if (o !== size) throw new Error(`subsamples cover ${o} bytes of a ${size}-byte sample`);
  }
  aes.cbc(dst, key, iv, new Float64Array(ranges), pattern.crypt, pattern.skip);
}
