/**
 * Live CMAF fragments with in-band key rotation under one init segment: timeline rewrite
 * (setFragmentTiming), per-fragment key signalling (addRotationSignalling: `pssh` in `moof`, 'seig'
 * sample group in `traf`), the channel's init without `pssh` (encryptLiveInit), and decryption that
 * honours the per-fragment KID (decryptLiveSegment). Encryption itself is the packager's encryptSegment.
 */

export { applySplices, mapOffset, type Splice } from '@vigil/packager/isobmff';
export { decryptLiveSegment, fragmentKid } from './decrypt.ts';
export { encryptLiveInit, type LiveInitOptions, stripMoovPssh } from './init.ts';
export {
  FRAGMENT_LOCAL_INDEX,
  readSeigDescriptions,
  readSeigSbgp,
  type SeigEntry,
  seigSbgp,
  seigSgpd,
} from './seig.ts';
export {
  addRotationSignalling,
  moofPsshKids,
  type RotationSignalling,
  stripRotationSignalling,
} from './signalling.ts';
export { type FragmentTimingEdit, setFragmentTiming } from './timing.ts';
