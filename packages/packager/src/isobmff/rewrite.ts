/**
 * The one rewriter of media segments (optional `styp`/`sidx`/`prft`/`emsg`, then `moof`+`mdat` pairs):
 * byte-level edits that keep every offset right (ISO/IEC 14496-12 §8.8, §8.7.8–8.7.9, §8.16.3), used by
 * the packager's encryption and decryption (`rewriteSegment`: per-traf drops and appends) and by live's
 * retiming and rotation signalling (`applySplices`). What it corrects:
 * - the size of every box an edit lies in (given explicitly per edit: `parents`);
 * - `trun` data_offset, `saio` offsets and `tfhd` base_data_offset, by mapping the byte they point at
 *   and the base they are relative to through the edit;
 * - `sidx` first_offset and referenced sizes;
 * - a `saio` appended next to a `senc` (rewriteSegment) is pointed at the `senc`'s first sample-info byte.
 *
 * An edit is a splice: `remove` bytes at `at` are replaced by `insert`. Nothing may point into a removed
 * range (the callers replace or drop whole leaf boxes that nothing else addresses: `tfdt`, `sbgp`, `sgpd`,
 * `pssh`, `senc`/`saiz`/`saio`), and no splice may sit exactly on a `moof` start (a `sidx` reference
 * boundary). A `traf` addressed from the end of the previous `traf`'s data (no base_data_offset, not
 * default-base-is-moof, not the first) needs its sample sizes: `applySplices` refuses it (CMAF fragments
 * use default-base-is-moof), `rewriteSegment` reads them. `tfhd` base_data_offset is taken as an offset
 * in the segment buffer.
 */
import { type Box, children, findAll, fullBoxHeader, readBoxes } from './box.ts';
import { parseMoof, type TrafInfo } from './fragment.ts';

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

/** A `moof` and its parsed `traf`s. */
interface ParsedMoof {
  box: Box;
  trafs: TrafInfo[];
}

/** Copies `seg[from, to)` to `out` at `o`, leaving out the ranges of `holes` (sorted) from index `h` on. */
function copyOutside(
  seg: Buffer,
  out: Buffer,
  o: number,
  from: number,
  to: number,
  holes: readonly [number, number][],
  h: { i: number },
): void {
  while (h.i < holes.length && holes[h.i]![1] <= from) h.i++;
  let at = from;
  for (let k = h.i; k < holes.length && holes[k]![0] < to; k++) {
    const [a, b] = holes[k]!;
    if (a > at) seg.copy(out, o + at - from, at, a);
    at = Math.max(at, Math.min(b, to));
  }
  if (at < to) seg.copy(out, o + at - from, at, to);
}

interface Spliced {
  data: Buffer;
  /** output offset of each splice's inserted bytes, in the order given */
  insertedAt: number[];
  map: (p: number) => number;
}

/**
 * The core: the splices applied to `seg` whose `moof`s are `moofs` (parsed), every size and offset
 * corrected. `holes` are input ranges outside the moofs that the caller overwrites completely in the
 * output: they are not copied there (their bytes are left uninitialised).
 */
