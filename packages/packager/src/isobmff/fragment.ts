/**
 * Movie fragments (ISO/IEC 14496-12 §8.8): where each sample of a `traf` lies, and where the fields
 * that locate sample data (`tfhd` base_data_offset, `trun` data_offset) sit, so a rewrite that grows or
 * shrinks a `moof` can correct them.
 */
import { type Box, children, findAll, fullBoxHeader, mustFind } from './box.ts';

export const TFHD_BASE_DATA_OFFSET = 0x1;
export const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x2;
export const TFHD_DEFAULT_DURATION = 0x8;
export const TFHD_DEFAULT_SIZE = 0x10;
export const TFHD_DEFAULT_FLAGS = 0x20;
export const TFHD_DEFAULT_BASE_IS_MOOF = 0x20000;

export const TRUN_DATA_OFFSET = 0x1;
export const TRUN_FIRST_SAMPLE_FLAGS = 0x4;
export const TRUN_DURATION = 0x100;
export const TRUN_SIZE = 0x200;
export const TRUN_FLAGS = 0x400;
export const TRUN_CTO = 0x800;

export interface FragmentSample {
  /** absolute offset of the sample's first byte in the buffer */
  offset: number;
  size: number;
}

export interface Run {
  box: Box;
  /** offset of the signed 32-bit data_offset field, if present */
  dataOffsetField?: number;
  sampleCount: number;
}

export interface TrafInfo {
  box: Box;
  children: Box[];
  trackId: number;
  /**
   * How sample data is addressed: 'moof' (relative to the moof's first byte: default-base-is-moof, or
   * the first traf without a base), 'explicit' (base_data_offset, an absolute position) or 'previous'
   * (the end of the previous traf's data).
   */
  base: 'moof' | 'explicit' | 'previous';
  /** offset of the 64-bit base_data_offset field when `base` is 'explicit' */
  baseDataOffsetField?: number;
  /** the base offset the samples were located from (absolute) */
  baseOffset: number;
  runs: Run[];
  samples: FragmentSample[];
  /** end of this traf's sample data, the base of a following traf with base 'previous' */
  dataEnd: number;
}

/**
 * Parses every `traf` of a `moof` (at `moof.start` in `buf`). `defaultSampleSize` maps a track id to its
 * `trex` default, needed only when neither `trun` nor `tfhd` gives sizes.
 */
export function parseMoof(
  buf: Buffer,
  moof: Box,
  defaultSampleSize: (trackId: number) => number | undefined,
): TrafInfo[] {
  const trafs: TrafInfo[] = [];
  let previousEnd = moof.start;
  for (const traf of findAll(children(buf, moof), 'traf')) {
    const kids = children(buf, traf);
    const tfhd = mustFind(kids, 'tfhd', 'traf');
    const { flags: tf } = fullBoxHeader(buf, tfhd);
    let o = tfhd.payload + 4;
    const trackId = buf.readUInt32BE(o);
    o += 4;
    let base: TrafInfo['base'];
    let baseOffset: number;
    let baseDataOffsetField: number | undefined;
    if (tf & TFHD_BASE_DATA_OFFSET) {
      base = 'explicit';
      baseDataOffsetField = o;
      baseOffset = Number(buf.readBigUInt64BE(o));
      o += 8;
    } else if (tf & TFHD_DEFAULT_BASE_IS_MOOF || trafs.length === 0) {
      base = 'moof';
      baseOffset = moof.start;
    } else {
      base = 'previous';
      baseOffset = previousEnd;
    }
    if (tf & TFHD_SAMPLE_DESCRIPTION_INDEX) o += 4;
    if (tf & TFHD_DEFAULT_DURATION) o += 4;
    let tfhdSize: number | undefined;
    if (tf & TFHD_DEFAULT_SIZE) tfhdSize = buf.readUInt32BE(o);

    const runs: Run[] = [];
    const samples: FragmentSample[] = [];
    let next = baseOffset;
    for (const trun of findAll(kids, 'trun')) {
      const { flags: rf } = fullBoxHeader(buf, trun);
      let p = trun.payload + 4;
      const sampleCount = buf.readUInt32BE(p);
      p += 4;
      let dataOffsetField: number | undefined;
      if (rf & TRUN_DATA_OFFSET) {
        dataOffsetField = p;
        next = baseOffset + buf.readInt32BE(p);
        p += 4;
      }
      if (rf & TRUN_FIRST_SAMPLE_FLAGS) p += 4;
      const stride =
        4 *
        ((rf & TRUN_DURATION ? 1 : 0) +
          (rf & TRUN_SIZE ? 1 : 0) +
          (rf & TRUN_FLAGS ? 1 : 0) +
          (rf & TRUN_CTO ? 1 : 0));
      const sizeAt = rf & TRUN_DURATION ? 4 : 0;
      if (p + stride * sampleCount > trun.end) throw new Error('trun is shorter than its sample count');
      let fixedSize = tfhdSize ?? defaultSampleSize(trackId);
      if (rf & TRUN_SIZE) fixedSize = undefined;
      else if (fixedSize === undefined && sampleCount > 0) {
        throw new Error(`no sample size for track ${trackId}: not in trun, tfhd or trex`);
      }
      for (let i = 0; i < sampleCount; i++) {
        const size = fixedSize ?? buf.readUInt32BE(p + i * stride + sizeAt);
        samples.push({ offset: next, size });
        next += size;
      }
      runs.push({ box: trun, dataOffsetField, sampleCount });
    }
    previousEnd = next;
    trafs.push({
      box: traf,
      children: kids,
      trackId,
      base,
      baseDataOffsetField,
      baseOffset,
      runs,
      samples,
      dataEnd: next,
    });
  }
  return trafs;
}
