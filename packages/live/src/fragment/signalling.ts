/**
 * Key rotation signalled inside the fragments, for one init segment that never changes (one DASH
 * Period per live channel):
 * - `pssh` boxes in each `moof` (ISO/IEC 23001-7 §8.1: container `moov` or `moof`): the common v1 one
 *   listing the fragment's KID makes Chromium fire `encrypted` with `cenc` init data for the new key;
 * - a 'seig' sample group in each `traf` (23001-7 §6): the fragment's samples use its KID, not the
 *   `tenc` default_KID of the init.
 *
 * Where the boxes go (the arithmetic stays simple; the packager's one rewriter, applySplices, corrects
 * every offset):
 * - `sbgp` + `sgpd` are appended at the end of the `traf`, after `senc`/`saiz`/`saio`. The box order
 *   of ISO/IEC 14496-12 Table 1 (tfhd, tfdt, trun, sbgp, sgpd, subs, saiz, saio, …) is a recommendation,
 *   only `tfhd` first is required; readers find children by type. `saio` of that traf keeps its value
 *   (`senc` does not move relative to the `moof`); `saio` of later trafs and every `trun` data_offset
 *   move with the growth before their target.
 * - the `pssh` boxes go after the last child of the `moof` (mfhd stays first), so only the sample data
 *   moves: every `trun` data_offset grows by the `moof`'s growth.
 */

import { readSenc } from '@vigil/packager';
import {
  applySplices,
  type Box,
  findAll,
  fullBoxHeader,
  moofsOf,
  type Splice,
} from '@vigil/packager/isobmff';
import { isSeigBox, seigSbgp, seigSgpd } from './seig.ts';

export interface RotationSignalling {
  /** the fragment's KID, 32 hex digits */
  kid: string;
  /** bytes of each sample's IV in `senc` as written (8 or 16 for cenc; 0 for cbcs with a constant IV) */
  ivSize: number;
  scheme: 'cenc' | 'cbcs';
  /** cbcs with ivSize 0: the constant IV (8 or 16 bytes) */
  constantIv?: Buffer;
  /** cbcs: the crypt/skip pattern of this track (video 1:9, audio 0:0); cenc: always 0:0 */
  pattern?: { crypt: number; skip: number };
  /** complete `pssh` boxes put into every `moof` (e.g. clearKeyPssh([kid]) from @vigil/keys) */
  psshBoxes: Buffer[];
}

function checkPssh(box: Buffer): void {
  if (box.length < 32 || box.readUInt32BE(0) !== box.length || box.toString('latin1', 4, 8) !== 'pssh') {
    throw new Error('psshBoxes must hold complete pssh boxes');
  }
}

/** Whether the entries of a `senc` parse to exactly its end with `ivSize`-byte IVs. */
export function sencFits(seg: Buffer, senc: Box, ivSize: number): boolean {
  const entries = readSenc(seg, senc, ivSize);
  return entries !== null && entries.ivSize === ivSize && entries.end === senc.end;
}

function sampleCount(seg: Buffer, trafKids: Box[]): number {
  let n = 0;
  for (const trun of findAll(trafKids, 'trun')) n += seg.readUInt32BE(trun.payload + 4);
  return n;
}

/**
 * The encrypted fragment (from the packager's encryptSegment) with `sbgp`+`sgpd` ('seig', KID = `kid`)
 * appended to each `traf` that has encryption info (`senc` or `saiz`), and `psshBoxes` appended to each
 * `moof`. Throws on a fragment that already carries a 'seig' group, or on a traf without encryption info
 * (a clear traf would be declared protected).
 */
export function addRotationSignalling(encryptedSegment: Buffer, opts: RotationSignalling): Buffer {
  const { scheme, ivSize } = opts;
  if (scheme !== 'cenc' && scheme !== 'cbcs') throw new Error(`unknown scheme ${scheme}`);
  if (scheme === 'cenc' && ivSize !== 8 && ivSize !== 16) throw new Error('cenc needs an IV size of 8 or 16');
  if (scheme === 'cbcs' && ivSize !== 0 && ivSize !== 8 && ivSize !== 16) {
    throw new Error('cbcs needs an IV size of 0, 8 or 16');
  }
  if (scheme === 'cbcs' && !opts.pattern)
    throw new Error("cbcs needs the track's pattern (video 1:9, audio 0:0)");
  const pattern = scheme === 'cenc' ? { crypt: 0, skip: 0 } : opts.pattern!;
  opts.psshBoxes.forEach(checkPssh);
  const sgpd = seigSgpd({
    isProtected: true,
    perSampleIvSize: ivSize,
    kid: opts.kid.replaceAll('-', '').toLowerCase(),
    ...pattern,
    constantIv: ivSize === 0 ? opts.constantIv : undefined,
  });
  const pssh = Buffer.concat(opts.psshBoxes);
  const splices: Splice[] = [];
  const moofs = moofsOf(encryptedSegment);
  if (moofs.length === 0) throw new Error('not a media segment (no moof)');
  for (const { moof, trafs } of moofs) {
    for (const { box, kids } of trafs) {
      if (kids.some((k) => isSeigBox(encryptedSegment, k)))
        throw new Error('the fragment already has a seig group');
      if (!kids.some((k) => k.type === 'senc' || k.type === 'saiz')) {
        throw new Error('a traf without sample encryption information (encrypt the fragment first)');
      }
      const senc = kids.find((k) => k.type === 'senc');
      if (senc && !sencFits(encryptedSegment, senc, ivSize)) {
        throw new Error(
          `the senc entries do not have ${ivSize}-byte IVs: give the IV size the fragment was encrypted with`,
        );
      }
      const sbgp = seigSbgp(sampleCount(encryptedSegment, kids));
      splices.push({ at: box.end, remove: 0, insert: Buffer.concat([sbgp, sgpd]), parents: [box, moof] });
    }
    // Listed after the traf splices: at the same offset (the last traf's end) they stay inside the traf.
    if (pssh.length > 0) splices.push({ at: moof.end, remove: 0, insert: pssh, parents: [moof] });
  }
  return applySplices(encryptedSegment, splices);
}

/**
 * The inverse: every 'seig' `sbgp`/`sgpd` of the `traf`s and every `pssh` of the `moof`s removed, offsets
 * restored (for what addRotationSignalling made: byte for byte its input).
 */
export function stripRotationSignalling(segment: Buffer): Buffer {
  const splices: Splice[] = [];
  for (const { moof, kids, trafs } of moofsOf(segment)) {
    for (const { box, kids: trafKids } of trafs) {
      for (const k of trafKids) {
        if (isSeigBox(segment, k))
          splices.push({
            at: k.start,
            remove: k.end - k.start,
            insert: Buffer.alloc(0),
            parents: [box, moof],
          });
      }
    }
    for (const k of kids) {
      if (k.type === 'pssh')
        splices.push({ at: k.start, remove: k.end - k.start, insert: Buffer.alloc(0), parents: [moof] });
    }
  }
  return applySplices(segment, splices);
}

/** The KIDs of the version 1 `pssh` boxes of a segment's `moof`s. */
export function moofPsshKids(segment: Buffer): string[] {
  const kids: string[] = [];
  for (const { kids: moofKids } of moofsOf(segment)) {
    for (const p of findAll(moofKids, 'pssh')) {
      if (fullBoxHeader(segment, p).version < 1) continue;
      const count = segment.readUInt32BE(p.payload + 20);
      for (let i = 0; i < count; i++)
        kids.push(segment.toString('hex', p.payload + 24 + 16 * i, p.payload + 40 + 16 * i));
    }
  }
  return kids;
}
