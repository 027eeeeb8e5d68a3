import { rewriteSegment } from '../isobmff/rewrite.ts';
import { AUX_BOXES, readSampleInfo } from './aux-info.ts';
import type { Pattern } from './cipher.ts';
import { runCtrDecrypt, runJobs } from './drive-js.ts';
import { type InitTrack, readInitTracks } from './init.ts';
import { aesKey, overwritten, type SampleJob } from './plan.ts';

/**
 * Decrypts every protected track of a media segment with the `tenc` defaults of its encrypted init,
 * returning the clear segment: samples decrypted, `senc`/`saiz`/`saio` removed and offsets restored, so
 * that it plays with the clear init (for what `encryptSegment` made: byte for byte the original).
 */
export function decryptSegment(segment: Buffer, encryptedInit: Buffer, key: Buffer): Buffer {
  const aes = aesKey(key);
  const tracks = new Map<number, InitTrack>();
  for (const t of readInitTracks(encryptedInit)) tracks.set(t.trackId, t);
  const work: { scheme: string; pattern: Pattern; jobs: SampleJob[] }[] = [];
  const rewritten = rewriteSegment(
    segment,
    (id) => tracks.get(id)?.defaultSampleSize,
    (traf, moof) => {
      const protection = tracks.get(traf.trackId)?.protection;
      if (!protection) return undefined;
      const { scheme, perSampleIvSize: ivSize, pattern, constantIv } = protection;
      if (scheme !== 'cenc' && scheme !== 'cbcs') throw new Error(`scheme '${scheme}' is not supported`);
      if (ivSize !== 0 && ivSize !== 8 && ivSize !== 16)
        throw new Error(`invalid per-sample IV size ${ivSize}`);
      const info = readSampleInfo(segment, traf, moof, ivSize);
      const jobs: SampleJob[] = [];
      if (protection.isProtected) {
        for (const [i, sample] of traf.samples.entries()) {
          let iv: Buffer;
          if (ivSize === 0) {
            if (!constantIv || constantIv.length !== 16) throw new Error('tenc has no 16-byte constant IV');
            iv = constantIv;
          } else {
            const sampleIv = info?.ivs?.[i];
            if (!sampleIv) throw new Error('no per-sample IV for an encrypted sample');
            iv = Buffer.alloc(16);
            sampleIv.copy(iv);
          }
          jobs.push({ sample, iv, block: 0, subsamples: info?.subs[i] ?? null });
        }
      }
      work.push({ scheme, pattern, jobs });
      return { drop: AUX_BOXES };
    },
    () => work.flatMap((w) => overwritten(w.scheme, w.pattern, w.jobs)),
  );
  for (const w of work) {
    if (w.scheme === 'cenc') runCtrDecrypt(aes, w.jobs, segment, rewritten.data, rewritten.newOffset);
    else runJobs(true, w.scheme, aes, w.pattern, w.jobs, segment, rewritten.data, rewritten.newOffset);
  }
  return rewritten.data;
}
