import { createHash } from 'node:crypto';

/**
 * The 32-bit tag the colour watermark shows for a session. Derived, not stored per viewer: the server
 * records tag → session when a session starts, so a tag read off a pirated stream leads back to it.
 */
export function sessionTag(tenantId: string, sessionId: string): number {
  return createHash('sha256').update(`${tenantId}\n${sessionId}`, 'utf8').digest().readUInt32BE(0);
}
