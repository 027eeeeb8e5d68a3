import { createCipheriv, createDecipheriv } from 'node:crypto';

/**
 * HLS AES-128 (RFC 8216 §5.2): the whole segment in AES-128-CBC with PKCS#7 padding. Without an IV
 * attribute on the key tag, the IV is the segment's media sequence number as a 128-bit big-endian integer.
 */
export function sequenceIv(sequence: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(sequence), 8);
  return iv;
}

export function encryptTsSegment(data: Buffer, key: Buffer, sequence: number): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, sequenceIv(sequence));
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** The inverse; throws when the padding is wrong (which a wrong key almost always gives). */
export function decryptTsSegment(data: Buffer, key: Buffer, sequence: number): Buffer {
  const decipher = createDecipheriv('aes-128-cbc', key, sequenceIv(sequence));
  return Buffer.concat([decipher.update(data), decipher.final()]);
}
