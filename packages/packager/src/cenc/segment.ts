/**
 * Media segments: encrypting the samples of one track and adding its sample auxiliary information
 * (ISO/IEC 23001-7 §7: `senc`, with `saiz`/`saio` pointing into it), and the inverse.
 *
 * Per-sample information:
 * - `cenc`: a per-sample IV; video also has a subsample map (senc flag 0x2). Audio is encrypted whole.
 *   By default the IVs are 16 bytes, all ivSeed·2^64 + a counter block number, and one AES-CTR
 *   keystream, started at ivSeed·2^64, runs across the segment; each sample's IV is the counter block
 *   at which its protected bytes start in that keystream, so a decryptor restarting at each sample's IV
 *   computes exactly the same bytes. Two ways to lay the samples of a traf on the keystream:
 *   - one pass over all its sample data (H.264 whose samples are contiguous and each have at most one
 *     protected range, the usual single-slice pictures): the subsample map puts each protected range
 *     on a 16-byte boundary from the first sample's first byte (see `avcSubsamples`), the whole run of
 *     sample data goes through the cipher in large calls, and the clear bytes are put back afterwards.
 *     The keystream under clear bytes is thrown away; each counter block encrypts at most one published
 *     protected block.
 *   - sample after sample (audio, multi-slice pictures): the protected bytes of each sample in turn,
 *     then the rest of the keystream block skipped, so each sample's IV is the previous one plus the
 *     blocks it used (at least one, so no two samples share an IV).
 *   A sample without protected bytes gets an IV of its own above 2^63 in the low half, which no
 *   keystream reaches. The low 64 bits never wrap within a segment, so decryptors that increment only
 *   them (ffmpeg) and those that increment all 128 (OpenSSL, BoringSSL) agree. With
 *   `perSampleIvSize: 8`, the n-th sample gets (ivSeed + n) mod 2^64 and a cipher of its own.
 * - `cbcs`: no per-sample IV (the constant IV of `tenc`); video has a subsample map. Audio, encrypted
 *   whole with the constant IV, then has no per-sample information at all, and like Shaka Packager we
 *   write no `senc`/`saiz`/`saio` for it (ISO/IEC 23001-7: empty sample auxiliary information should be
 *   omitted; Chromium applies the constant IV when there is none).
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import type { NativeAes } from '@vigil/aes-native';
import { type Box, find, fullBoxHeader, makeFullBox } from '../isobmff/box.ts';
import type { FragmentSample, TrafInfo } from '../isobmff/fragment.ts';
import { rewriteSegment } from '../isobmff/rewrite.ts';
import { type AvcParams, avcParams } from './avc.ts';
import { type AesKey, CtrStream, cbcsSample, ctrSample, type Pattern } from './cipher.ts';
import {
  AUDIO_PATTERN,
  checkCbcsIv,
  checkIvSize,
  type InitTrack,
  kidBytes,
  readInitTracks,
  VIDEO_PATTERN,
} from './init.ts';
import { nativeAes } from './native.ts';
import { avcSubsamples } from './subsamples.ts';
import type { Scheme, Subsample, TrackInfo } from './types.ts';

const SENC_SUBSAMPLES = 0x2;
const SENC_OVERRIDE_TRACK_ENCRYPTION = 0x1;
const AUX_BOXES: ReadonlySet<string> = new Set(['senc', 'saiz', 'saio']);
const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;

interface SampleJob {
  sample: FragmentSample;
  /** 16-byte cipher IV (CTR counter block or CBC IV); null on the segment's CTR keystream */
  iv: Buffer | null;
  /** on the segment's CTR keystream: the counter block (from its first) where the sample starts */
  block: number;
  subsamples: Subsample[] | null;
}

/** The samples of one traf, encrypted by one pass of the segment's CTR keystream over their data. */
interface SpanJob {
  /** input offsets of the run of sample data */
  start: number;
  end: number;
  /** the counter block (from the keystream's first) at `start` */
  block: number;
  samples: FragmentSample[];
  subsamples: Subsample[][];
}

/** What runs on the segment's CTR keystream, in order. */
type CtrWork = { span: SpanJob; job?: undefined } | { job: SampleJob; span?: undefined };

