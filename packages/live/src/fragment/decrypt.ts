/**
 * Decrypting live fragments for tests and inspection: the key is picked per fragment by the KID of its
 * 'seig' sample group (falling back to the init's `tenc` default_KID), then the packager's
 * decryptSegment does the work on the fragment with the rotation signalling removed.
 */
import { decryptSegment, readInitTracks, tencKid } from '@vigil/packager';
import { moofsOf } from '@vigil/packager/isobmff';
import { FRAGMENT_LOCAL_INDEX, readSeigDescriptions, readSeigSbgp } from './seig.ts';
import { stripRotationSignalling } from './signalling.ts';

/**
 * The KID the samples of a segment are encrypted with: the one its 'seig' groups name (every `traf`
 * must name the same one and map all its samples to it), else the init's default_KID.
 */
export function fragmentKid(segment: Buffer, encryptedInit: Buffer): string {
  const kids = new Set<string>();
  let unsignalled = 0;
  for (const { trafs } of moofsOf(segment)) {
    for (const { kids: trafKids } of trafs) {
      const entries = readSeigDescriptions(segment, trafKids);
      const runs = readSeigSbgp(segment, trafKids);
      if (entries.length === 0 && runs.length === 0) {
        unsignalled++;
        continue;
      }
      if (entries.length !== 1 || runs.length !== 1 || runs[0]![1] !== FRAGMENT_LOCAL_INDEX) {
        throw new Error('only one fragment-local seig description covering every sample is supported');
      }
      kids.add(entries[0]!.kid);
    }
  }
  if (unsignalled > 0 || kids.size === 0) {
    const kid = tencKid(encryptedInit);
    if (!kid) throw new Error('the init segment is not encrypted');
    kids.add(kid);
  }
  if (kids.size !== 1) throw new Error(`a segment under several KIDs: ${[...kids].join(', ')}`);
  return [...kids][0]!;
}

/**
 * Decrypts a live fragment: the key of its KID (see fragmentKid) from `keys`, the signalling removed,
 * the packager's decryptSegment with the init's `tenc` (whose per-sample IV size must match the seig
 * one). The result is the clear fragment that plays with the clear init.
 */
export function decryptLiveSegment(
  segment: Buffer,
  encryptedInit: Buffer,
  keys: ReadonlyMap<string, Buffer> | ((kid: string) => Buffer | undefined),
): Buffer {
  const kid = fragmentKid(segment, encryptedInit);
  const key = typeof keys === 'function' ? keys(kid) : keys.get(kid);
  if (!key) throw new Error(`no key for KID ${kid}`);
  const tencIvSizes = new Set(readInitTracks(encryptedInit).map((t) => t.protection?.perSampleIvSize));
  for (const { trafs } of moofsOf(segment)) {
    for (const { kids: trafKids } of trafs) {
      for (const e of readSeigDescriptions(segment, trafKids)) {
        if (!tencIvSizes.has(e.perSampleIvSize)) {
          throw new Error(`seig IV size ${e.perSampleIvSize} differs from the init's tenc`);
        }
      }
    }
  }
  return decryptSegment(stripRotationSignalling(segment), encryptedInit, key);
}
