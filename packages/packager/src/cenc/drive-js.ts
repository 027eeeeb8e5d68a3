/** The cipher drivers on `node:crypto`: one CTR keystream across a segment, or a cipher per sample. */
import { type AesKey, CtrStream, cbcsSample, ctrSample, forEachProtected, type Pattern } from './cipher.ts';
import { type CtrWork, MASK128, type SampleJob } from './plan.ts';

/** The protected bytes of one sample through `stream`, written to `dst` at `to`. */
function ctrThrough(stream: CtrStream, src: Buffer, job: SampleJob, to: number): void {
  const { offset, size } = job.sample;
  if (offset + size > src.length) throw new Error('sample data lies outside the segment');
  forEachProtected(size, job.subsamples, (o, n) => stream.update(src, offset + o, n, to + o));
}

/** Copies `src[from, from + n)` to `dst` at `to`: a loop for the few bytes of a NAL unit's header. */
function copySmall(src: Buffer, from: number, n: number, dst: Buffer, to: number): void {
  if (n > 64) src.copy(dst, to, from, from + n);
  else for (let i = 0; i < n; i++) dst[to + i] = src[from + i]!;
}

/**
 * Encryption on the segment's one AES-CTR keystream (started at `firstIv`): each item where the
 * keystream is at its `block`, as the IVs written for it say.
 */
export function runCtrWork(
  key: AesKey,
  firstIv: Buffer,
  work: CtrWork[],
  src: Buffer,
  dst: Buffer,
  newOffset: (old: number) => number,
): void {
  const stream = new CtrStream(key, firstIv, dst);
  for (const w of work) {
    if (w.job) {
      if (stream.block !== w.job.block) throw new Error('the keystream and the sample IVs disagree');
      ctrThrough(stream, src, w.job, newOffset(w.job.sample.offset));
      stream.endSample(true);
      continue;
    }
    const span = w.span;
    if (stream.block !== span.block) throw new Error('the keystream and the sample IVs disagree');
    if (span.end > src.length) throw new Error('sample data lies outside the segment');
    const shift = newOffset(span.start) - span.start;
    stream.update(src, span.start, span.end - span.start, span.start + shift);
    stream.flush();
    // put the clear bytes back
    for (const [i, sample] of span.samples.entries()) {
      let o = sample.offset;
      for (const sub of span.subsamples[i]!) {
        copySmall(src, o, sub.clear, dst, o + shift);
        o += sub.clear + sub.protected;
      }
      if (o !== sample.offset + sample.size) throw new Error('subsamples do not cover the sample');
    }
    stream.endSample(false);
  }
  stream.flush();
}

/**
 * Decryption with AES-CTR, sample after sample (in order), on one keystream for as long as the samples'
 * IVs follow it: a sample whose IV is the stream's next counter block, or a few blocks past it (the
 * blocks are skipped), goes on with it; any other starts a new one.
 */
export function runCtrDecrypt(
  key: AesKey,
  jobs: SampleJob[],
  src: Buffer,
  dst: Buffer,
  newOffset: (old: number) => number,
): void {
  let stream: CtrStream | null = null;
  let start = 0n;
  for (const job of jobs) {
    const iv = (job.iv!.readBigUInt64BE(0) << 64n) | job.iv!.readBigUInt64BE(8);
    const ahead = stream ? (iv - start - BigInt(stream.block)) & MASK128 : -1n;
    if (ahead > 0n && ahead <= 64n) stream!.skipBlocks(Number(ahead));
    else if (ahead !== 0n) {
      stream?.flush();
      stream = new CtrStream(key, job.iv!, dst);
      start = iv;
    }
    ctrThrough(stream!, src, job, newOffset(job.sample.offset));
    stream!.endSample(false);
  }
  stream?.flush();
}

/** One cipher per sample (cbcs, and 8-byte cenc IVs when encrypting). */
export function runJobs(
  decrypt: boolean,
  scheme: string,
  key: AesKey,
  pattern: Pattern,
  jobs: SampleJob[],
  src: Buffer,
  dst: Buffer,
  newOffset: (old: number) => number,
): void {
  for (const job of jobs) {
    const { offset, size } = job.sample;
    if (offset + size > src.length) throw new Error('sample data lies outside the segment');
    const to = newOffset(offset);
    if (scheme === 'cenc') ctrSample(key, job.iv!, src, offset, size, job.subsamples, dst, to);
    else cbcsSample(decrypt, key, job.iv!, pattern, src, offset, size, job.subsamples, dst, to);
  }
}
