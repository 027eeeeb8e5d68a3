/**
 * Just enough ISO BMFF for the pipeline: reading the timing and codec of the clear CMAF segments ffmpeg
 * writes, and turning an encrypted init segment back into a clear one (for checks that decode decrypted
 * fragments). Encryption itself is the CENC core's job (../cenc).
 */

export interface Box {
  type: string;
  /** Leaf payload (after the 8-byte header), or the fixed fields before the children of a container. */
  payload: Buffer;
  children?: Box[];
}

/** Boxes whose payload is only child boxes. */
const CONTAINERS = new Set([
  'moov',
  'trak',
  'mdia',
  'minf',
  'stbl',
  'dinf',
  'edts',
  'mvex',
  'moof',
  'traf',
  'sinf',
  'schi',
  'mfra',
]);
/** Sample entries: fixed fields, then child boxes. */
const VISUAL_ENTRIES = new Set(['avc1', 'avc3', 'encv', 'hvc1', 'hev1']);
const AUDIO_ENTRIES = new Set(['mp4a', 'enca']);

function childOffset(type: string): number | undefined {
  if (CONTAINERS.has(type)) return 0;
  if (type === 'stsd') return 8; // full box header + entry_count
  if (VISUAL_ENTRIES.has(type)) return 78;
  if (AUDIO_ENTRIES.has(type)) return 28;
  return undefined;
}

export function parseBoxes(data: Buffer, start = 0, end = data.length): Box[] {
  const boxes: Box[] = [];
  let o = start;
  while (o + 8 <= end) {
    let size = data.readUInt32BE(o);
    const type = data.toString('latin1', o + 4, o + 8);
    let header = 8;
    if (size === 1) {
      if (o + 16 > end) throw new Error(`box "${type}" at ${o} is cut off`);
      size = Number(data.readBigUInt64BE(o + 8));
      header = 16;
    } else if (size === 0) {
      size = end - o;
    }
    if (size < header || o + size > end) throw new Error(`box "${type}" at ${o} overruns its parent`);
    const bodyStart = o + header;
    const bodyEnd = o + size;
    const offset = childOffset(type);
    if (offset === undefined) {
      boxes.push({ type, payload: data.subarray(bodyStart, bodyEnd) });
    } else {
      boxes.push({
        type,
        payload: data.subarray(bodyStart, bodyStart + offset),
        children: parseBoxes(data, bodyStart + offset, bodyEnd),
      });
    }
    o += size;
  }
  if (o !== end) throw new Error(`${end - o} stray bytes after the last box`);
  return boxes;
}

export function serializeBoxes(boxes: Box[]): Buffer {
  const parts: Buffer[] = [];
  for (const box of boxes) {
    const body = box.children ? Buffer.concat([box.payload, serializeBoxes(box.children)]) : box.payload;
    const header = Buffer.alloc(8);
    header.writeUInt32BE(body.length + 8, 0);
    header.write(box.type, 4, 'latin1');
    parts.push(header, body);
  }
  return Buffer.concat(parts);
}

