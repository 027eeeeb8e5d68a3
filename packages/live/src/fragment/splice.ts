/**
 * Byte-level edits of a media segment (optional `styp`/`sidx`/`prft`/`emsg`, then `moof`+`mdat` pairs)
 * that keep every offset right (ISO/IEC 14496-12 §8.8, §8.7.8–8.7.9, §8.16.3):
 * - the size of every box an edit lies in (given explicitly per edit: `parents`);
 * - `trun` data_offset, `saio` offsets and `tfhd` base_data_offset, by mapping the byte they point at
 *   and the base they are relative to through the edit;
 * - `sidx` first_offset and referenced sizes.
 *
 * An edit is a splice: `remove` bytes at `at` are replaced by `insert`. Nothing may point into a removed
 * range (the callers replace or drop whole leaf boxes that nothing addresses: `tfdt`, `sbgp`, `sgpd`,
 * `pssh`), and no splice may sit exactly on a `moof` start (a `sidx` reference boundary). A `traf`
 * addressed from the end of the previous `traf`'s data (no base_data_offset, not default-base-is-moof,
 * not the first) is refused: CMAF fragments use default-base-is-moof. `tfhd` base_data_offset is taken
 * as an offset in the segment buffer.
 */
import { type Box, children, findAll, fullBoxHeader, parseMoof, readBoxes } from '@vigil/packager/isobmff';

export interface Splice {
  /** offset in the input of the first byte replaced (or, when `remove` is 0, of the byte the insert precedes) */
  at: number;
  /** bytes of the input removed from `at` on */
  remove: number;
  /** bytes written in their place */
  insert: Buffer;
  /** every box whose size grows by this splice (e.g. the `traf` and the `moof` around it) */
  parents: Box[];
}

/** Where input byte `p` lands in the output (for bytes outside every removed range). */
export function mapOffset(splices: readonly Splice[], p: number): number {
  let q = p;
  for (const s of splices) {
    const shifts = s.remove === 0 ? s.at <= p : s.at + s.remove <= p;
    if (shifts) q += s.insert.length - s.remove;
  }
  return q;
}

interface Field {
  /** input offset of the field */
  at: number;
  bits: 32 | 64;
  value: number;
}

/** Offset fields to correct: each a pointer `base + value`, to be rewritten as map(target) - map(base). */
interface Pointer extends Field {
  base: number;
  signed?: boolean;
}

function sizeOf(buf: Buffer, box: Box): { at: number; bits: 32 | 64 } {
  return buf.readUInt32BE(box.start) === 1 ? { at: box.start + 8, bits: 64 } : { at: box.start, bits: 32 };
}

/** The `saio` offsets of a traf as pointers from its base. */
function saioPointers(buf: Buffer, kids: Box[], base: number): Pointer[] {
  const out: Pointer[] = [];
  for (const saio of findAll(kids, 'saio')) {
    const { version, flags } = fullBoxHeader(buf, saio);
    let o = saio.payload + 4 + (flags & 1 ? 8 : 0);
    const count = buf.readUInt32BE(o);
    o += 4;
    for (let i = 0; i < count; i++) {
      if (version === 0) {
        out.push({ at: o, bits: 32, value: buf.readUInt32BE(o), base });
        o += 4;
      } else {
        out.push({ at: o, bits: 64, value: Number(buf.readBigUInt64BE(o)), base });
        o += 8;
      }
    }
  }
  return out;
}

