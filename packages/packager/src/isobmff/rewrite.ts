/**
 * Rewrites the `traf`s of a media segment (optional `styp`/`sidx`/`prft`/`emsg`, then `moof`+`mdat`
 * pairs), dropping and appending boxes, and keeps every byte offset right afterwards:
 * - `trun` data_offset of tracks addressed from the `moof` moves by the `moof`'s growth;
 * - `tfhd` base_data_offset (absolute) moves by the growth of everything before the data;
 * - a `saio` appended next to a `senc` is pointed at the `senc`'s first sample-info byte;
 * - `sidx` referenced sizes (and first_offset) grow with the `moof`s they cover.
 */
import { type Box, children, fullBoxHeader, makeBox, readBoxes } from './box.ts';
import { parseMoof, type TrafInfo } from './fragment.ts';

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

interface Growth {
  start: number;
  end: number;
  growth: number;
}

function growthWithin(growths: Growth[], from: number, to: number): number {
  let g = 0;
  for (const m of growths) if (m.start >= from && m.start < to) g += m.growth;
  return g;
}

function patchSidx(seg: Buffer, sidx: Box, copy: Buffer, growths: Growth[]): void {
  const { version } = fullBoxHeader(seg, sidx);
  const rel = (abs: number) => abs - sidx.start;
  let p = sidx.payload + 12;
  const firstOffsetField = p + (version === 0 ? 4 : 8);
  const firstOffset =
    version === 0 ? seg.readUInt32BE(firstOffsetField) : Number(seg.readBigUInt64BE(firstOffsetField));
  p = firstOffsetField + (version === 0 ? 4 : 8);
  const count = seg.readUInt16BE(p + 2);
  p += 4;
  let at = sidx.end + firstOffset;
  const gap = growthWithin(growths, sidx.end, at);
  if (gap !== 0) {
    if (version === 0) copy.writeUInt32BE(firstOffset + gap, rel(firstOffsetField));
    else copy.writeBigUInt64BE(BigInt(firstOffset + gap), rel(firstOffsetField));
  }
  for (let i = 0; i < count; i++, p += 12) {
    const word = seg.readUInt32BE(p);
    const size = word & 0x7fffffff;
    const g = growthWithin(growths, at, at + size);
    if (g !== 0) copy.writeUInt32BE(((word & 0x80000000) | (size + g)) >>> 0, rel(p));
    at += size;
  }
}

/** Concatenates the pieces, leaving out (uninitialised) the input ranges in `holes` (sorted). */
function assemble(seg: Buffer, pieces: { buf: Buffer; old?: number }[], holes: [number, number][]): Buffer {
  let total = 0;
  for (const p of pieces) total += p.buf.length;
  const data = Buffer.allocUnsafe(total);
  let o = 0;
  let h = 0;
  for (const { buf, old } of pieces) {
    if (old === undefined || h >= holes.length) {
      o += buf.copy(data, o);
      continue;
    }
    const end = old + buf.length;
    let at = old;
    while (h < holes.length && holes[h]![1] <= at) h++;
    for (let k = h; k < holes.length && holes[k]![0] < end; k++) {
      const [a, b] = holes[k]!;
      if (a > at) seg.copy(data, o + at - old, at, a);
      at = Math.max(at, Math.min(b, end));
    }
    if (at < end) seg.copy(data, o + at - old, at, end);
    o += buf.length;
  }
  return data;
}

/**
 * Applies `edit` to every traf. `holes` (asked once every edit is made) lists input ranges outside the
 * moofs that the caller overwrites completely in the output, so they are not copied there.
 */
