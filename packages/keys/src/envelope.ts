import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Envelope encryption for secrets at rest (content keys, tenant token secrets): AES-256-GCM under the
 * master key, with the record's identity as associated data so a ciphertext can't be moved to another row.
 * Stored form: base64(iv[12] | tag[16] | ciphertext).
 */
export class Envelope {
  readonly #master: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
    this.#master = Buffer.from(masterKey);
  }

  seal(plain: Uint8Array, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#master, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string, context: string): Buffer {
    const raw = Buffer.from(sealed, 'base64');
    if (raw.length < 28) throw new Error('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#master, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  }

  /**
   * A 32-byte secret for one purpose, derived from the master key with HKDF-SHA256 (`label` as info):
   * the same on every instance sharing the master key, and unrelated to any other label's.
   */
  deriveKey(label: string): Buffer {
    if (label.length === 0) throw new Error('a derived key needs a label');
    return Buffer.from(hkdfSync('sha256', this.#master, 'vigil derived key v1', label, 32));
  }

  /** A value that identifies the master key without revealing it, to refuse starting with the wrong one. */
  fingerprint(): string {
    return createHmac('sha256', this.#master).update('vigil master key check v1').digest('base64url');
  }
}

/** Parses VIGIL_MASTER_KEY: 64 hex digits or base64 of 32 bytes. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (bytes.length !== 32) throw new Error('VIGIL_MASTER_KEY must be 32 bytes, as 64 hex digits or base64');
  return bytes;
}
