/** Strict encodings used on the wire: base64url without padding (EME ClearKey) and hex key ids. */

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEX32 = /^[0-9a-fA-F]{32}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Decodes base64url (padding tolerated, as some players add it); returns null on any other character. */
export function fromBase64Url(text: string): Buffer | null {
  const bare = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  if (!BASE64URL.test(bare) || bare.length % 4 === 1) return null;
  return Buffer.from(bare, 'base64url');
}

/** A key id is 16 bytes; accepted as 32 hex digits, a UUID, or base64url. Returned as lowercase hex. */
export function parseKid(text: string): string | null {
  if (HEX32.test(text)) return text.toLowerCase();
  if (UUID.test(text)) return text.replaceAll('-', '').toLowerCase();
  const bytes = fromBase64Url(text);
  return bytes && bytes.length === 16 ? bytes.toString('hex') : null;
}

export function kidToBase64Url(kidHex: string): string {
  return Buffer.from(kidHex, 'hex').toString('base64url');
}