export function rewriteSegment(
  seg: Buffer,
  defaultSampleSize: (trackId: number) => number | undefined,
  edit: (traf: TrafInfo, moof: Box) => TrafEdit | undefined,
  holes?: () => [number, number][],
): Rewritten {
  /** output pieces in order; `old` is where a piece copied verbatim from the input starts there */
  const pieces: { buf: Buffer; old?: number }[] = [];
  const growths: Growth[] = [];
  const sidxes: { box: Box; copy: Buffer }[] = [];
  let cumulative = 0;
  for (const box of readBoxes(seg)) {
    if (box.type === 'sidx') {
      const copy = Buffer.from(seg.subarray(box.start, box.end));
      sidxes.push({ box, copy });
      pieces.push({ buf: copy });
      continue;
    }
    if (box.type !== 'moof') {
      pieces.push({ buf: seg.subarray(box.start, box.end), old: box.start });
      continue;
    }
    const trafs = parseMoof(seg, box, defaultSampleSize);
    const edits = new Map<TrafInfo, TrafEdit>();
    let growth = 0;
    for (const traf of trafs) {
      const e = edit(traf, box);
      if (!e) continue;
      for (const smp of traf.samples) {
        if (smp.offset < box.end || smp.offset + smp.size > seg.length) {
          throw new Error(`a sample of track ${traf.trackId} lies outside the data after its moof`);
        }
      }
      edits.set(traf, e);
      for (const c of traf.children) if (e.drop?.has(c.type)) growth -= c.end - c.start;
      for (const b of e.append ?? []) growth += b.length;
    }
    if (edits.size === 0) {
      pieces.push({ buf: seg.subarray(box.start, box.end), old: box.start });
      continue;
    }
    // A copy of the moof with its offsets corrected; positions in it are relative to box.start.
    const m = Buffer.from(seg.subarray(box.start, box.end));
    const rel = (abs: number) => abs - box.start;
    for (const traf of trafs) {
      if (traf.base === 'moof') {
        traf.runs.forEach((run, i) => {
          if (run.dataOffsetField !== undefined) {
            m.writeInt32BE(seg.readInt32BE(run.dataOffsetField) + growth, rel(run.dataOffsetField));
          } else if (i === 0 && growth !== 0 && run.sampleCount > 0) {
            throw new Error('cannot move sample data addressed from the moof without a trun data_offset');
          }
        });
      } else if (traf.base === 'explicit' && traf.baseDataOffsetField !== undefined) {
        const old = seg.readBigUInt64BE(traf.baseDataOffsetField);
        m.writeBigUInt64BE(old + BigInt(cumulative + growth), rel(traf.baseDataOffsetField));
      }
    }
    const moofParts = children(seg, box).map((child) => {
      const traf = trafs.find((t) => t.box.start === child.start);
      const e = traf && edits.get(traf);
      if (!traf || !e) return m.subarray(rel(child.start), rel(child.end));
      const kept = traf.children
        .filter((c) => !e.drop?.has(c.type))
        .map((c) => m.subarray(rel(c.start), rel(c.end)));
      return makeBox('traf', ...kept, ...(e.append ?? []));
    });
    const newMoof = makeBox('moof', ...moofParts);
    if (newMoof.length !== box.end - box.start + growth) throw new Error('moof rewrite size mismatch');
    const newMoofStart = box.start + cumulative;
    // Point each appended saio at the first sample-info byte of the senc next to it.
    const newTrafs = readBoxes(newMoof, 8).filter((b) => b.type === 'traf');
    for (const [i, traf] of trafs.entries()) {
      const e = edits.get(traf);
      if (!e?.append?.some((b) => b.toString('latin1', 4, 8) === 'saio')) continue;
      const kids = children(newMoof, newTrafs[i]!);
      const saio = kids.filter((b) => b.type === 'saio').pop();
      const senc = kids.filter((b) => b.type === 'senc').pop();
      if (!saio || !senc) throw new Error('an appended saio needs an appended senc');
      let offset: number;
      if (traf.base === 'moof') offset = senc.payload + 8;
      else if (traf.base === 'explicit')
        offset = newMoofStart + senc.payload + 8 - (traf.baseOffset + cumulative + growth);
      else throw new Error('cannot point saio at senc for a traf addressed from the previous traf');
      if (offset < 0 || offset > 0xffffffff) throw new Error('saio offset out of range');
      newMoof.writeUInt32BE(offset, saio.payload + 8);
    }
    pieces.push({ buf: newMoof });
    growths.push({ start: box.start, end: box.end, growth });
    cumulative += growth;
  }
  for (const { box, copy } of sidxes) patchSidx(seg, box, copy, growths);
  const data = assemble(seg, pieces, holes ? holes().sort((a, b) => a[0] - b[0]) : []);
  return {
    data,
    newOffset(old: number): number {
      let g = 0;
      for (const m of growths) if (m.end <= old) g += m.growth;
      return old + g;
    },
  };
}