export interface EncryptSegmentOptions {
  scheme: Scheme;
  key: Buffer;
  kid: string;
  /** cbcs: the 16-byte constant IV (the one given to encryptInit) */
  iv?: Buffer;
  /**
   * cenc: the IVs of this segment. With 16-byte IVs (the default), the segment's IVs are ivSeed·2^64
   * plus counter block numbers (below 2^64): any two segments with different seeds have disjoint
   * keystreams. With 8-byte IVs the n-th sample gets ivSeed + n, so seeds must lie at least the sample
   * count apart. Either way IVs must never repeat under one key: give each segment (and each rendition
   * sharing the key) its own seed, e.g. (rendition << 48n) | (segment << 20n). Default: random.
   */
  ivSeed?: bigint;
  /**
   * cenc: bytes of each per-sample IV, 16 (default: one keystream across the segment, the fast path) or
   * 8 (a cipher per sample). It must be the `perSampleIvSize` given to encryptInit for the init segment.
   */
  perSampleIvSize?: 8 | 16;
}

function checkKey(key: Buffer): Buffer {
  if (key.length !== 16) throw new Error('the content key must be 16 bytes (AES-128)');
  return key;
}

function aesKey(key: Buffer): AesKey {
  return createSecretKey(checkKey(key));
}

/**
 * `senc` for `count` samples: `ivSize` bytes of IV each, written by `writeIv` at `o` of the payload,
 * and the subsample map when `subs` is given.
 */
function sencBox(
  count: number,
  ivSize: number,
  writeIv: (i: number, payload: Buffer, o: number) => void,
  subs: Subsample[][] | null,
): Buffer {
  let size = 4 + count * ivSize;
  if (subs) for (let i = 0; i < count; i++) size += 2 + 6 * subs[i]!.length;
  const payload = Buffer.allocUnsafe(size);
  let o = payload.writeUInt32BE(count, 0);
  for (let i = 0; i < count; i++) {
    if (ivSize > 0) {
      writeIv(i, payload, o);
      o += ivSize;
    }
    if (subs) {
      const s = subs[i]!;
      o = payload.writeUInt16BE(s.length, o);
      for (const e of s) {
        o = payload.writeUInt16BE(e.clear, o);
        o = payload.writeUInt32BE(e.protected, o);
      }
    }
  }
  return makeFullBox('senc', 0, subs ? SENC_SUBSAMPLES : 0, payload);
}

function saizBox(sizes: number[]): Buffer {
  const first = sizes[0] ?? 0;
  const uniform = sizes.every((s) => s === first);
  const payload = Buffer.alloc(5 + (uniform ? 0 : sizes.length));
  payload[0] = uniform ? first : 0;
  payload.writeUInt32BE(sizes.length, 1);
  if (!uniform) {
    for (const [i, s] of sizes.entries()) {
      if (s > 255) throw new Error('sample auxiliary information over 255 bytes (too many subsamples)');
      payload[5 + i] = s;
    }
  }
  return makeFullBox('saiz', 0, 0, payload);
}

function saioBox(): Buffer {
  // one entry; the offset is filled in once the moof is laid out
  return makeFullBox('saio', 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]));
}

