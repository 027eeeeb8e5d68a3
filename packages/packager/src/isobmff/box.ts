/**
 * Minimal ISO base media file format (ISO/IEC 14496-12) box reading and writing: enough to walk
 * `moov`/`moof` trees, rebuild containers whose children change, and serialise new boxes.
 */

export interface Box {
  /** four-character code */
  type: string;
  /** offset of the box's first byte in the buffer it was read from */
  start: number;
  /** offset of the first payload byte (after size, type and any 64-bit size) */
  payload: number;
  /** offset one past the box's last byte */
  end: number;
}

/** Boxes whose payload is nothing but child boxes. */
const PLAIN_CONTAINERS = new Set([
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
  'mfra',
  'sinf',
  'schi',
  'udta',
  'rinf',
]);

export function isPlainContainer(type: string): boolean {
  return PLAIN_CONTAINERS.has(type);
}

/** Reads the sibling boxes in `buf[start, end)`. Throws on a box that overruns its parent. */
export function readBoxes(buf: Buffer, start = 0, end = buf.length): Box[] {
  const boxes: Box[] = [];
  let o = start;
  while (o < end) {
    if (end - o < 8) throw new Error(`truncated box header at ${o}`);
    let size = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    let header = 8;
    if (size === 1) {
      if (end - o < 16) throw new Error(`truncated 64-bit box header at ${o}`);
      size = Number(buf.readBigUInt64BE(o + 8));
      header = 16;
    } else if (size === 0) {
      size = end - o;
    }
    if (type === 'uuid') header += 16;
    if (size < header || o + size > end) {
      throw new Error(`box '${type}' at ${o} of size ${size} overruns its parent (ends at ${end})`);
    }
    boxes.push({ type, start: o, payload: o + header, end: o + size });
    o += size;
  }
  return boxes;
}

/** The children of a box, starting `skip` bytes into its payload (e.g. 8 for `stsd`). */
export function children(buf: Buffer, box: Box, skip = 0): Box[] {
  return readBoxes(buf, box.payload + skip, box.end);
}

export function find(boxes: Box[], type: string): Box | undefined {
  return boxes.find((b) => b.type === type);
}

export function findAll(boxes: Box[], type: string): Box[] {
  return boxes.filter((b) => b.type === type);
}

/** Follows a path of plain containers, e.g. `['moov', 'mvex', 'trex']`, returning every match. */
export function findPath(buf: Buffer, boxes: Box[], path: string[]): Box[] {
  let level = boxes;
  for (let i = 0; i < path.length; i++) {
    const matches = findAll(level, path[i]!);
    if (i === path.length - 1) return matches;
    level = matches.flatMap((b) => children(buf, b));
  }
  return [];
}

export function mustFind(boxes: Box[], type: string, where: string): Box {
  const box = find(boxes, type);
  if (!box) throw new Error(`no '${type}' box in ${where}`);
  return box;
}

/** Version and flags of a full box. */
export function fullBoxHeader(buf: Buffer, box: Box): { version: number; flags: number } {
  const word = buf.readUInt32BE(box.payload);
  return { version: word >>> 24, flags: word & 0xffffff };
}

/** A box of `type` around the given payload parts. */
export function makeBox(type: string, ...parts: Buffer[]): Buffer {
  let size = 8;
  for (const p of parts) size += p.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size, 0);
  out.write(type, 4, 'latin1');
  let o = 8;
  for (const p of parts) o += p.copy(out, o);
  return out;
}

/** A full box (version, 24-bit flags) of `type` around the given payload parts. */
export function makeFullBox(type: string, version: number, flags: number, ...parts: Buffer[]): Buffer {
  const vf = Buffer.allocUnsafe(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return makeBox(type, vf, ...parts);
}

/**
 * Re-serialises `box` with a new type (or the same) and the given payload parts: `prefix` bytes of the
 * original payload are kept verbatim (fixed fields before the children), then `parts`.
 */
export function rebuildBox(buf: Buffer, box: Box, prefix: number, parts: Buffer[], type = box.type): Buffer {
  if (box.type === 'uuid') throw new Error('cannot rebuild a uuid box');
  return makeBox(type, buf.subarray(box.payload, box.payload + prefix), ...parts);
}

export function fourcc(buf: Buffer, offset: number): string {
  return buf.toString('latin1', offset, offset + 4);
}
