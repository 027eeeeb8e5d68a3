/**
 * The init segment of a live channel with rotating keys. It is made once per track and never changes
 * (one DASH Period), so it must not name any key that will expire: no `pssh` in `moov`. Keys are
 * announced per fragment instead (./signalling.ts: `pssh` in `moof`, 'seig' sample group in `traf`). The
 * `tenc` still needs a default_KID (ISO/IEC 23001-7 §8.2): the first key period's KID, which the
 * fragments' 'seig' groups override.
 */

import { encryptInit } from '@vigil/packager';
import { children, readBoxes, rebuildBox } from '@vigil/packager/isobmff';

export interface LiveInitOptions {
  scheme: 'cenc' | 'cbcs';
  /** `tenc` default_KID: the KID of the first key period (32 hex digits) */
  kid: string;
  /** cbcs: the 16-byte constant IV of `tenc` */
  iv?: Buffer;
}

/** `init` with every `pssh` box of its `moov` removed (the `moov` size follows). */
export function stripMoovPssh(init: Buffer): Buffer {
  return Buffer.concat(
    readBoxes(init).map((box) => {
      if (box.type !== 'moov') return init.subarray(box.start, box.end);
      const kept = children(init, box)
        .filter((b) => b.type !== 'pssh')
        .map((b) => init.subarray(b.start, b.end));
      return rebuildBox(init, box, 0, kept);
    }),
  );
}

/**
 * Clear CMAF init → the channel's encrypted init: the packager's encryptInit (encv/enca + sinf/tenc with
 * default_KID = `kid`) with no `pssh` (encryptInit appends exactly the boxes it is given: none here);
 * any `pssh` the clear init carried is removed as well.
 */
export function encryptLiveInit(clearInit: Buffer, opts: LiveInitOptions): Buffer {
  const encrypted = encryptInit(stripMoovPssh(clearInit), {
    scheme: opts.scheme,
    kid: opts.kid,
    iv: opts.iv,
    pssh: [],
  });
  return encrypted;
}