/** The first box at a slash-separated path ("moov/trak/mdia/mdhd"). */
export function findBox(boxes: Box[] | undefined, path: string): Box | undefined {
  const [head, ...rest] = path.split('/');
  const box = boxes?.find((b) => b.type === head);
  if (!box || rest.length === 0) return box;
  return findBox(box.children, rest.join('/'));
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

function sampleEntry(boxes: Box[]): Box {
  const stsd = findBox(boxes, 'moov/trak/mdia/minf/stbl/stsd');
  const entry = stsd?.children?.[0];
  if (!entry) throw new Error('the init segment has no sample description');
  return entry;
}

function avcCodec(entry: Box, fourcc: string): string {
  const avcC = entry.children?.find((b) => b.type === 'avcC');
  if (!avcC || avcC.payload.length < 4) return fourcc;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `${fourcc}.${hex(avcC.payload[1]!)}${hex(avcC.payload[2]!)}${hex(avcC.payload[3]!)}`;
}

/** mp4a.40.<audio object type>, from the esds DecoderSpecificInfo. */
function aacCodec(entry: Box): string {
  const esds = entry.children?.find((b) => b.type === 'esds');
  if (!esds) return 'mp4a.40.2';
  const d = esds.payload;
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
  const boxes = parseBoxes(init);
  const tkhd = findBox(boxes, 'moov/trak/tkhd');
  const mdhd = findBox(boxes, 'moov/trak/mdia/mdhd');
  const hdlr = findBox(boxes, 'moov/trak/mdia/hdlr');
  if (!tkhd || !mdhd || !hdlr) throw new Error('not an init segment (no tkhd/mdhd/hdlr)');
  const trackId = tkhd.payload.readUInt32BE(tkhd.payload[0] === 1 ? 20 : 12);
  const timescale = mdhd.payload.readUInt32BE(mdhd.payload[0] === 1 ? 20 : 12);
  const handlerType = hdlr.payload.toString('latin1', 8, 12);
  if (handlerType !== 'vide' && handlerType !== 'soun')
    throw new Error(`unexpected track handler ${handlerType}`);
  const entry = sampleEntry(boxes);
  const encrypted = entry.type === 'encv' || entry.type === 'enca';
  const frma = findBox(entry.children, 'sinf/frma');
  const format = encrypted && frma ? frma.payload.toString('latin1', 0, 4) : entry.type;
  const trex = findBox(boxes, 'moov/mvex/trex');
  const info: InitInfo = {
    trackId,
    timescale,
    handler: handlerType,
    codec: format.startsWith('avc') ? avcCodec(entry, format) : format === 'mp4a' ? aacCodec(entry) : format,
    defaultSampleDuration: trex ? trex.payload.readUInt32BE(12) : 0,
    encrypted,
  };
  if (handlerType === 'vide') {
    info.width = entry.payload.readUInt16BE(24);
    info.height = entry.payload.readUInt16BE(26);
  } else {
    info.channels = entry.payload.readUInt16BE(16);
    info.sampleRate = entry.payload.readUInt32BE(24) >>> 16;
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
  const boxes = parseBoxes(segment);
  let start: number | undefined;
  let duration = 0;
  let samples = 0;
  for (const moof of boxes.filter((b) => b.type === 'moof')) {
    for (const traf of moof.children?.filter((b) => b.type === 'traf') ?? []) {
      const tfhd = traf.children?.find((b) => b.type === 'tfhd');
      const tfdt = traf.children?.find((b) => b.type === 'tfdt');
      if (!tfhd) throw new Error('a fragment without tfhd');
      let defaultDuration = defaultSampleDuration;
      const tfhdFlags = tfhd.payload.readUInt32BE(0) & 0xffffff;
      let o = 8;
      if (tfhdFlags & 0x01) o += 8;
      if (tfhdFlags & 0x02) o += 4;
      if (tfhdFlags & 0x08) defaultDuration = tfhd.payload.readUInt32BE(o);
      if (tfdt && start === undefined) {
        start =
          tfdt.payload[0] === 1 ? Number(tfdt.payload.readBigUInt64BE(4)) : tfdt.payload.readUInt32BE(4);
      }
      for (const trun of traf.children?.filter((b) => b.type === 'trun') ?? []) {
        const p = trun.payload;
        const flags = p.readUInt32BE(0) & 0xffffff;
        const count = p.readUInt32BE(4);
        let q = 8;
        if (flags & 0x01) q += 4;
        if (flags & 0x04) q += 4;
        const per = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length * 4;
        for (let i = 0; i < count; i++) {
          duration += flags & 0x100 ? p.readUInt32BE(q) : defaultDuration;
          q += per;
        }
        samples += count;
      }
    }
  }
  if (start === undefined) throw new Error('a fragment without tfdt');
  return { start, duration, samples };
}

/** The default_KID of an encrypted init segment's `tenc` (32 hex digits), or undefined for a clear one. */
export function tencKid(init: Buffer): string | undefined {
  const boxes = parseBoxes(init);
  const stsd = findBox(boxes, 'moov/trak/mdia/minf/stbl/stsd');
  for (const entry of stsd?.children ?? []) {
    const tenc = findBox(entry.children, 'sinf/schi/tenc');
    if (tenc && tenc.payload.length >= 24) return tenc.payload.toString('hex', 8, 24);
  }
  return undefined;
}

/**
 * A clear init segment from an encrypted one: the sample entry gets its original format back (from
 * `frma`), `sinf` and every `pssh` go. Decrypted fragments decode against it.
 */
export function clearInit(encryptedInit: Buffer): Buffer {
  const boxes = parseBoxes(encryptedInit);
  const moov = boxes.find((b) => b.type === 'moov');
  if (!moov?.children) throw new Error('not an init segment (no moov)');
  moov.children = moov.children.filter((b) => b.type !== 'pssh');
  const stsd = findBox(boxes, 'moov/trak/mdia/minf/stbl/stsd');
  for (const entry of stsd?.children ?? []) {
    const frma = findBox(entry.children, 'sinf/frma');
    if (!frma) continue;
    entry.type = frma.payload.toString('latin1', 0, 4);
    entry.children = entry.children?.filter((b) => b.type !== 'sinf');
  }
  return serializeBoxes(boxes);
}
