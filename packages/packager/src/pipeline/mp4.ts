/**
 * What the pipeline reads from ISO BMFF, over the box reader in ../isobmff: the timing and codec of the
 * clear CMAF segments ffmpeg writes, and an encrypted init segment turned back into a clear one (for
 * checks that decode decrypted fragments). Encryption itself is the CENC core's job (../cenc).
 */

import {
  type Box,
  children,
  find,
  findAll,
  findPath,
  fourcc,
  readBoxes,
  rebuildBox,
} from '../isobmff/box.ts';
import {
  TFHD_BASE_DATA_OFFSET,
  TFHD_DEFAULT_DURATION,
  TFHD_SAMPLE_DESCRIPTION_INDEX,
  TRUN_CTO,
  TRUN_DATA_OFFSET,
  TRUN_DURATION,
  TRUN_FIRST_SAMPLE_FLAGS,
  TRUN_FLAGS,
  TRUN_SIZE,
} from '../isobmff/fragment.ts';

/** Sample entries: fixed fields, then child boxes. */
const VISUAL_ENTRIES = new Set(['avc1', 'avc3', 'encv', 'hvc1', 'hev1']);
const AUDIO_ENTRIES = new Set(['mp4a', 'enca']);

/** Bytes of fixed fields before a sample entry's child boxes, or undefined for an entry type not read here. */
function entryPrefix(type: string): number | undefined {
  if (VISUAL_ENTRIES.has(type)) return 78;
  if (AUDIO_ENTRIES.has(type)) return 28;
  return undefined;
}

/** The payload of a box (after its header). */
function body(buf: Buffer, box: Box): Buffer {
  return buf.subarray(box.payload, box.end);
}

/** The child boxes of a sample entry ([] for an entry type not read here). */
function entryChildren(buf: Buffer, entry: Box): Box[] {
  const prefix = entryPrefix(entry.type);
  return prefix === undefined ? [] : children(buf, entry, prefix);
}

/** The sample entries of the first `stsd` of an init segment. */
function sampleEntries(buf: Buffer, top: Box[]): Box[] {
  const stsd = findPath(buf, top, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])[0];
  return stsd ? children(buf, stsd, 8) : [];
}

export interface InitInfo {
  trackId: number;
  timescale: number;
  handler: 'vide' | 'soun';
  /** RFC 6381 codec string, e.g. "avc1.64001f" or "mp4a.40.2". */
  codec: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** trex default_sample_duration, for fragments that do not say. */
  defaultSampleDuration: number;
  encrypted: boolean;
}

function avcCodec(avcC: Buffer | undefined, fourcc: string): string {
  if (!avcC || avcC.length < 4) return fourcc;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `${fourcc}.${hex(avcC[1]!)}${hex(avcC[2]!)}${hex(avcC[3]!)}`;
}

