/**
 * Subsample layout of H.264 samples (ISO/IEC 23001-7 §9.5 and §10.4; ISO/IEC 14496-15 sample format).
 *
 * Per NAL unit of a sample (each prefixed with a `nalLengthSize`-byte length):
 * - the length prefix and the NAL header byte stay clear;
 * - coded slices (types 1 and 5) also keep their whole slice header clear: it is parsed exactly
 *   (see `sliceHeaderLength`) with the SPS/PPS of the avcC box, updated by in-band SPS/PPS (avc3);
 * - every other NAL unit (SEI, SPS, PPS, AUD, filler, …) stays clear entirely, and is folded into the
 *   clear part of the next subsample.
 *
 * `cenc` (AES-CTR): each protected range is shortened to a multiple of 16 bytes, the remainder joining
 * the clear bytes right after the slice header, so each protected range is whole CTR blocks and ends
 * with its NAL unit (what most packagers do; the counter still runs on across the subsamples of a
 * sample, as the scheme requires). With `alignBase`, each protected range instead starts at a multiple
 * of 16 bytes from `alignBase` (up to 15 more clear bytes after the slice header) and is whole blocks
 * from there, the rest of the NAL unit (under 16 bytes) staying clear: then one AES-CTR pass over all
 * the sample data from `alignBase` puts every protected range on whole counter blocks of its own. `cbcs`
 * (AES-CBC 1:9 pattern): the protected range is the rest of the NAL unit; its trailing partial block
 * stays clear by the scheme's own rule.
 *
 * BytesOfClearData is 16 bits: longer clear runs are split into several entries with no protected
 * bytes.
 */
import { type AvcParams, parsePps, parseSps, sliceHeaderLength } from './avc.ts';
import type { Scheme, Subsample } from './types.ts';

function push(out: Subsample[], clear: number, prot: number): void {
  let c = clear;
  while (c > 0xffff) {
    out.push({ clear: 0xffff, protected: 0 });
    c -= 0xffff;
  }
  out.push({ clear: c, protected: prot });
}

export function avcSubsamples(
  buf: Buffer,
  start: number,
  size: number,
  nalLengthSize: number,
  params: AvcParams,
  scheme: Scheme,
  alignBase?: number,
): Subsample[] {
  const out: Subsample[] = [];
  const end = start + size;
  let pendingClear = 0;
  let o = start;
  while (o < end) {
    if (o + nalLengthSize > end) throw new Error('truncated NAL unit length in sample');
    const nalSize = buf.readUIntBE(o, nalLengthSize);
    const nal = o + nalLengthSize;
    if (nal + nalSize > end || nalSize === 0) {
      throw new Error(
        `NAL unit of ${nalSize} bytes does not fit its sample (nalLengthSize ${nalLengthSize})`,
      );
    }
    const header = buf[nal]!;
    const type = header & 0x1f;
    if (type === 1 || type === 5) {
      const sliceHeader = sliceHeaderLength(buf, nal + 1, nal + nalSize, type, (header >> 5) & 3, params);
      const data = nal + 1 + sliceHeader;
      const rest = nal + nalSize - data;
      /** clear bytes of slice data before the protected range */
      let lead = 0;
      let prot: number;
      if (scheme === 'cbcs') {
        prot = rest >= 16 ? rest : 0;
      } else if (alignBase === undefined) {
        prot = rest - (rest % 16);
        lead = rest - prot;
      } else {
        lead = (16 - ((data - alignBase) % 16)) % 16;
        prot = rest > lead ? rest - lead - ((rest - lead) % 16) : 0;
      }
      if (prot > 0) {
        push(out, pendingClear + (data + lead - o), prot);
        pendingClear = rest - lead - prot;
      } else {
        pendingClear += nalLengthSize + nalSize;
      }
    } else {
      if (type === 7) {
        const sps = parseSps(buf.subarray(nal, nal + nalSize));
        params.sps.set(sps.id, sps);
      } else if (type === 8) {
        const pps = parsePps(buf.subarray(nal, nal + nalSize));
        params.pps.set(pps.id, pps);
      }
      pendingClear += nalLengthSize + nalSize;
    }
    o = nal + nalSize;
  }
  if (pendingClear > 0 || out.length === 0) push(out, pendingClear, 0);
  if (out.length > 0xffff) throw new Error('more than 65535 subsamples in one sample');
  return out;
}
