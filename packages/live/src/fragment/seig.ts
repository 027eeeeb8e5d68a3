/**
 * The `seig` sample group (ISO/IEC 23001-7 §6, CencSampleEncryptionInformationGroupEntry) in a movie
 * fragment: an `sbgp` (ISO/IEC 14496-12 §8.9.2) mapping every sample of the `traf` to description index
 * 0x10001 (values above 0x10000 name the fragment-local descriptions, §8.9.4), and an `sgpd` version 1
 * holding that one description. It gives the fragment's samples their own KID (and IV size, pattern,
 * constant IV), overriding the `tenc` defaults of the init segment.
 */
import { type Box, findAll, fullBoxHeader, makeFullBox } from '@vigil/packager/isobmff';

/** The first fragment-local sample group description index. */
export const FRAGMENT_LOCAL_INDEX = 0x10001;

export interface SeigEntry {
  isProtected: boolean;
  /** bytes of each sample's IV in `senc` (8 or 16), or 0 with a constant IV */
  perSampleIvSize: number;
  /** 32 lowercase hex digits */
  kid: string;
  /** pattern encryption (cbcs video 1:9); 0:0 otherwise */
  crypt: number;
  skip: number;
  /** with perSampleIvSize 0: the 8- or 16-byte constant IV */
  constantIv?: Buffer;
}

/** The bytes of one CencSampleEncryptionInformationGroupEntry. */
export function seigEntryBytes(e: SeigEntry): Buffer {
  const kid = Buffer.from(e.kid, 'hex');
  if (kid.length !== 16 || !/^[0-9a-fA-F]{32}$/.test(e.kid)) throw new Error(`bad KID "${e.kid}"`);
  if (e.crypt < 0 || e.crypt > 15 || e.skip < 0 || e.skip > 15) throw new Error('bad crypt/skip pattern');
  const withConstant = e.isProtected && e.perSampleIvSize === 0;
  if (withConstant && (!e.constantIv || (e.constantIv.length !== 8 && e.constantIv.length !== 16))) {
    throw new Error('a protected seig entry without per-sample IVs needs an 8- or 16-byte constant IV');
  }
  const head = Buffer.from([0, (e.crypt << 4) | e.skip, e.isProtected ? 1 : 0, e.perSampleIvSize]);
  return withConstant
    ? Buffer.concat([head, kid, Buffer.from([e.constantIv!.length]), e.constantIv!])
    : Buffer.concat([head, kid]);
}

/** `sbgp` version 0, grouping type 'seig': all `sampleCount` samples → description `index`. */
export function seigSbgp(sampleCount: number, index = FRAGMENT_LOCAL_INDEX): Buffer {
  const p = Buffer.alloc(12);
  p.write('seig', 0, 'latin1');
  p.writeUInt32BE(1, 4); // entry_count
  p.writeUInt32BE(sampleCount, 8);
  return makeFullBox('sbgp', 0, 0, p, u32(index));
}

/** `sgpd` version 1, grouping type 'seig', one entry (default_length = its size). */
export function seigSgpd(entry: SeigEntry): Buffer {
  const bytes = seigEntryBytes(entry);
  const p = Buffer.alloc(12);
  p.write('seig', 0, 'latin1');
  p.writeUInt32BE(bytes.length, 4); // default_length
  p.writeUInt32BE(1, 8); // entry_count
  return makeFullBox('sgpd', 1, 0, p, bytes);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

function parseEntry(buf: Buffer, o: number, end: number): SeigEntry {
  if (o + 20 > end) throw new Error('truncated seig entry');
  const isProtected = buf[o + 2] === 1;
  const perSampleIvSize = buf[o + 3]!;
  const entry: SeigEntry = {
    isProtected,
    perSampleIvSize,
    kid: buf.toString('hex', o + 4, o + 20),
    crypt: buf[o + 1]! >> 4,
    skip: buf[o + 1]! & 15,
  };
  if (isProtected && perSampleIvSize === 0) {
    const size = buf[o + 20]!;
    if (o + 21 + size > end) throw new Error('truncated seig constant IV');
    entry.constantIv = Buffer.from(buf.subarray(o + 21, o + 21 + size));
  }
  return entry;
}

/** The entries of every 'seig' `sgpd` among `boxes` (a traf's or stbl's children), in order. */
export function readSeigDescriptions(buf: Buffer, boxes: Box[]): SeigEntry[] {
  const entries: SeigEntry[] = [];
  for (const sgpd of findAll(boxes, 'sgpd')) {
    if (buf.toString('latin1', sgpd.payload + 4, sgpd.payload + 8) !== 'seig') continue;
    const { version } = fullBoxHeader(buf, sgpd);
    let o = sgpd.payload + 8;
    let defaultLength = 0;
    if (version === 1) {
      defaultLength = buf.readUInt32BE(o);
      o += 4;
    } else if (version >= 2) o += 4; // default_sample_description_index
    const count = buf.readUInt32BE(o);
    o += 4;
    for (let i = 0; i < count; i++) {
      let length = defaultLength;
      if (version === 1 && length === 0) {
        length = buf.readUInt32BE(o);
        o += 4;
      }
      const end = version === 1 ? o + length : sgpd.end;
      entries.push(parseEntry(buf, o, end));
      o = version === 1 ? end : o + seigEntryBytes(entries.at(-1)!).length;
    }
  }
  return entries;
}

/** The 'seig' `sbgp` runs among `boxes`: [sample_count, group_description_index]. */
export function readSeigSbgp(buf: Buffer, boxes: Box[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const sbgp of findAll(boxes, 'sbgp')) {
    if (buf.toString('latin1', sbgp.payload + 4, sbgp.payload + 8) !== 'seig') continue;
    const { version } = fullBoxHeader(buf, sbgp);
    let o = sbgp.payload + 8 + (version === 1 ? 4 : 0);
    const count = buf.readUInt32BE(o);
    o += 4;
    for (let i = 0; i < count; i++, o += 8) runs.push([buf.readUInt32BE(o), buf.readUInt32BE(o + 4)]);
  }
  return runs;
}

/** Whether a box among `boxes` is a sample group box ('sbgp'/'sgpd') of grouping type 'seig'. */
export function isSeigBox(buf: Buffer, box: Box): boolean {
  return (
    (box.type === 'sbgp' || box.type === 'sgpd') &&
    buf.toString('latin1', box.payload + 4, box.payload + 8) === 'seig'
  );
}
