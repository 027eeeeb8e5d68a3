import type { IncomingMessage } from 'node:http';
import { checkViewerAccess, Denial, type ViewerClaims, type ViewerTokenVerifier } from '@vigil/core';
import type { VigilStore } from '@vigil/store';
import type { AccessLog } from '../access-log.ts';
import type { HotState, TenantState } from '../hot-state.ts';
import type { StatsRecorder } from '../stats/recorder.ts';

export interface Admitted {
  claims: ViewerClaims;
  tenant: TenantState;
  /** The viewer's address (see client-ip.ts). */
  ip: string;
}

const SIGHTING_INTERVAL_MS = 60_000;

/**
 * The checks in front of every key a viewer gets, cheapest first: token (cached once verified), tenant,
 * browser origin, IP binding, ban by session, ban by IP. Refusals are counted; a banned session's
 * address is recorded against its ban.
 */
export class ViewerGate {
  readonly #sightings = new Map<string, number>();

  constructor(
    private readonly hot: HotState,
    private readonly verifier: ViewerTokenVerifier,
    private readonly stats: StatsRecorder,
    private readonly store: VigilStore,
    private readonly clientIp: (req: IncomingMessage) => string,
    private readonly access: AccessLog,
  ) {}

  /** Verifies a token and its tenant, then applies the access rules. */
  async admit(
    token: string | undefined,
    req: IncomingMessage,
    endpoint: string,
    now: number,
  ): Promise<Admitted> {
    let claims: ViewerClaims;
    try {
      if (!token)
        throw new Denial('token_missing', 'a viewer token is required (Authorization: Bearer <token>)');
      claims = this.verifier.cached(token, now) ?? (await this.verifier.verify(token, now));
    } catch (err) {
      if (err instanceof Denial) this.stats.record(undefined, endpoint, err.reason, now);
      throw err;
    }
    // The steady state (token and tenant in memory) waits for no promise.
    const tenant = this.hot.peek(claims.tenantId) ?? (await this.hot.tenant(claims.tenantId));
    return this.#check(claims, tenant, req, endpoint, now);
  }

  /**
   * admit() without a promise for the steady state: undefined, having done nothing, unless the token is a
   * verified one in the cache and its tenant is in memory; then the same access rules, refusals included.
   */
  admitCached(token: string, req: IncomingMessage, endpoint: string, now: number): Admitted | undefined {
    const claims = this.verifier.cached(token, now);
    if (claims === undefined) return undefined;
    const tenant = this.hot.peek(claims.tenantId);
    if (tenant === undefined) return undefined;
    return this.#check(claims, tenant, req, endpoint, now);
  }

  /** Access rules for claims already verified (also used by the compatibility API's own token format). */
  async admitClaims(
    claims: ViewerClaims,
    req: IncomingMessage,
    endpoint: string,
    now: number,
  ): Promise<Admitted> {
    const tenant = this.hot.peek(claims.tenantId) ?? (await this.hot.tenant(claims.tenantId));
    return this.#check(claims, tenant, req, endpoint, now);
  }

  #check(
    claims: ViewerClaims,
    tenant: TenantState | undefined,
    req: IncomingMessage,
    endpoint: string,
    now: number,
  ): Admitted {
    if (!tenant) throw new Denial('unknown_tenant', 'token names an unknown tenant');
    const ip = this.clientIp(req);
    try {
      const origin = req.headers.origin;
      if (origin && tenant.origins && !tenant.origins.has(origin)) {
        throw new Denial('origin_not_allowed', 'this origin may not request keys for this tenant');
      }
      checkViewerAccess(claims, ip, tenant.bans, now);
      return { claims, tenant, ip };
    } catch (err) {
      if (err instanceof Denial) {
        this.stats.record(tenant.id, endpoint, err.reason, now);
        this.access.record(claims, req, ip, 'accessDenied', now, { endpoint, reason: err.reason });
        if (err.reason === 'banned' && err.detail?.ban === 'session') {
          this.#recordSighting(tenant.id, String(err.detail.banId), ip, now);
        }
      }
      throw err;
    }
  }

  #recordSighting(tenantId: string, banId: string, ip: string, now: number): void {
    const id = `${banId}\n${ip}`;
    const last = this.#sightings.get(id);
    if (last !== undefined && now - last < SIGHTING_INTERVAL_MS) return;
    if (this.#sightings.size > 100_000) this.#sightings.clear();
    this.#sightings.set(id, now);
    // Off the request path: the refusal doesn't wait for the write.
    this.store.recordBanSighting(tenantId, banId, ip, now).catch(() => this.#sightings.delete(id));
  }
}
