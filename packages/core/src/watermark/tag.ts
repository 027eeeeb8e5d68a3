import { createHmac } from 'node:crypto';

/** The label the per-tenant colour-tag key is derived under from the master key (see Envelope.deriveKey). */
export function colorTagKeyLabel(tenantId: string): string {
  return `color-tag:v1:${tenantId}`;
}

/**
 * The 32-bit tag the colour watermark shows for a session: HMAC-SHA256 of the session id under the
 * tenant's colour-tag key (derived from the master key), so nobody without the server's key can compute
 * a victim's tag from its session id and paint it over a restream. The server sends it to the player in
 * the watermark directive and records tag → session when the session starts, so a tag read off a
 * pirated stream leads back to it.
 */
export function sessionTag(tagKey: Uint8Array, sessionId: string): number {
  return createHmac('sha256', tagKey)
    .update('vigil-color-tag.')
    .update(sessionId, 'utf8')
    .digest()
    .readUInt32BE(0);
}
