import type { IncomingMessage } from 'node:http';
import {
  Denial,
  type KeyGrant,
  keyGrantKeyLabel,
  signKeyGrant,
  type ViewerClaims,
  verifyKeyGrant,
} from '@vigil/core';
import type { Envelope } from '@vigil/keys';
import type { Admitted, ViewerGate } from './auth/viewer-gate.ts';
import { tenantSecrets } from './delivery.ts';
import type { StatsRecorder } from './stats/recorder.ts';

/**
 * Issues the HLS key grants the origin writes into the key URIs of the playlists it serves, and admits
 * key requests that carry one: the grant is verified under its own per-tenant secret (derived from the
 * master key under `hls-key-grant:v1:<tenant>`, so every instance agrees and nothing is stored), then
 * goes through the ViewerGate's access rules as the claims it names (IP binding when bound, ban by
 * session, ban by IP, the tenant's browser origins), counted and logged like a viewer token's.
 */
export class KeyGrants {
  readonly #secretFor: (tenantId: string) => Buffer | undefined;

  constructor(
    envelope: Envelope,
    private readonly gate: ViewerGate,
    private readonly stats: StatsRecorder,
    private readonly clientIp: (req: IncomingMessage) => string,
  ) {
    this.#secretFor = tenantSecrets(envelope, keyGrantKeyLabel);
  }

  issue(grant: KeyGrant): string {
    const secret = this.#secretFor(grant.tenantId);
    if (!secret) throw new Error(`"${grant.tenantId}" is not a tenant id`);
    return signKeyGrant(grant, secret);
  }

  /** The access rules for a key request carrying grant `token`; a Denial when refused. */
  async admit(token: string, req: IncomingMessage, endpoint: string, now: number): Promise<Admitted> {
    const check = verifyKeyGrant(token, { now, secretFor: (id) => this.#secretFor(id) });
    if (!check.ok) {
      this.stats.record(undefined, endpoint, check.reason, now);
      throw new Denial(check.reason, check.message);
    }
    const { grant } = check;
    const claims: ViewerClaims = {
      tenantId: grant.tenantId,
      sessionId: grant.sessionId,
      resourceId: grant.resourceId,
      // Unbound: the requester's own address, so the IP binding holds and its ban still applies.
      ip: grant.ip ?? this.clientIp(req),
      iat: Math.floor(now / 1000),
      exp: Math.floor(grant.expiresAt / 1000),
    };
    return this.gate.admitClaims(claims, req, endpoint, now);
  }
}
