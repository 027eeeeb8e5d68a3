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

/** Per-sample IVs and subsample maps of a traf, from its senc, or from saiz/saio elsewhere. */
export function readSampleInfo(
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
