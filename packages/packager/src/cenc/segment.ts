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
import { randomBytes } from 'node:crypto';
import type { FragmentSample, TrafInfo } from '../isobmff/fragment.ts';
import { rewriteSegment } from '../isobmff/rewrite.ts';
import { AUX_BOXES, saioBox, saizBox, sencBox } from './aux-info.ts';
import { type AvcParams, avcParams } from './avc.ts';
import { runCtrWork, runJobs } from './drive-js.ts';
import { ctrRangesOfJobs, ctrRangesOfWork, holesOf, runCbcsNative, runCtrNative } from './drive-native.ts';
import { AUDIO_PATTERN, checkCbcsIv, checkIvSize, kidBytes, VIDEO_PATTERN } from './init.ts';
import { nativeAes } from './native.ts';
import {
  aesKey,
  type CtrWork,
  checkKey,
  MASK64,
  overwritten,
  overwrittenByCtr,
  planCtr,
  type SampleJob,
} from './plan.ts';
import { avcSubsamples } from './subsamples.ts';
import type { Scheme, Subsample, TrackInfo } from './types.ts';

export { decryptSegment } from './decrypt.ts';

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