function splice(
  seg: Buffer,
  input: readonly Splice[],
  moofs: readonly ParsedMoof[],
  sidxes: readonly Box[],
  holes: readonly [number, number][],
): Spliced {
  // Stable: splices at the same offset keep the caller's order.
  const order = input.map((s, i) => ({ s, i })).sort((a, b) => a.s.at - b.s.at);
  const splices = order.map((x) => x.s);
  for (let i = 1; i < splices.length; i++) {
    const prev = splices[i - 1]!;
    if (prev.at + prev.remove > splices[i]!.at) throw new Error('overlapping splices');
  }
  const map = (p: number) => mapOffset(splices, p);

  const pointers: Pointer[] = [];
  /** absolute fields rewritten as map(value) */
  const absolutes: Field[] = [];
  for (const { box, trafs } of moofs) {
    for (const s of splices) {
      if (s.at === box.start && s.remove === 0) throw new Error('a splice on a moof boundary');
    }
    const grows = splices.some((s) => s.at > box.start && s.at <= box.end);
    for (const traf of trafs) {
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
  const insertedAt = new Array<number>(input.length);
  const h = { i: 0 };
  let from = 0;
  let to = 0;
  for (const [k, s] of splices.entries()) {
    copyOutside(seg, out, to, from, s.at, holes, h);
    to += s.at - from;
    insertedAt[order[k]!.i] = to;
    to += s.insert.copy(out, to);
    from = s.at + s.remove;
  }
  copyOutside(seg, out, to, from, seg.length, holes, h);

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
  // Fields in removed boxes (a dropped saio) go with them.
  const kept = (f: Field) => !splices.some((s) => s.remove > 0 && f.at >= s.at && f.at < s.at + s.remove);
  for (const p of pointers) if (kept(p)) write(p, map(p.base + p.value) - map(p.base), p.signed);
  for (const a of absolutes) if (kept(a)) write(a, map(a.value));

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
  return { data: out, insertedAt, map };
}

/** Applies the splices (which must not overlap) and corrects sizes and offsets. */
export function applySplices(seg: Buffer, splices: readonly Splice[]): Buffer {
  const top = readBoxes(seg);
  const moofs: ParsedMoof[] = [];
  for (const box of top) {
    if (box.type !== 'moof') continue;
    // Sample sizes are not needed to correct offsets (a traf addressed from the end of the previous
    // traf's data, which would need them, is refused; CMAF uses default-base-is-moof).
    const trafs = parseMoof(seg, box, () => 0);
    if (trafs.some((t) => t.base === 'previous')) {
      throw new Error("a traf addressed from the previous traf's data (set default-base-is-moof)");
    }
    moofs.push({ box, trafs });
  }
  const sidxes = top.filter((b) => b.type === 'sidx');
  return splice(seg, splices, moofs, sidxes, []).data;
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

export interface TrafEdit {
  /** child box types to remove */
  drop?: ReadonlySet<string>;
  /** boxes appended after the kept children; a `saio` among them is pointed at a `senc` among them */
  append?: Buffer[];
}

export interface Rewritten {
  data: Buffer;
  /** where a byte of the input outside every `moof` (e.g. sample data) is in the output */
  newOffset(old: number): number;
}

/** The last box of `type` among the boxes laid end to end in `buf`, as an offset in `buf`. */
function lastBoxOf(buf: Buffer, type: string): Box | undefined {
  return readBoxes(buf)
    .filter((b) => b.type === type)
    .pop();
}

/**
 * Applies `edit` to every traf (called in order, as each `moof` is read) as splices: each dropped child
 * removed, the appended boxes put at the end of the traf. `holes` (asked once every edit is made) lists
 * input ranges outside the moofs that the caller overwrites completely in the output, so they are not
 * copied there.
 */
export function rewriteSegment(
  seg: Buffer,
  defaultSampleSize: (trackId: number) => number | undefined,
  edit: (traf: TrafInfo, moof: Box) => TrafEdit | undefined,
  holes?: () => [number, number][],
): Rewritten {
  const top = readBoxes(seg);
  const moofs: ParsedMoof[] = [];
  const splices: Splice[] = [];
  /** appended boxes with a saio to point at their senc: the splice's index and its traf */
  const pointed: { index: number; traf: TrafInfo; moof: Box }[] = [];
  for (const box of top) {
    if (box.type !== 'moof') continue;
    const trafs = parseMoof(seg, box, defaultSampleSize);
    moofs.push({ box, trafs });
    for (const traf of trafs) {
      const e = edit(traf, box);
      if (!e) continue;
      for (const smp of traf.samples) {
        if (smp.offset < box.end || smp.offset + smp.size > seg.length) {
          throw new Error(`a sample of track ${traf.trackId} lies outside the data after its moof`);
        }
      }
      const parents = [traf.box, box];
      for (const c of traf.children) {
        if (e.drop?.has(c.type))
          splices.push({ at: c.start, remove: c.end - c.start, insert: Buffer.alloc(0), parents });
      }
      if (e.append && e.append.length > 0) {
        const insert = e.append.length === 1 ? e.append[0]! : Buffer.concat(e.append);
        if (e.append.some((b) => b.toString('latin1', 4, 8) === 'saio')) {
          if (traf.base === 'previous') {
            throw new Error('cannot point saio at senc for a traf addressed from the previous traf');
          }
          pointed.push({ index: splices.length, traf, moof: box });
        }
        splices.push({ at: traf.box.end, remove: 0, insert, parents });
      }
    }
  }
  const sidxes = top.filter((b) => b.type === 'sidx');
  const hole = holes ? holes().sort((a, b) => a[0] - b[0]) : [];
  if (splices.length === 0 && hole.length === 0) {
    return { data: Buffer.from(seg), newOffset: (old) => old };
  }
  const { data, insertedAt, map } = splice(seg, splices, moofs, sidxes, hole);
  // Point each appended saio at the first sample-info byte of the senc appended with it.
  for (const { index, traf, moof } of pointed) {
    const insert = splices[index]!.insert;
    const saio = lastBoxOf(insert, 'saio')!;
    const senc = lastBoxOf(insert, 'senc');
    if (!senc) throw new Error('an appended saio needs an appended senc');
    const at = insertedAt[index]!;
    const base = traf.base === 'moof' ? map(moof.start) : map(traf.baseOffset);
    const offset = at + senc.payload + 8 - base;
    if (offset < 0 || offset > 0xffffffff) throw new Error('saio offset out of range');
    data.writeUInt32BE(offset, at + saio.payload + 8);
  }
  return { data, newOffset: map };
}
