import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { BadRequest, normalizeIp, type ViewerClaims } from '@vigil/core';

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export interface BucketSettings {
  burst: number;
  perSecond: number;
}

/**
 * Limits on the viewer-facing writes (events, heartbeats, delivery tokens, the seed API's `/np/`): one
 * bucket per session (tenant and session id of a verified token) and one per address (IPv4, or the /64
 * of an IPv6 address, which one subscriber usually holds whole). Licenses are not limited here: key
 * periods bound them already, and their fast path stays as it is.
 */
export interface RateLimitSettings {
  session: BucketSettings;
  address: BucketSettings;
  /** Buckets kept per kind; idle ones (full again) are dropped first, then the least recently used. */
  maxBuckets: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  // A player heartbeats every 15 s (2 s at the least) and reports now and then.
  session: { burst: 30, perSecond: 1 },
  // Many viewers may share an address (NAT): generous, to stop floods, not households.
  address: { burst: 1000, perSecond: 100 },
  maxBuckets: 100_000,
};

/** 429 `rate_limited`; the error handlers add `Retry-After`. */
export class RateLimited extends BadRequest {
  constructor(
    readonly retryAfterSeconds: number,
    what: string,
  ) {
    super('rate_limited', `too many requests from this ${what}; retry after ${retryAfterSeconds} s`, 429);
  }
}

/** The address a bucket is kept for: IPv4 as is, IPv6 by its /64 (first four groups). */
export function addressBucketKey(address: string): string {
  const ip = normalizeIp(address.split('%')[0] ?? '');
  if (isIP(ip) !== 6) return ip;
  let text = ip;
  // A trailing dotted IPv4 part stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(zeros).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets by key, bounded in number. */
class Buckets {
  readonly #map = new Map<string, Bucket>();

  constructor(
    private readonly settings: BucketSettings,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.#map.size;
  }

  /** Takes a token: 0 when granted, else the milliseconds until one is there. */
  take(key: string, now: number): number {
    const { burst, perSecond } = this.settings;
    let bucket = this.#map.get(key);
    if (bucket === undefined) {
      if (this.#map.size >= this.max) this.#makeRoom(now);
      bucket = { tokens: burst, at: now };
    } else {
      // Kept in the map in least-recently-used order.
      this.#map.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
    }
    this.#map.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / perSecond) * 1000);
  }

  /** Drops the buckets that are full again: forgetting them changes nothing. */
  sweep(now: number): void {
    const { burst, perSecond } = this.settings;
    for (const [key, b] of this.#map) {
      if (b.tokens + ((now - b.at) / 1000) * perSecond >= burst) this.#map.delete(key);
    }
  }

  #makeRoom(now: number): void {
    this.sweep(now);
    // Still full: the least recently used tenth goes (a client among them starts afresh).
    if (this.#map.size >= this.max) {
      let drop = Math.max(1, Math.floor(this.max / 10));
      for (const key of this.#map.keys()) {
        this.#map.delete(key);
        if (--drop === 0) break;
      }
    }
  }
}

const SWEEP_MS = 60_000;

/** The per-session and per-address limits of the viewer-facing writes (see RateLimitSettings). */
export class ViewerRateLimiter {
  readonly #sessions: Buckets | undefined;
  readonly #addresses: Buckets | undefined;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(
    settings: RateLimitSettings | null,
    private readonly clientIp: (req: IncomingMessage) => string,
    /** Told of every refusal (for metrics). */
    private readonly onLimited: (kind: 'session' | 'address') => void = () => {},
  ) {
    if (settings === null) return;
    for (const [name, b] of [
      ['session', settings.session],
      ['address', settings.address],
    ] as const) {
      if (!(b.burst >= 1 && b.perSecond > 0 && Number.isFinite(b.burst) && Number.isFinite(b.perSecond)))
        throw new Error(`the ${name} rate limit needs a burst of at least 1 and a positive rate`);
    }
    this.#sessions = new Buckets(settings.session, settings.maxBuckets);
    this.#addresses = new Buckets(settings.address, settings.maxBuckets);
    this.#timer = setInterval(() => {
      const now = Date.now();
      this.#sessions?.sweep(now);
      this.#addresses?.sweep(now);
    }, SWEEP_MS);
    this.#timer.unref();
  }

  /** Before the token is checked: one request from the caller's address (or its /64). */
  address(req: IncomingMessage, now = Date.now()): void {
    if (!this.#addresses) return;
    const wait = this.#addresses.take(addressBucketKey(this.clientIp(req)), now);
    if (wait > 0) {
      this.onLimited('address');
      throw new RateLimited(Math.ceil(wait / 1000), 'address');
    }
  }

  /**
   * address() as a route's onRequest hook: it runs before the body is read or the token checked, so a
   * flood costs neither.
   */
  readonly onRequest = async (request: { raw: IncomingMessage }): Promise<void> => {
    this.address(request.raw);
  };

  /** After the token is verified: one request of its session. */
  session(claims: ViewerClaims, now = Date.now()): void {
    if (!this.#sessions) return;
    const wait = this.#sessions.take(`${claims.tenantId}\n${claims.sessionId}`, now);
    if (wait > 0) {
      this.onLimited('session');
      throw new RateLimited(Math.ceil(wait / 1000), 'session');
    }
  }

  /** Buckets held (for metrics and tests). */
  get size(): { sessions: number; addresses: number } {
    return { sessions: this.#sessions?.size ?? 0, addresses: this.#addresses?.size ?? 0 };
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

/**
 * VIGIL_RATE_LIMIT=0 turns the limits off; VIGIL_RATE_LIMIT_SESSION_BURST / _PER_SECOND and
 * VIGIL_RATE_LIMIT_ADDRESS_BURST / _PER_SECOND change them.
 */
export function rateLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimitSettings | null {
  if (env.VIGIL_RATE_LIMIT === '0') return null;
  const d = DEFAULT_RATE_LIMITS;
  return {
    session: {
      burst: positive(env, 'VIGIL_RATE_LIMIT_SESSION_BURST', d.session.burst),
      perSecond: positive(env, 'VIGIL_RATE_LIMIT_SESSION_PER_SECOND', d.session.perSecond),
    },
    address: {
      burst: positive(env, 'VIGIL_RATE_LIMIT_ADDRESS_BURST', d.address.burst),
      perSecond: positive(env, 'VIGIL_RATE_LIMIT_ADDRESS_PER_SECOND', d.address.perSecond),
    },
    maxBuckets: d.maxBuckets,
  };
}