/** mp4a.40.<audio object type>, from the esds DecoderSpecificInfo. */
function aacCodec(esds: Buffer | undefined): string {
  if (!esds) return 'mp4a.40.2';
  const d = esds;
  let o = 4; // full box header
  const readLen = () => {
    let len = 0;
    for (let i = 0; i < 4 && o < d.length; i++) {
      const b = d[o++]!;
      len = (len << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    return len;
  };
  let oti = 0x40;
  while (o < d.length) {
    const tag = d[o++]!;
    readLen();
    if (tag === 0x03) {
      const flags = d[o + 2]!;
      o += 3;
      if (flags & 0x80) o += 2;
      if (flags & 0x40) o += 1 + d[o]!;
      if (flags & 0x20) o += 2;
    } else if (tag === 0x04) {
      oti = d[o]!;
      o += 13;
    } else if (tag === 0x05) {
      let aot = d[o]! >> 3;
      if (aot === 31) aot = 32 + (((d[o]! & 0x07) << 3) | (d[o + 1]! >> 5));
      return `mp4a.${oti.toString(16)}.${aot}`;
    } else {
      break;
    }
  }
  return `mp4a.${oti.toString(16)}.2`;
}

export function readInit(init: Buffer): InitInfo {
  const top = readBoxes(init);
  const first = (path: string) => findPath(init, top, path.split('/'))[0];
  const tkhd = first('moov/trak/tkhd');
  const mdhd = first('moov/trak/mdia/mdhd');
  const hdlr = first('moov/trak/mdia/hdlr');
  if (!tkhd || !mdhd || !hdlr) throw new Error('not an init segment (no tkhd/mdhd/hdlr)');
  const trackId = init.readUInt32BE(tkhd.payload + (init[tkhd.payload] === 1 ? 20 : 12));
  const timescale = init.readUInt32BE(mdhd.payload + (init[mdhd.payload] === 1 ? 20 : 12));
  const handlerType = fourcc(init, hdlr.payload + 8);
  if (handlerType !== 'vide' && handlerType !== 'soun')
    throw new Error(`unexpected track handler ${handlerType}`);
  const entry = sampleEntries(init, top)[0];
  if (!entry) throw new Error('the init segment has no sample description');
  const entryKids = entryChildren(init, entry);
  const encrypted = entry.type === 'encv' || entry.type === 'enca';
  const frma = findPath(init, entryKids, ['sinf', 'frma'])[0];
  const format = encrypted && frma ? fourcc(init, frma.payload) : entry.type;
  const child = (type: string) => {
    const box = find(entryKids, type);
    return box && body(init, box);
  };
  const trex = first('moov/mvex/trex');
  const info: InitInfo = {
    trackId,
    timescale,
    handler: handlerType,
    codec: format.startsWith('avc')
      ? avcCodec(child('avcC'), format)
      : format === 'mp4a'
        ? aacCodec(child('esds'))
        : format,
    defaultSampleDuration: trex ? init.readUInt32BE(trex.payload + 12) : 0,
    encrypted,
  };
  if (handlerType === 'vide') {
    info.width = init.readUInt16BE(entry.payload + 24);
    info.height = init.readUInt16BE(entry.payload + 26);
  } else {
    info.channels = init.readUInt16BE(entry.payload + 16);
    info.sampleRate = init.readUInt32BE(entry.payload + 24) >>> 16;
  }
  return info;
}

export interface FragmentTiming {
  /** tfdt baseMediaDecodeTime, in the track's timescale. */
  start: number;
  /** Sum of the sample durations, in the track's timescale. */
  duration: number;
  samples: number;
}

/** Decode start and duration of a media segment (every moof in it). */
export function readFragmentTiming(segment: Buffer, defaultSampleDuration = 0): FragmentTiming {
  let start: number | undefined;
  let duration = 0;
  let samples = 0;
  for (const traf of findPath(segment, readBoxes(segment), ['moof', 'traf'])) {
    const kids = children(segment, traf);
    const tfhd = find(kids, 'tfhd');
    const tfdt = find(kids, 'tfdt');
    if (!tfhd) throw new Error('a fragment without tfhd');
    let defaultDuration = defaultSampleDuration;
    const h = body(segment, tfhd);
    const tfhdFlags = h.readUInt32BE(0) & 0xffffff;
    let o = 8;
    if (tfhdFlags & TFHD_BASE_DATA_OFFSET) o += 8;
    if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION_INDEX) o += 4;
    if (tfhdFlags & TFHD_DEFAULT_DURATION) defaultDuration = h.readUInt32BE(o);
    if (tfdt && start === undefined) {
      const t = body(segment, tfdt);
      start = t[0] === 1 ? Number(t.readBigUInt64BE(4)) : t.readUInt32BE(4);
    }
    for (const trun of findAll(kids, 'trun')) {
      const p = body(segment, trun);
      const flags = p.readUInt32BE(0) & 0xffffff;
      const count = p.readUInt32BE(4);
      let q = 8;
      if (flags & TRUN_DATA_OFFSET) q += 4;
      if (flags & TRUN_FIRST_SAMPLE_FLAGS) q += 4;
      const per = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO].filter((f) => flags & f).length * 4;
      for (let i = 0; i < count; i++) {
        duration += flags & TRUN_DURATION ? p.readUInt32BE(q) : defaultDuration;
        q += per;
      }
      samples += count;
    }
  }
  if (start === undefined) throw new Error('a fragment without tfdt');
  return { start, duration, samples };
}

/** The default_KID of an encrypted init segment's `tenc` (32 hex digits), or undefined for a clear one. */
export function tencKid(init: Buffer): string | undefined {
  for (const entry of sampleEntries(init, readBoxes(init))) {
    const tenc = findPath(init, entryChildren(init, entry), ['sinf', 'schi', 'tenc'])[0];
    if (tenc && tenc.end - tenc.payload >= 24)
      return init.toString('hex', tenc.payload + 8, tenc.payload + 24);
  }
  return undefined;
}

/** Containers on the way from the top of an init segment to its sample descriptions. */
const TO_STSD = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);

/** `box` re-serialised with `pssh` dropped from `moov` and every protected sample entry made clear. */
function clearBox(buf: Buffer, box: Box): Buffer {
  const prefix = entryPrefix(box.type);
  const skip = TO_STSD.has(box.type) ? 0 : box.type === 'stsd' ? 8 : prefix;
  if (skip === undefined) return buf.subarray(box.start, box.end);
  let kids = children(buf, box, skip);
  let type = box.type;
  if (box.type === 'moov') kids = kids.filter((b) => b.type !== 'pssh');
  const frma = prefix === undefined ? undefined : findPath(buf, kids, ['sinf', 'frma'])[0];
  if (frma) {
    type = fourcc(buf, frma.payload);
    kids = kids.filter((b) => b.type !== 'sinf');
  }
  return rebuildBox(
    buf,
    box,
    skip,
    kids.map((b) => clearBox(buf, b)),
    type,
  );
}

/**
 * A clear init segment from an encrypted one: the sample entry gets its original format back (from
 * `frma`), `sinf` and every `pssh` go. Decrypted fragments decode against it.
 */
export function clearInit(encryptedInit: Buffer): Buffer {
  const top = readBoxes(encryptedInit);
  if (!find(top, 'moov')) throw new Error('not an init segment (no moov)');
  return Buffer.concat(top.map((box) => clearBox(encryptedInit, box)));
}
