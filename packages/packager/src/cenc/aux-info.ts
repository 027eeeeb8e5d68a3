/**
 * Sample auxiliary information (ISO/IEC 23001-7 §7): writing `senc` with `saiz`/`saio` pointing into it, and
 * the one reader of per-sample IVs and subsample maps (from `senc`, or from `saiz`/`saio`).
 */
import { type Box, find, fullBoxHeader, makeFullBox } from '../isobmff/box.ts';
import type { TrafInfo } from '../isobmff/fragment.ts';
import type { Subsample } from './types.ts';

export const SENC_SUBSAMPLES = 0x2;
export const SENC_OVERRIDE_TRACK_ENCRYPTION = 0x1;
export const AUX_BOXES: ReadonlySet<string> = new Set(['senc', 'saiz', 'saio']);

/**
 * `senc` for `count` samples: `ivSize` bytes of IV each, written by `writeIv` at `o` of the payload,
 * and the subsample map when `subs` is given.
 */
export function sencBox(
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

export function saizBox(sizes: number[]): Buffer {
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

export function saioBox(): Buffer {
  // one entry; the offset is filled in once the moof is laid out
  return makeFullBox('saio', 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]));
}

/** The entries of a `senc`: per-sample IVs (subarrays of the buffer) and subsample maps. */
export interface SencEntries {
  /** bytes of each IV: the one asked for, or the one the senc states (override flag) */
  ivSize: number;
  ivs: Buffer[];
  /** null for a sample without a subsample map (senc without flag 0x2) */
  subs: (Subsample[] | null)[];
  /** where the last entry ends: the box's end for a well-formed senc */
  end: number;
}

/**
 * The one `senc` reader: its entries with `ivSize`-byte IVs (or the IV size the senc states itself),
 * or null when they run past the end of the box.
 */
export function readSenc(buf: Buffer, senc: Box, ivSize: number): SencEntries | null {
  const { flags } = fullBoxHeader(buf, senc);
  let o = senc.payload + 4;
  let ivBytes = ivSize;
  if (flags & SENC_OVERRIDE_TRACK_ENCRYPTION) {
    if (o + 20 > senc.end) return null;
    ivBytes = buf[o + 3]!; // AlgorithmID (24 bits), IV_size, KID
    o += 20;
  }
  if (o + 4 > senc.end) return null;
  const count = buf.readUInt32BE(o);
  o += 4;
  const hasSubs = (flags & SENC_SUBSAMPLES) !== 0;
  const ivs: Buffer[] = [];
  const subs: (Subsample[] | null)[] = [];
  for (let i = 0; i < count; i++) {
    if (o + ivBytes > senc.end) return null;
    ivs.push(buf.subarray(o, o + ivBytes));
    o += ivBytes;
    if (!hasSubs) {
      subs.push(null);
      continue;
    }
    if (o + 2 > senc.end) return null;
    const n = buf.readUInt16BE(o);
    o += 2;
    if (o + 6 * n > senc.end) return null;
    const list: Subsample[] = [];
    for (let k = 0; k < n; k++, o += 6)
      list.push({ clear: buf.readUInt16BE(o), protected: buf.readUInt32BE(o + 2) });
    subs.push(list);
  }
  return { ivSize: ivBytes, ivs, subs, end: o };
}

/** Per-sample IVs and subsample maps of a traf, from its senc, or from saiz/saio elsewhere. */
export function readSampleInfo(
  seg: Buffer,
  traf: TrafInfo,
  moof: Box,
  ivSize: number,
): { ivs: Buffer[] | null; subs: (Subsample[] | null)[] } | null {
  const count = traf.samples.length;
  const senc = find(traf.children, 'senc');
  if (senc) {
    const entries = readSenc(seg, senc, ivSize);
    if (entries && entries.ivs.length !== count)
      throw new Error('senc and trun disagree on the sample count');
    if (!entries) throw new Error('malformed sample encryption information');
    return { ivs: entries.ivSize > 0 ? entries.ivs : null, subs: entries.subs };
  }
  const saiz = find(traf.children, 'saiz');
  const saio = find(traf.children, 'saio');
  if (!saiz || !saio) return null;
  const saizFlags = fullBoxHeader(seg, saiz).flags;
  let z = saiz.payload + 4 + (saizFlags & 1 ? 8 : 0);
  const defaultSize = seg[z]!;
  if (seg.readUInt32BE(z + 1) !== count) throw new Error('saiz and trun disagree on the sample count');
  z += 5;
  const saioHeader = fullBoxHeader(seg, saio);
  let s = saio.payload + 4 + (saioHeader.flags & 1 ? 8 : 0);
  if (seg.readUInt32BE(s) !== 1) throw new Error('only a single saio entry is supported');
  s += 4;
  const offset = saioHeader.version === 0 ? seg.readUInt32BE(s) : Number(seg.readBigUInt64BE(s));
  const base = traf.base === 'moof' ? moof.start : traf.baseOffset;
  // Sample auxiliary information elsewhere: each entry an IV, then a subsample map if the entry is longer.
  const ivs: Buffer[] = [];
  const subs: (Subsample[] | null)[] = [];
  let o = base + offset;
  for (let i = 0; i < count; i++) {
    const entryEnd = o + (defaultSize === 0 ? seg[z + i]! : defaultSize);
    ivs.push(seg.subarray(o, o + ivSize));
    o += ivSize;
    if (o < entryEnd) {
      const n = seg.readUInt16BE(o);
      o += 2;
      const list: Subsample[] = [];
      for (let k = 0; k < n; k++, o += 6)
        list.push({ clear: seg.readUInt16BE(o), protected: seg.readUInt32BE(o + 2) });
      subs.push(list);
    } else {
      subs.push(null);
    }
    if (o > seg.length || o !== entryEnd) throw new Error('malformed sample encryption information');
  }
  return { ivs: ivSize > 0 ? ivs : null, subs };
}
