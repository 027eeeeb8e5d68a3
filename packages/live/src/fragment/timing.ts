/**
 * The live timeline of a fragment: `tfdt` baseMediaDecodeTime (ISO/IEC 14496-12 §8.8.12) and `mfhd`
 * sequence_number (§8.8.5). Vigil owns the timeline across encoder restarts, so each clear fragment from
 * ffmpeg gets its decode time and number here before it is encrypted (or after: the rewrite keeps every
 * offset right either way).
 */
import {
  applySplices,
  find,
  fullBoxHeader,
  makeFullBox,
  mapOffset,
  moofsOf,
  type Splice,
} from '@vigil/packager/isobmff';

export interface FragmentTimingEdit {
  /** the first `moof`'s decode time, in the track's timescale */
  baseMediaDecodeTime: bigint | number;
  /** the first `moof`'s sequence number (later ones count on from it); unchanged when absent */
  sequenceNumber?: number;
}

const MAX64 = (1n << 64n) - 1n;

function tfdtBox(value: bigint): Buffer {
  if (value <= 0xffffffffn) {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(Number(value), 0);
    return makeFullBox('tfdt', 0, 0, p);
  }
  const p = Buffer.alloc(8);
  p.writeBigUInt64BE(value, 0);
  return makeFullBox('tfdt', 1, 0, p);
}

/**
 * Sets the decode time and sequence number of a single-track media segment. The first `traf`'s `tfdt`
 * becomes `baseMediaDecodeTime`; the `tfdt`s of later `moof`s keep their distance from it. A version 0
 * `tfdt` whose new value needs 64 bits becomes version 1 (4 bytes more: `traf`/`moof` sizes, `trun`
 * data_offset, `saio` and `sidx` are corrected); a version 1 one stays version 1. A `traf` without
 * `tfdt` gets one after its `tfhd`. Throws for several tracks in one segment (their timescales differ).
 */
export function setFragmentTiming(segment: Buffer, edit: FragmentTimingEdit): Buffer {
  const target = BigInt(edit.baseMediaDecodeTime);
  if (target < 0n || target > MAX64) throw new Error('baseMediaDecodeTime must fit 64 bits unsigned');
  const seq = edit.sequenceNumber;
  if (seq !== undefined && (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff)) {
    throw new Error('sequenceNumber must be a 32-bit unsigned integer');
  }
  const moofs = moofsOf(segment);
  if (moofs.length === 0) throw new Error('not a media segment (no moof)');
  const tracks = new Set<number>();
  for (const m of moofs)
    for (const t of m.trafs) {
      const tfhd = find(t.kids, 'tfhd');
      if (!tfhd) throw new Error('a traf without tfhd');
      tracks.add(segment.readUInt32BE(tfhd.payload + 4));
    }
  if (tracks.size !== 1) throw new Error(`one track per segment expected, found ${tracks.size}`);

  let delta: bigint | undefined;
  const splices: Splice[] = [];
  const sequenceFields: [number, number][] = [];
  moofs.forEach(({ moof, kids, trafs }, i) => {
    const mfhd = find(kids, 'mfhd');
    if (!mfhd) throw new Error('a moof without mfhd');
    if (seq !== undefined) sequenceFields.push([mfhd.payload + 4, (seq + i) >>> 0]);
    for (const { box, kids: trafKids } of trafs) {
      const tfdt = find(trafKids, 'tfdt');
      let old = 0n;
      if (tfdt) {
        old =
          fullBoxHeader(segment, tfdt).version === 1
            ? segment.readBigUInt64BE(tfdt.payload + 4)
            : BigInt(segment.readUInt32BE(tfdt.payload + 4));
      }
      delta ??= target - old;
      const value = old + delta;
      if (value < 0n || value > MAX64) throw new Error('a later tfdt falls outside 64 bits');
      let replacement = tfdtBox(value);
      if (tfdt && fullBoxHeader(segment, tfdt).version === 1 && replacement.length !== 20) {
        const p = Buffer.alloc(8);
        p.writeBigUInt64BE(value, 0);
        replacement = makeFullBox('tfdt', 1, 0, p);
      }
      if (tfdt) {
        splices.push({
          at: tfdt.start,
          remove: tfdt.end - tfdt.start,
          insert: replacement,
          parents: [box, moof],
        });
      } else {
        const tfhd = find(trafKids, 'tfhd')!;
        splices.push({ at: tfhd.end, remove: 0, insert: replacement, parents: [box, moof] });
      }
    }
  });
  const out = applySplices(segment, splices);
  for (const [at, value] of sequenceFields) out.writeUInt32BE(value, mapOffset(splices, at));
  return out;
}
