/**
 * Initialisation segments: reading the tracks of a (clear or encrypted) `ftyp`+`moov`, and turning a
 * clear one into an encrypted one (ISO/IEC 23001-7 §4, §8: `encv`/`enca` sample entries with `sinf`
 * = `frma` + `schm` + `schi`/`tenc`, and `pssh` boxes in `moov`).
 */
import {
  type Box,
  children,
  find,
  findAll,
  fourcc,
  fullBoxHeader,
  makeBox,
  makeFullBox,
  mustFind,
  readBoxes,
  rebuildBox,
} from '../isobmff/box.ts';
import type { Pattern } from './cipher.ts';
import type { Scheme, TrackInfo } from './types.ts';

/** The track encryption defaults of a `tenc` box, with the scheme of its `schm`. */
export interface Protection {
  scheme: string;
  isProtected: boolean;
  perSampleIvSize: number;
  kid: string;
  constantIv?: Buffer;
  pattern: Pattern;
}

export interface InitTrack extends TrackInfo {
  protection?: Protection;
}

/** Bytes of a sample entry before its child boxes (ISO/IEC 14496-12 §12.1.3, §12.2.3). */
function sampleEntryPrefix(buf: Buffer, entry: Box, handler: string): number {
  if (handler === 'vide') return 78;
  if (handler === 'soun') {
    // QuickTime sound sample description versions 1 and 2 carry extra fields.
    const version = buf.readUInt16BE(entry.payload + 8);
    return version === 1 ? 28 + 16 : version === 2 ? 28 + 36 : 28;
  }
  throw new Error(`no sample entry layout for handler '${handler}'`);
}

export function parseTenc(buf: Buffer, tenc: Box, scheme: string): Protection {
  const { version } = fullBoxHeader(buf, tenc);
  const p = tenc.payload + 4;
  const patternByte = buf[p + 1]!;
  const isProtected = buf[p + 2]! === 1;
  const perSampleIvSize = buf[p + 3]!;
  const kid = buf.toString('hex', p + 4, p + 20);
  let constantIv: Buffer | undefined;
  if (isProtected && perSampleIvSize === 0) {
    const size = buf[p + 20]!;
    constantIv = Buffer.from(buf.subarray(p + 21, p + 21 + size));
  }
  const pattern = version >= 1 ? { crypt: patternByte >> 4, skip: patternByte & 15 } : { crypt: 0, skip: 0 };
  return { scheme, isProtected, perSampleIvSize, kid, constantIv, pattern };
}

function parseSinf(buf: Buffer, sinf: Box): { original: string; protection?: Protection } {
  const kids = children(buf, sinf);
  const original = fourcc(buf, mustFind(kids, 'frma', 'sinf').payload);
  const schm = find(kids, 'schm');
  const scheme = schm ? fourcc(buf, schm.payload + 4) : '';
  const schi = find(kids, 'schi');
  const tenc = schi ? find(children(buf, schi), 'tenc') : undefined;
  return { original, protection: tenc ? parseTenc(buf, tenc, scheme) : undefined };
}