/** Input ranges the cipher rewrites completely (CTR protected ranges, whole-block CBC). */
function overwritten(scheme: string, pattern: Pattern, jobs: SampleJob[]): [number, number][] {
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
function overwrittenByCtr(work: CtrWork[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const w of work) {
    if (w.span) ranges.push([w.span.start, w.span.end]);
    else ranges.push(...overwritten('cenc', AUDIO_PATTERN, [w.job]));
  }
  return ranges;
}

/** Bytes of a sample that AES-CTR protects: the protected bytes of its subsamples, or all of it. */
function protectedBytes(size: number, subsamples: Subsample[] | null): number {
  if (!subsamples) return size;
  let n = 0;
  for (const s of subsamples) n += s.protected;
  return n;
}

/** The protected bytes of one sample through `stream`, written to `dst` at `to`. */
function ctrThrough(stream: CtrStream, src: Buffer, job: SampleJob, to: number): void {
  const { offset, size } = job.sample;
  if (offset + size > src.length) throw new Error('sample data lies outside the segment');
  const subsamples = job.subsamples;
  if (!subsamples) {
    if (size > 0) stream.update(src, offset, size, to);
    return;
  }
  let o = 0;
  for (const sub of subsamples) {
    o += sub.clear;
    if (sub.protected > 0) {
      if (o + sub.protected > size) throw new Error('subsamples overrun the sample');
      stream.update(src, offset + o, sub.protected, to + o);
      o += sub.protected;
    }
  }
  if (o !== size) throw new Error(`subsamples cover ${o} bytes of a ${size}-byte sample`);
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
function runCtrWork(
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
function runCtrDecrypt(
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
function runJobs(
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
function ctrRangesOfWork(work: CtrWork[], srcLength: number): number[] {
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
function ctrRangesOfJobs(jobs: SampleJob[], srcLength: number): { ranges: number[]; ivs: Buffer } {
  const ranges: number[] = [];
  const ivs = Buffer.allocUnsafe(16 * jobs.length);
  for (const [i, job] of jobs.entries()) {
    job.iv!.copy(ivs, 16 * i);
    pushCtrRanges(ranges, job, srcLength, i, 0);
  }
  return { ranges, ivs };
}

/** The input ranges of CTR ranges (five numbers each): what the native AES writes. */
function holesOf(ranges: number[]): [number, number][] {
  const holes: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 5) holes.push([ranges[i]!, ranges[i]! + ranges[i + 1]!]);
  return holes;
}

/**
 * AES-CTR with the native AES from the input straight into the output (where the rewrite left the
 * protected ranges uncopied): one pass over the memory, no buffer per call.
 */
function runCtrNative(
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
function runCbcsNative(
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

/** Parsed avcC parameter sets per track (they never change); each segment gets maps of its own. */
const parsedParams = new WeakMap<TrackInfo, { sps?: Buffer[]; pps?: Buffer[]; params: AvcParams }>();

function trackParams(track: TrackInfo): AvcParams {
  let cached = parsedParams.get(track);
  if (!cached || cached.sps !== track.sps || cached.pps !== track.pps) {
    cached = { sps: track.sps, pps: track.pps, params: avcParams(track.sps, track.pps) };
    parsedParams.set(track, cached);
  }
  // in-band parameter sets (avc3) update the maps as they are met: copies, not the cached ones
  return { sps: new Map(cached.params.sps), pps: new Map(cached.params.pps) };
}

/**
 * Encrypts the samples of `track` in a media segment (one or more moof+mdat, optionally styp/sidx first)
 * into a new buffer, adding `senc` + `saiz` + `saio` to each of its `traf`s and correcting `trun`
 * data offsets and `sidx` sizes for the bigger `moof`s. Other tracks' `traf`s are left alone.
 */
export function encryptSegment(segment: Buffer, track: TrackInfo, opts: EncryptSegmentOptions): Buffer {
  const { scheme } = opts;
  if (scheme !== 'cenc' && scheme !== 'cbcs') throw new Error(`unknown scheme ${scheme}`);
  kidBytes(opts.kid);
  const constantIv = scheme === 'cbcs' ? checkCbcsIv(opts.iv) : undefined;
  const ivSize = scheme === 'cenc' ? checkIvSize(opts.perSampleIvSize) : 0;
  const aes = nativeAes();
  // one cipher for the whole segment with 16-byte IVs (or the native AES): no key object worth making
  const key = ivSize === 16 || aes ? checkKey(opts.key) : aesKey(opts.key);
  const video = track.handler === 'vide';
  let subsamplesOf: ((s: FragmentSample, alignBase?: number) => Subsample[]) | null = null;
  if (video) {
    if (track.codec !== 'avc1' && track.codec !== 'avc3') {
      throw new Error(`subsample encryption supports H.264 video only, not '${track.codec}'`);
    }
    const nalLengthSize = track.nalLengthSize;
    if (!nalLengthSize) throw new Error('an H.264 track needs nalLengthSize (from avcC)');
    const params = trackParams(track);
    subsamplesOf = (s, alignBase) =>
      avcSubsamples(segment, s.offset, s.size, nalLengthSize, params, scheme, alignBase);
  }
  const pattern = video ? VIDEO_PATTERN : AUDIO_PATTERN;
  const seed = (opts.ivSeed ?? randomBytes(8).readBigUInt64BE(0)) & MASK64;
  /** 8-byte IVs: the next sample's IV */
  let counter = seed;
  /** 16-byte IVs: the counter block (from seed·2^64) where the keystream is after what is planned */
  let block = 0;
  /** 16-byte IVs: samples without protected bytes so far (their IVs lie above 2^63 in the low half) */
  let unused = 0;
  const jobs: SampleJob[] = [];
  const work: CtrWork[] = [];
  /** 16-byte IVs: the keystream's first counter block, seed·2^64 */
  const firstIv = () => {
    const iv = Buffer.alloc(16);
    iv.writeBigUInt64BE(seed, 0);
    return iv;
  };
  /** with the native AES, the CTR ranges planned once the rewrite knows every traf */
  let nativeCtr: { ranges: number[]; ivs: Buffer } | undefined;

  const rewritten = rewriteSegment(
    segment,
    (id) => (id === track.trackId ? track.defaultSampleSize : undefined),
    (traf: TrafInfo) => {
      if (traf.trackId !== track.trackId) return undefined;
      if (traf.children.some((c) => AUX_BOXES.has(c.type))) throw new Error('segment is already encrypted');
      const samples = traf.samples;
      const count = samples.length;
      const alignBase = ivSize === 16 && count > 0 ? samples[0]!.offset : undefined;
      const subs = subsamplesOf ? samples.map((s) => subsamplesOf(s, alignBase)) : null;
      let writeIv: (i: number, payload: Buffer, o: number) => void = () => {};
      if (ivSize === 16) {
        // each sample's IV as its counter block number from seed·2^64; -n for the n-th sample without
        // protected bytes, whose IV is seed·2^64 + 2^63 + n - 1: no keystream gets that far
        const ivBlocks = planCtr(samples, subs, block, work, () => -++unused);
        block = ivBlocks.next;
        writeIv = (i, payload, o) => {
          const b = ivBlocks.blocks[i]!;
          payload.writeBigUInt64BE(seed, o);
          if (b < 0) {
            payload.writeUInt32BE(0x80000000, o + 8);
            payload.writeUInt32BE(-b - 1, o + 12);
          } else {
            payload.writeUInt32BE(Math.floor(b / 0x100000000), o + 8);
            payload.writeUInt32BE(b % 0x100000000, o + 12);
          }
        };
      } else {
        const first = counter;
        for (let i = 0; i < count; i++) {
          let iv = constantIv!;
          if (ivSize === 8) {
            iv = Buffer.alloc(16);
            iv.writeBigUInt64BE(counter, 0);
            counter = (counter + 1n) & MASK64;
          }
          jobs.push({ sample: samples[i]!, iv, block: 0, subsamples: subs ? subs[i]! : null });
        }
        writeIv = (i, payload, o) => {
          payload.writeBigUInt64BE((first + BigInt(i)) & MASK64, o);
        };
      }
      if (ivSize === 0 && !subs) return { append: [] };
      const sizes = samples.map((_, i) => ivSize + (subs ? 2 + 6 * subs[i]!.length : 0));
      return { append: [saizBox(sizes), saioBox(), sencBox(count, ivSize, writeIv, subs)] };
    },
    () => {
      if (!aes) return ivSize === 16 ? overwrittenByCtr(work) : overwritten(scheme, pattern, jobs);
      // native: CTR writes its protected ranges straight from the input; cbcs runs in place on a copy
      if (ivSize === 16) nativeCtr = { ranges: ctrRangesOfWork(work, segment.length), ivs: firstIv() };
      else if (ivSize === 8) nativeCtr = ctrRangesOfJobs(jobs, segment.length);
      return nativeCtr ? holesOf(nativeCtr.ranges) : [];
    },
  );
  if (aes) {
    const { data, newOffset } = rewritten;
    if (nativeCtr)
      runCtrNative(aes, key as Buffer, nativeCtr.ivs, nativeCtr.ranges, segment, data, newOffset);
    else runCbcsNative(aes, key as Buffer, pattern, jobs, segment.length, data, newOffset);
  } else if (ivSize === 16) {
    runCtrWork(key, firstIv(), work, segment, rewritten.data, rewritten.newOffset);
  } else {
    runJobs(false, scheme, key, pattern, jobs, segment, rewritten.data, rewritten.newOffset);
  }
  return rewritten.data;
}

/**
 * Lays the samples of one traf on the segment's CTR keystream, which is at counter block `block`:
 * appends their work to `work` and returns each sample's IV (as a counter block number) and where the
 * keystream will be after them. One pass over all the sample data when the samples are contiguous and
 * none has more than one protected range (the subsample map then starts each range on a block
 * boundary from the first sample); otherwise sample after sample.
 */
function planCtr(
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

/** Per-sample IVs and subsample maps of a traf, from its senc, or from saiz/saio elsewhere. */
function readSampleInfo(
  seg: Buffer,
  traf: TrafInfo,
  moof: Box,
  ivSize: number,
): { ivs: Buffer[] | null; subs: (Subsample[] | null)[] } | null {
  const count = traf.samples.length;
  const parseEntries = (
    at: number,
    ivBytes: number,
    sizes: number[] | null,
    hasSubs: boolean,
    limit: number,
  ) => {
    const ivs: Buffer[] = [];
    const subs: (Subsample[] | null)[] = [];
    let o = at;
    for (let i = 0; i < count; i++) {
      const entryEnd = sizes ? o + sizes[i]! : limit;
      ivs.push(seg.subarray(o, o + ivBytes));
      o += ivBytes;
      if (hasSubs || (sizes && o < entryEnd)) {
        const n = seg.readUInt16BE(o);
        o += 2;
        const list: Subsample[] = [];
        for (let k = 0; k < n; k++, o += 6)
          list.push({ clear: seg.readUInt16BE(o), protected: seg.readUInt32BE(o + 2) });
        subs.push(list);
      } else {
        subs.push(null);
      }
      if (o > limit || (sizes && o !== entryEnd)) throw new Error('malformed sample encryption information');
    }
    return { ivs: ivBytes > 0 ? ivs : null, subs };
  };
  const senc = find(traf.children, 'senc');
  if (senc) {
    const { flags } = fullBoxHeader(seg, senc);
    let o = senc.payload + 4;
    let ivBytes = ivSize;
    if (flags & SENC_OVERRIDE_TRACK_ENCRYPTION) {
      ivBytes = seg[o + 3]!; // AlgorithmID (24 bits), IV_size, KID
      o += 20;
    }
    if (seg.readUInt32BE(o) !== count) throw new Error('senc and trun disagree on the sample count');
    return parseEntries(o + 4, ivBytes, null, (flags & SENC_SUBSAMPLES) !== 0, senc.end);
  }
  const saiz = find(traf.children, 'saiz');
  const saio = find(traf.children, 'saio');
  if (!saiz || !saio) return null;
  const saizFlags = fullBoxHeader(seg, saiz).flags;
  let z = saiz.payload + 4 + (saizFlags & 1 ? 8 : 0);
  const defaultSize = seg[z]!;
  if (seg.readUInt32BE(z + 1) !== count) throw new Error('saiz and trun disagree on the sample count');
  z += 5;
  const sizes = Array.from({ length: count }, (_, i) => (defaultSize === 0 ? seg[z + i]! : defaultSize));
  const saioHeader = fullBoxHeader(seg, saio);
  let s = saio.payload + 4 + (saioHeader.flags & 1 ? 8 : 0);
  if (seg.readUInt32BE(s) !== 1) throw new Error('only a single saio entry is supported');
  s += 4;
  const offset = saioHeader.version === 0 ? seg.readUInt32BE(s) : Number(seg.readBigUInt64BE(s));
  const base = traf.base === 'moof' ? moof.start : traf.baseOffset;
  return parseEntries(base + offset, ivSize, sizes, false, seg.length);
}

/**
 * Decrypts every protected track of a media segment with the `tenc` defaults of its encrypted init,
 * returning the clear segment: samples decrypted, `senc`/`saiz`/`saio` removed and offsets restored, so
 * that it plays with the clear init (for what `encryptSegment` made: byte for byte the original).
 */
export function decryptSegment(segment: Buffer, encryptedInit: Buffer, key: Buffer): Buffer {
  const aes = aesKey(key);
  const tracks = new Map<number, InitTrack>();
  for (const t of readInitTracks(encryptedInit)) tracks.set(t.trackId, t);
  const work: { scheme: string; pattern: Pattern; jobs: SampleJob[] }[] = [];
  const rewritten = rewriteSegment(
    segment,
    (id) => tracks.get(id)?.defaultSampleSize,
    (traf, moof) => {
      const protection = tracks.get(traf.trackId)?.protection;
      if (!protection) return undefined;
      const { scheme, perSampleIvSize: ivSize, pattern, constantIv } = protection;
      if (scheme !== 'cenc' && scheme !== 'cbcs') throw new Error(`scheme '${scheme}' is not supported`);
      if (ivSize !== 0 && ivSize !== 8 && ivSize !== 16)
        throw new Error(`invalid per-sample IV size ${ivSize}`);
      const info = readSampleInfo(segment, traf, moof, ivSize);
      const jobs: SampleJob[] = [];
      if (protection.isProtected) {
        for (const [i, sample] of traf.samples.entries()) {
          let iv: Buffer;
          if (ivSize === 0) {
            if (!constantIv || constantIv.length !== 16) throw new Error('tenc has no 16-byte constant IV');
            iv = constantIv;
          } else {
            const sampleIv = info?.ivs?.[i];
            if (!sampleIv) throw new Error('no per-sample IV for an encrypted sample');
            iv = Buffer.alloc(16);
            sampleIv.copy(iv);
          }
          jobs.push({ sample, iv, block: 0, subsamples: info?.subs[i] ?? null });
        }
      }
      work.push({ scheme, pattern, jobs });
      return { drop: AUX_BOXES };
    },
    () => work.flatMap((w) => overwritten(w.scheme, w.pattern, w.jobs)),
  );
  for (const w of work) {
    if (w.scheme === 'cenc') runCtrDecrypt(aes, w.jobs, segment, rewritten.data, rewritten.newOffset);
    else runJobs(true, w.scheme, aes, w.pattern, w.jobs, segment, rewritten.data, rewritten.newOffset);
  }
  return rewritten.data;
}
