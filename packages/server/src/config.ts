import type { MediaSettings } from '@vigil/control';
import type { ConsoleSettings } from './auth/console-session.ts';
import type { OutboundSettings } from './outbound.ts';
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
  /**
   * How long a seed-style admin token (no `exp`) is accepted after its `iat`, so a captured one can't be
   * replayed for ever.
   */
  compatAdminTokenMaxAgeSeconds: number;
  /**
   * The HS256 secret of the default tenant's seed-style admin calls (at least 32 bytes). Unset: the
   * tenant's viewer-token secret, as in the seed.
   */
  compatAdminSecret?: Uint8Array | undefined;
  /** Bearer credential that may read `/metrics` (besides API keys with the platform role). */
  metricsToken?: string | undefined;
  /** `/metrics` answers anyone (for a private interface); off by default. */
  metricsPublic: boolean;
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
  /**
   * Folder of the media pipeline's local storage (chunks, sources). Unset: no media routes, unless an
   * object storage is given to buildApp.
   */
  mediaRoot?: string | undefined;
  /** Upload limits and retries of the media pipeline (defaults: DEFAULT_MEDIA_SETTINGS). */
  media?: Partial<MediaSettings> | undefined;
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
  /** Console sessions (idle and absolute expiry, sign-in lock) and the built console's folder. */
  console?: Partial<ConsoleSettings> | undefined;
  /** Leak tracing: where uploaded clips and evidence frames go (default: `detections/` beside the origin). */
  detectionsDir?: string | undefined;
  /** What URLs given by tenants (detections, watches) may reach; private addresses are refused by default. */
  detectOutbound: OutboundSettings;
  /** Largest clip `POST /v1/detections` accepts. */
  detectMaxUploadBytes: number;
  /** Detection jobs run at once on this instance (0: this instance runs none). */
  detectConcurrency: number;
  /** Watches run at once on this instance (0: none). */
  watchConcurrency: number;
  /** Ended detections, their clips and evidence frames are deleted after this many days. */
  detectRetentionDays: number;
}

export const DEFAULT_CONFIG: ServerConfig = {
  trustedProxies: [],
  clockSkewSeconds: 30,
  compatBasePath: '/qualabs',
  compatTokenTtlSeconds: 4 * 3600,
  compatAdminTokenMaxAgeSeconds: 300,
  metricsPublic: false,
  keyTtlSeconds: 7 * 24 * 3600,
  statsFlushMs: 5_000,
  accessLogFlushMs: 1_000,
  bodyLimitBytes: 1024 * 1024,
  deliveryTtlSeconds: 600,
  deliveryBindIp: true,
  keyGrantTtlSeconds: 300,
  rateLimits: DEFAULT_RATE_LIMITS,
  detectOutbound: { allowPrivate: false },
  detectMaxUploadBytes: 1024 ** 3,
  detectConcurrency: 1,
  watchConcurrency: 4,
  detectRetentionDays: 90,
};