/** Applies the splices (which must not overlap) and corrects sizes and offsets. */
export function applySplices(seg: Buffer, input: readonly Splice[]): Buffer {
  // Stable: splices at the same offset keep the caller's order.
  const splices = [...input].sort((a, b) => a.at - b.at);
  for (let i = 1; i < splices.length; i++) {
    const prev = splices[i - 1]!;
    if (prev.at + prev.remove > splices[i]!.at) throw new Error('overlapping splices');
  }
  const map = (p: number) => mapOffset(splices, p);

  const pointers: Pointer[] = [];
  /** absolute fields rewritten as map(value) */
  const absolutes: Field[] = [];
  const sidxes: Box[] = [];
  for (const box of readBoxes(seg)) {
    if (box.type === 'sidx') sidxes.push(box);
    if (box.type !== 'moof') continue;
    for (const s of splices) {
      if (s.at === box.start && s.remove === 0) throw new Error('a splice on a moof boundary');
    }
    // Sample sizes are not needed to correct offsets (a traf addressed from the end of the previous
    // traf's data, which would need them, is refused below; CMAF uses default-base-is-moof).
    const trafs = parseMoof(seg, box, () => 0);
    const grows = splices.some((s) => s.at > box.start && s.at <= box.end);
    for (const traf of trafs) {
      if (traf.base === 'previous') {
        throw new Error("a traf addressed from the previous traf's data (set default-base-is-moof)");
      }
      if (traf.base === 'explicit' && traf.baseDataOffsetField !== undefined) {
        absolutes.push({ at: traf.baseDataOffsetField, bits: 64, value: traf.baseOffset });
      }
      for (const run of traf.runs) {
        if (run.dataOffsetField === undefined) continue;
        const value = seg.readInt32BE(run.dataOffsetField);
        pointers.push({ at: run.dataOffsetField, bits: 32, value, base: traf.baseOffset, signed: true });
      }
      const first = traf.runs[0];
      if (
        grows &&
        traf.base === 'moof' &&
        first &&
        first.dataOffsetField === undefined &&
        first.sampleCount > 0
      ) {
        throw new Error('cannot move sample data addressed from the moof without a trun data_offset');
      }
      pointers.push(...saioPointers(seg, traf.children, traf.baseOffset));
    }
  }

  // Assemble.
  let total = seg.length;
  for (const s of splices) total += s.insert.length - s.remove;
  const out = Buffer.allocUnsafe(total);
  let from = 0;
  let to = 0;
  for (const s of splices) {
    to += seg.copy(out, to, from, s.at);
    to += s.insert.copy(out, to);
    from = s.at + s.remove;
  }
  seg.copy(out, to, from);

  // Sizes of the boxes the splices lie in.
  const growth = new Map<number, { box: Box; by: number }>();
  for (const s of splices) {
    for (const parent of s.parents) {
      const g = growth.get(parent.start) ?? { box: parent, by: 0 };
      g.by += s.insert.length - s.remove;
      growth.set(parent.start, g);
    }
  }
  for (const { box, by } of growth.values()) {
    const field = sizeOf(seg, box);
    const size = box.end - box.start + by;
    if (field.bits === 32) {
      if (size > 0xffffffff) throw new Error(`box '${box.type}' outgrows a 32-bit size`);
      out.writeUInt32BE(size, map(field.at));
    } else out.writeBigUInt64BE(BigInt(size), map(field.at));
  }

  const write = (f: Field, value: number, signed = false) => {
    const at = map(f.at);
    if (f.bits === 64) {
      if (value < 0) throw new Error('an offset became negative');
      out.writeBigUInt64BE(BigInt(value), at);
    } else if (signed) {
      if (value < -0x80000000 || value > 0x7fffffff) throw new Error('a trun data_offset is out of range');
      out.writeInt32BE(value, at);
    } else {
      if (value < 0 || value > 0xffffffff) throw new Error('a saio offset is out of range');
      out.writeUInt32BE(value, at);
    }
  };
  for (const p of pointers) write(p, map(p.base + p.value) - map(p.base), p.signed);
  for (const a of absolutes) write(a, map(a.value));

  for (const sidx of sidxes) {
    const { version } = fullBoxHeader(seg, sidx);
    const firstAt = sidx.payload + 12 + (version === 0 ? 4 : 8);
    const first = version === 0 ? seg.readUInt32BE(firstAt) : Number(seg.readBigUInt64BE(firstAt));
    write({ at: firstAt, bits: version === 0 ? 32 : 64, value: 0 }, map(sidx.end + first) - map(sidx.end));
    let p = firstAt + (version === 0 ? 4 : 8);
    const count = seg.readUInt16BE(p + 2);
    p += 4;
    let at = sidx.end + first;
    for (let i = 0; i < count; i++, p += 12) {
      const word = seg.readUInt32BE(p);
      const size = word & 0x7fffffff;
      const newSize = map(at + size) - map(at);
      if (newSize > 0x7fffffff) throw new Error('a sidx referenced size is out of range');
      out.writeUInt32BE(((word & 0x80000000) | newSize) >>> 0, map(p));
      at += size;
    }
  }
  return out;
}

/** The `moof`s of a segment with their children and `traf`s (with theirs). */
export function moofsOf(seg: Buffer): { moof: Box; kids: Box[]; trafs: { box: Box; kids: Box[] }[] }[] {
  return readBoxes(seg)
    .filter((b) => b.type === 'moof')
    .map((moof) => {
      const kids = children(seg, moof);
      const trafs = findAll(kids, 'traf').map((box) => ({ box, kids: children(seg, box) }));
      return { moof, kids, trafs };
    });
}
