/**
 * `pssh` boxes (ISO/IEC 23001-7 §8.1): the per-DRM-system initialisation data a player hands to EME.
 */
import { hexToUuid, xmlEscape } from './text.ts';

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

/** Common Encryption protection schemes (ISO/IEC 23001-7). */
export type ProtectionScheme = 'cenc' | 'cbc1' | 'cens' | 'cbcs';

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value >>> 0;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** A protobuf length-delimited field (wire type 2). */
function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

function kidHexBytes(kid: string): Buffer {
  if (!/^[0-9a-fA-F]{32}$/.test(kid)) throw new Error(`not a 16-byte hex key id: ${kid}`);
  return Buffer.from(kid, 'hex');
}

export interface WidevinePsshOptions {
  /** Opaque content identifier (field 4); a string is taken as UTF-8. */
  contentId?: Buffer | string;
  /** Content provider name (field 3). */
  provider?: string;
  /** Protection scheme as a FourCC (field 9); players assume `cenc` without it. */
  protectionScheme?: ProtectionScheme;
  /** `pssh` box version; 0 (the default) carries the key ids only inside the WidevinePsshData. */
  version?: 0 | 1;
}

/**
 * The `WidevinePsshData` protobuf: `key_id` (field 2, repeated bytes), `provider` (3), `content_id` (4)
 * and `protection_scheme` (9, the scheme's FourCC as a big-endian uint32). Key ids are 32 hex digits.
 */
export function widevinePsshData(kids: string[], opts: WidevinePsshOptions = {}): Buffer {
  const parts = kids.map((kid) => lengthDelimited(2, kidHexBytes(kid)));
  if (opts.provider !== undefined) parts.push(lengthDelimited(3, Buffer.from(opts.provider, 'utf8')));
  if (opts.contentId !== undefined) {
    const id = typeof opts.contentId === 'string' ? Buffer.from(opts.contentId, 'utf8') : opts.contentId;
    parts.push(lengthDelimited(4, id));
  }
  if (opts.protectionScheme !== undefined) {
    const fourcc = Buffer.from(opts.protectionScheme, 'latin1').readUInt32BE(0);
    parts.push(Buffer.concat([varint(9 << 3), varint(fourcc)]));
  }
  return Buffer.concat(parts);
}

/** A Widevine `pssh` box for these key ids (no license is issued by Vigil: this is signalling only). */
export function widevinePssh(kids: string[], opts: WidevinePsshOptions = {}): Buffer {
  const version = opts.version ?? 0;
  return psshBox(SYSTEM_IDS.widevine, version === 1 ? kids : [], widevinePsshData(kids, opts), version);
}

export interface PlayReadyOptions {
  /** License acquisition URL written into the header's LA_URL. */
  laUrl?: string;
  /** The protection scheme decides ALGID: AESCBC for cbcs/cbc1, AESCTR otherwise. */
  protectionScheme?: ProtectionScheme;
  /** `pssh` box version; 1 (the default) also lists the key ids in the box. */
  version?: 0 | 1;
}

/** A key id as PlayReady writes it: base64 of the GUID, whose first three fields are little-endian. */
export function playReadyKid(kid: string): string {
  const b = kidHexBytes(kid);
  const guid = Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
  return guid.toString('base64');
}

/** The PlayReady header (WRMHEADER 4.3.0.0) XML for these key ids. */
export function playReadyHeader(kids: string[], opts: PlayReadyOptions = {}): string {
  if (kids.length === 0) throw new Error('a PlayReady header needs at least one key id');
  const algId = opts.protectionScheme === 'cbcs' || opts.protectionScheme === 'cbc1' ? 'AESCBC' : 'AESCTR';
  const kidXml = kids.map((kid) => `<KID ALGID="${algId}" VALUE="${playReadyKid(kid)}"></KID>`).join('');
  const laUrl = opts.laUrl === undefined ? '' : `<LA_URL>${xmlEscape(opts.laUrl)}</LA_URL>`;
  return (
    '<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.3.0.0">' +
    `<DATA><PROTECTINFO><KIDS>${kidXml}</KIDS></PROTECTINFO>${laUrl}</DATA></WRMHEADER>`
  );
}

/**
 * The PlayReady Object: little-endian total length (uint32), record count (uint16), then one record of
 * type 1 (rights management header) holding the WRMHEADER in UTF-16LE.
 */
export function playReadyObject(kids: string[], opts: PlayReadyOptions = {}): Buffer {
  const header = Buffer.from(playReadyHeader(kids, opts), 'utf16le');
  if (header.length > 0xffff) throw new Error('the PlayReady header is too long');
  const pro = Buffer.alloc(4 + 2 + 2 + 2 + header.length);
  pro.writeUInt32LE(pro.length, 0);
  pro.writeUInt16LE(1, 4);
  pro.writeUInt16LE(1, 6);
  pro.writeUInt16LE(header.length, 8);
  header.copy(pro, 10);
  return pro;
}

/** A PlayReady `pssh` box (the PlayReady Object as its data); signalling only, no license is issued. */
export function playReadyPssh(kids: string[], opts: PlayReadyOptions = {}): Buffer {
  const version = opts.version ?? 1;
  return psshBox(SYSTEM_IDS.playReady, version === 1 ? kids : [], playReadyObject(kids, opts), version);
}

export interface ParsedPssh {
  version: number;
  /** Lowercase UUID with dashes. */
  systemId: string;
  /** Key ids listed in a version 1 box, lowercase hex. */
  kids: string[];
  data: Buffer;
}

/** Reads one `pssh` box (the inverse of {@link psshBox}); throws on anything malformed. */
export function parsePssh(box: Buffer): ParsedPssh {
  if (box.length < 32) throw new Error('pssh box is truncated');
  const size = box.readUInt32BE(0);
  if (size !== box.length) throw new Error(`pssh box size ${size} does not match its ${box.length} bytes`);
  if (box.toString('latin1', 4, 8) !== 'pssh') throw new Error('not a pssh box');
  const version = box.readUInt8(8);
  if (version > 1) throw new Error(`unknown pssh version ${version}`);
  const hex = box.toString('hex', 12, 28);
  const systemId = hexToUuid(hex);
  let o = 28;
  const kids: string[] = [];
  if (version === 1) {
    const count = box.readUInt32BE(o);
    o += 4;
    if (o + count * 16 + 4 > box.length) throw new Error('pssh key id list is truncated');
    for (let i = 0; i < count; i++, o += 16) kids.push(box.toString('hex', o, o + 16));
  }
  const dataSize = box.readUInt32BE(o);
  o += 4;
  if (o + dataSize !== box.length) throw new Error('pssh data size does not match the box');
  return { version, systemId, kids, data: box.subarray(o) };
}
