/**
 * Media segments: encrypting the samples of one track and adding its sample auxiliary information
 * (ISO/IEC 23001-7 §7: `senc`, with `saiz`/`saio` pointing into it), and the inverse.
 *
 * Per-sample information:
 * - `cenc`: an 8-byte IV per sample, (ivSeed + n) mod 2^64 for the n-th sample of the segment; video
 *   also has a subsample map (senc flag 0x2). Audio is encrypted whole.
 * - `cbcs`: no per-sample IV (the constant IV of `tenc`); video has a subsample map. Audio, encrypted
 *   whole with the constant IV, then has no per-sample information at all, and like Shaka Packager we
 *   write no `senc`/`saiz`/`saio` for it (ISO/IEC 23001-7: empty sample auxiliary information should be
 *   omitted; Chromium applies the constant IV when there is none).
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { type Box, find, fullBoxHeader, makeFullBox } from '../isobmff/box.ts';
import type { FragmentSample, TrafInfo } from '../isobmff/fragment.ts';
import { rewriteSegment } from '../isobmff/rewrite.ts';
import { avcParams } from './avc.ts';
import { type AesKey, cbcsSample, ctrSample, type Pattern } from './cipher.ts';
import {
  AUDIO_PATTERN,
  checkCbcsIv,
  type InitTrack,
  kidBytes,
  readInitTracks,
  VIDEO_PATTERN,
} from './init.ts';
import { avcSubsamples } from './subsamples.ts';
import type { Scheme, Subsample, TrackInfo } from './types.ts';

const SENC_SUBSAMPLES = 0x2;
const SENC_OVERRIDE_TRACK_ENCRYPTION = 0x1;
const AUX_BOXES: ReadonlySet<string> = new Set(['senc', 'saiz', 'saio']);
const MASK64 = (1n << 64n) - 1n;

interface SampleJob {
  sample: FragmentSample;
  /** 16-byte cipher IV (CTR counter block or CBC IV) */
  iv: Buffer;
  subsamples: Subsample[] | null;
}

export interface EncryptSegmentOptions {
  scheme: Scheme;
  key: Buffer;
  kid: string;
  /** cbcs: the 16-byte constant IV (the one given to encryptInit) */
  iv?: Buffer;
  /**
   * cenc: the first per-sample IV of this segment; the n-th sample gets ivSeed + n. IVs must never repeat
   * under one key: give each segment (and each rendition sharing the key) its own range, e.g.
   * (rendition << 48n) | (segment << 20n). Default: random.
   */
  ivSeed?: bigint;
}

function aesKey(key: Buffer): AesKey {
  if (key.length !== 16) throw new Error('the content key must be 16 bytes (AES-128)');
  return createSecretKey(key);
}

function sencBox(ivs: Buffer[] | null, subs: Subsample[][] | null, count: number): Buffer {
  let size = 4;
  for (let i = 0; i < count; i++) size += (ivs ? ivs[i]!.length : 0) + (subs ? 2 + 6 * subs[i]!.length : 0);
  const payload = Buffer.allocUnsafe(size);
  let o = payload.writeUInt32BE(count, 0);
  for (let i = 0; i < count; i++) {
    if (ivs) o += ivs[i]!.copy(payload, o);
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
    if (scheme === 'cenc') ctrSample(key, job.iv, src, offset, size, job.subsamples, dst, to);
    else cbcsSample(decrypt, key, job.iv, pattern, src, offset, size, job.subsamples, dst, to);
  }
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
  const key = aesKey(opts.key);
  const video = track.handler === 'vide';
  let subsamplesOf: ((s: FragmentSample) => Subsample[]) | null = null;
  if (video) {
    if (track.codec !== 'avc1' && track.codec !== 'avc3') {
      throw new Error(`subsample encryption supports H.264 video only, not '${track.codec}'`);
    }
    const nalLengthSize = track.nalLengthSize;
    if (!nalLengthSize) throw new Error('an H.264 track needs nalLengthSize (from avcC)');
    const params = avcParams(track.sps, track.pps);
    subsamplesOf = (s) => avcSubsamples(segment, s.offset, s.size, nalLengthSize, params, scheme);
  }
  const constantIv = scheme === 'cbcs' ? checkCbcsIv(opts.iv) : undefined;
  const pattern = video ? VIDEO_PATTERN : AUDIO_PATTERN;
  let counter = opts.ivSeed ?? randomBytes(8).readBigUInt64BE(0);
  const jobs: SampleJob[] = [];

  const rewritten = rewriteSegment(
    segment,
    (id) => (id === track.trackId ? track.defaultSampleSize : undefined),
    (traf: TrafInfo) => {
      if (traf.trackId !== track.trackId) return undefined;
      if (traf.children.some((c) => AUX_BOXES.has(c.type))) throw new Error('segment is already encrypted');
      const count = traf.samples.length;
      const subs = subsamplesOf ? traf.samples.map(subsamplesOf) : null;
      let ivs: Buffer[] | null = null;
      if (scheme === 'cenc') {
        ivs = [];
        for (let i = 0; i < count; i++) {
          const iv = Buffer.alloc(16);
          iv.writeBigUInt64BE(counter & MASK64, 0);
          counter++;
          ivs.push(iv);
        }
      }
      for (let i = 0; i < count; i++) {
        jobs.push({
          sample: traf.samples[i]!,
          iv: ivs ? ivs[i]! : constantIv!,
          subsamples: subs ? subs[i]! : null,
        });
      }
      if (!ivs && !subs) return { append: [] };
      const ivs8 = ivs?.map((iv) => iv.subarray(0, 8)) ?? null;
      const sizes = traf.samples.map((_, i) => (ivs8 ? 8 : 0) + (subs ? 2 + 6 * subs[i]!.length : 0));
      return { append: [saizBox(sizes), saioBox(), sencBox(ivs8, subs, count)] };
    },
    () => overwritten(scheme, pattern, jobs),
  );
  runJobs(false, scheme, key, pattern, jobs, segment, rewritten.data, rewritten.newOffset);
  return rewritten.data;
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
          jobs.push({ sample, iv, subsamples: info?.subs[i] ?? null });
        }
      }
      work.push({ scheme, pattern, jobs });
      return { drop: AUX_BOXES };
    },
    () => work.flatMap((w) => overwritten(w.scheme, w.pattern, w.jobs)),
  );
  for (const w of work)
    runJobs(true, w.scheme, aes, w.pattern, w.jobs, segment, rewritten.data, rewritten.newOffset);
  return rewritten.data;
}
