import { DEFAULT_RATE_LIMITS, type RateLimitSettings } from './rate-limit.ts';

/** Settings of one Vigil server instance. */
export interface ServerConfig {
  /** Addresses or CIDRs of reverse proxies whose X-Forwarded-For / X-Real-IP are believed. */
  trustedProxies: string[];
  /** Tolerance for clock differences with the tenant's token issuer. */
  clockSkewSeconds: number;
  /** Base path of the seed-compatible API. */
  compatBasePath: string;
  /** How long a seed-style token stays valid after its `createdAt`. */
  compatTokenTtlSeconds: number;
  /** Default lifetime of content keys created without an explicit expiry. */
  keyTtlSeconds: number;
  /** How often in-memory request counters are added to the shared stats table. */
  statsFlushMs: number;
  /** How often queued access-log entries are written. */
  accessLogFlushMs: number;
  /** Largest request body accepted anywhere. */
  bodyLimitBytes: number;
  /** Public base URL, used to tell integrators where the license endpoints are. */
  publicUrl?: string | undefined;
  /**
   * Folder the origin serves, with signed delivery, as `/origin/<tenantId>/<path>` from
   * `<originRoot>/<tenantId>/<path>`. Unset: no origin (404).
   */
  originRoot?: string | undefined;
  /** Lifetime of the delivery tokens `/v1/delivery` issues (never beyond the viewer token's). */
  deliveryTtlSeconds: number;
  /** Whether `/v1/delivery` binds its tokens to the viewer's address. */
  deliveryBindIp: boolean;
  /**
   * Lifetime of the HLS key grants the origin writes into the key URIs of live playlists (rounded up to
   * the minute; never beyond the delivery token). Ended playlists' grants live as long as the token.
   */
  keyGrantTtlSeconds: number;
  /** Per-session and per-address limits of viewer-facing writes (events, heartbeats, delivery); null: none. */
  rateLimits: RateLimitSettings | null;
}

export const DEFAULT_CONFIG: ServerConfig = {
  trustedProxies: [],
  clockSkewSeconds: 30,
  compatBasePath: '/qualabs',
  compatTokenTtlSeconds: 4 * 3600,
  keyTtlSeconds: 7 * 24 * 3600,
  statsFlushMs: 5_000,
  accessLogFlushMs: 1_000,
  bodyLimitBytes: 1024 * 1024,
  deliveryTtlSeconds: 600,
  deliveryBindIp: true,
  keyGrantTtlSeconds: 300,
  rateLimits: DEFAULT_RATE_LIMITS,
};