function readAvcC(buf: Buffer, avcC: Box): { nalLengthSize: number; sps: Buffer[]; pps: Buffer[] } {
  let o = avcC.payload;
  const nalLengthSize = (buf[o + 4]! & 3) + 1;
  const numSps = buf[o + 5]! & 0x1f;
  o += 6;
  const sps: Buffer[] = [];
  const pps: Buffer[] = [];
  for (let i = 0; i < numSps; i++) {
    const len = buf.readUInt16BE(o);
    sps.push(Buffer.from(buf.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  const numPps = buf[o++]!;
  for (let i = 0; i < numPps; i++) {
    const len = buf.readUInt16BE(o);
    pps.push(Buffer.from(buf.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  return { nalLengthSize, sps, pps };
}

interface TrakParts {
  trak: Box;
  mdia: Box;
  minf: Box;
  stbl: Box;
  stsd: Box;
  entries: Box[];
  handler: string;
}

function trakParts(buf: Buffer, trak: Box): TrakParts {
  const mdia = mustFind(children(buf, trak), 'mdia', 'trak');
  const mdiaKids = children(buf, mdia);
  const handler = fourcc(buf, mustFind(mdiaKids, 'hdlr', 'mdia').payload + 8);
  const minf = mustFind(mdiaKids, 'minf', 'mdia');
  const stbl = mustFind(children(buf, minf), 'stbl', 'minf');
  const stsd = mustFind(children(buf, stbl), 'stsd', 'stbl');
  return { trak, mdia, minf, stbl, stsd, entries: children(buf, stsd, 8), handler };
}

/** Every audio and video track of an init segment, clear or encrypted (then with its protection). */
export function readInitTracks(init: Buffer): InitTrack[] {
  const moov = mustFind(readBoxes(init), 'moov', 'init segment');
  const moovKids = children(init, moov);
  const trex = new Map<number, Box>();
  const mvex = find(moovKids, 'mvex');
  if (mvex)
    for (const t of findAll(children(init, mvex), 'trex')) trex.set(init.readUInt32BE(t.payload + 4), t);
  const tracks: InitTrack[] = [];
  for (const trak of findAll(moovKids, 'trak')) {
    const parts = trakParts(init, trak);
    if (parts.handler !== 'vide' && parts.handler !== 'soun') continue;
    const tkhd = mustFind(children(init, trak), 'tkhd', 'trak');
    const trackId = init.readUInt32BE(tkhd.payload + (fullBoxHeader(init, tkhd).version === 1 ? 20 : 12));
    const mdhd = mustFind(children(init, parts.mdia), 'mdhd', 'mdia');
    const timescale = init.readUInt32BE(mdhd.payload + (fullBoxHeader(init, mdhd).version === 1 ? 20 : 12));
    const entry = parts.entries[0];
    if (!entry) throw new Error(`track ${trackId} has no sample entry`);
    const entryKids = children(init, entry, sampleEntryPrefix(init, entry, parts.handler));
    const track: InitTrack = { trackId, handler: parts.handler, codec: entry.type, timescale };
    const sinf = find(entryKids, 'sinf');
    if (sinf) {
      const { original, protection } = parseSinf(init, sinf);
      track.codec = original;
      track.protection = protection;
    }
    const avcC = find(entryKids, 'avcC');
    if (avcC) Object.assign(track, readAvcC(init, avcC));
    const t = trex.get(trackId);
    const defaultSize = t ? init.readUInt32BE(t.payload + 16) : 0;
    if (defaultSize > 0) track.defaultSampleSize = defaultSize;
    tracks.push(track);
  }
  return tracks;
}

/** The audio and video tracks of a clear `ftyp`+`moov` init segment. */
export function parseInit(init: Buffer): TrackInfo[] {
  return readInitTracks(init).map(({ protection: _, ...track }) => track);
}

export const VIDEO_PATTERN: Pattern = { crypt: 1, skip: 9 };
export const AUDIO_PATTERN: Pattern = { crypt: 0, skip: 0 };

export function kidBytes(kid: string): Buffer {
  const hex = kid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`KID must be 16 bytes of hex, not "${kid}"`);
  return Buffer.from(hex, 'hex');
}

/** cenc: the per-sample IV size asked for, 16 bytes unless told otherwise. */
export function checkIvSize(size: number | undefined): 8 | 16 {
  if (size === undefined || size === 16) return 16;
  if (size === 8) return 8;
  throw new Error(`per-sample IV size must be 8 or 16 bytes, not ${size}`);
}

export function checkCbcsIv(iv: Buffer | undefined): Buffer {
  if (!iv || iv.length !== 16) throw new Error('cbcs needs the 16-byte constant IV (opts.iv)');
  return iv;
}

/** `sinf` for one track: `frma`, `schm` (version 1.0 of the scheme), `schi`/`tenc`. */
export function sinfBox(
  original: string,
  handler: string,
  scheme: Scheme,
  kid: Buffer,
  iv?: Buffer,
  perSampleIvSize: 8 | 16 = 16,
): Buffer {
  const frma = makeBox('frma', Buffer.from(original, 'latin1'));
  const schmPayload = Buffer.alloc(8);
  schmPayload.write(scheme, 0, 'latin1');
  schmPayload.writeUInt32BE(0x10000, 4);
  const schm = makeFullBox('schm', 0, 0, schmPayload);
  let tenc: Buffer;
  if (scheme === 'cenc') {
    // reserved, reserved, default_isProtected, default_Per_Sample_IV_Size, default_KID
    tenc = makeFullBox('tenc', 0, 0, Buffer.from([0, 0, 1, perSampleIvSize]), kid);
  } else {
    const constantIv = checkCbcsIv(iv);
    const { crypt, skip } = handler === 'vide' ? VIDEO_PATTERN : AUDIO_PATTERN;
    // reserved, crypt/skip pattern, isProtected, per-sample IV size 0, KID, constant IV size + IV
    tenc = makeFullBox(
      'tenc',
      1,
      0,
      Buffer.from([0, (crypt << 4) | skip, 1, 0]),
      kid,
      Buffer.from([16]),
      constantIv,
    );
  }
  return makeBox('sinf', frma, schm, makeBox('schi', tenc));
}

function keep(buf: Buffer, box: Box): Buffer {
  return buf.subarray(box.start, box.end);
}

/**
 * Clear init → encrypted init. Every audio and video sample entry becomes `encv`/`enca` with a `sinf`
 * appended to its children; the given `pssh` boxes are appended to `moov`. Other boxes are kept as
 * they are. cenc: `perSampleIvSize` (default 16) must be the one the media segments are encrypted with.
 */
export function encryptInit(
  init: Buffer,
  opts: { scheme: Scheme; kid: string; iv?: Buffer; pssh: Buffer[]; perSampleIvSize?: 8 | 16 },
): Buffer {
  if (opts.scheme !== 'cenc' && opts.scheme !== 'cbcs') throw new Error(`unknown scheme ${opts.scheme}`);
  const kid = kidBytes(opts.kid);
  const ivSize = checkIvSize(opts.perSampleIvSize);
  if (opts.scheme === 'cbcs') checkCbcsIv(opts.iv);
  for (const box of opts.pssh) {
    if (box.length < 32 || box.readUInt32BE(0) !== box.length || box.toString('latin1', 4, 8) !== 'pssh') {
      throw new Error('opts.pssh must hold complete pssh boxes');
    }
  }
  const top = readBoxes(init);
  mustFind(top, 'moov', 'init segment');
  let encrypted = 0;
  const out = top.map((box) => {
    if (box.type !== 'moov') return keep(init, box);
    const moovKids = children(init, box).map((kid0) => {
      if (kid0.type !== 'trak') return keep(init, kid0);
      const p = trakParts(init, kid0);
      if (p.handler !== 'vide' && p.handler !== 'soun') return keep(init, kid0);
      const entries = p.entries.map((entry) => {
        if (entry.type === 'encv' || entry.type === 'enca')
          throw new Error('init segment is already encrypted');
        const prefix = sampleEntryPrefix(init, entry, p.handler);
        const kids = children(init, entry, prefix).map((b) => keep(init, b));
        const sinf = sinfBox(entry.type, p.handler, opts.scheme, kid, opts.iv, ivSize);
        encrypted++;
        return rebuildBox(init, entry, prefix, [...kids, sinf], p.handler === 'vide' ? 'encv' : 'enca');
      });
      const stsd = rebuildBox(init, p.stsd, 8, entries);
      const replace = (parent: Box, target: Box, replacement: Buffer): Buffer =>
        rebuildBox(
          init,
          parent,
          0,
          children(init, parent).map((b) => (b.start === target.start ? replacement : keep(init, b))),
        );
      const stbl = replace(p.stbl, p.stsd, stsd);
      const minf = replace(p.minf, p.stbl, stbl);
      const mdia = replace(p.mdia, p.minf, minf);
      return replace(p.trak, p.mdia, mdia);
    });
    return rebuildBox(init, box, 0, [...moovKids, ...opts.pssh]);
  });
  if (encrypted === 0) throw new Error('init segment has no audio or video track to encrypt');
  return Buffer.concat(out);
}
