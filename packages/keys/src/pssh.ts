/**
 * `pssh` boxes (ISO/IEC 23001-7 §8.1): the per-DRM-system initialisation data a player hands to EME.
 */

export const SYSTEM_IDS = {
  /** W3C Common PSSH (EME ClearKey, "cenc" init data). */
  clearKey: '1077efec-c0b2-4d02-ace3-3c1e52e2fb4b',
  /** DASH-IF ClearKey (ContentProtection with dashif:Laurl). */
  dashIfClearKey: 'e2719d58-a985-b3c9-781a-b030af78d30e',
  widevine: 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed',
  playReady: '9a04f079-9840-4286-ab92-e65be0885f95',
  fairPlay: '94ce86fb-07ff-4f43-adb8-93d2fa968ca2',
} as const;

export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/**
 * Builds a `pssh` box. Version 1 lists the key ids in the box itself (what the common system and
 * Chromium's "cenc" init data use); version 0 carries them only inside `data`.
 */
export function psshBox(
  systemId: string,
  kids: string[],
  data: Buffer = Buffer.alloc(0),
  version: 0 | 1 = 1,
): Buffer {
  const kidBytes = version === 1 ? 4 + 16 * kids.length : 0;
  const size = 8 + 4 + 16 + kidBytes + 4 + data.length;
  const box = Buffer.alloc(size);
  let o = box.writeUInt32BE(size, 0);
  o += box.write('pssh', o, 'latin1');
  o = box.writeUInt32BE(version << 24, o);
  o += uuidBytes(systemId).copy(box, o);
  if (version === 1) {
    o = box.writeUInt32BE(kids.length, o);
    for (const kid of kids) o += Buffer.from(kid, 'hex').copy(box, o);
  }
  o = box.writeUInt32BE(data.length, o);
  data.copy(box, o);
  return box;
}

/** The W3C common `pssh` (ClearKey): version 1, key ids only, no data. */
export function clearKeyPssh(kids: string[]): Buffer {
  return psshBox(SYSTEM_IDS.clearKey, kids);
}
