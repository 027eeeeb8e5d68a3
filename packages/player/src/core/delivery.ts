/// <reference lib="dom" />
/**
 * Signed delivery as the player sees it: origin URLs under a delivery token's prefix carry the token as
 * `?vd=`. Tokens come from the page (a source URL that already has `vd=`) or from `/v1/delivery` with the
 * viewer token, and are renewed at half their lifetime, so the newest one goes on every later request.
 */
import { type DeliveryAnswer, type VigilClient, VigilRefusal } from './client.ts';

export const DELIVERY_PARAM = 'vd';
const MIN_RENEW_MS = 5_000;
const RETRY_MS = 5_000;

/** The prefix and expiry (ms, issuer's clock) a delivery token's payload names, read without verifying. */
export function readDeliveryToken(token: string): { prefix: string; expiresAt: number } | undefined {
  try {
    const part = token.split('.')[0] ?? '';
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(
      Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)),
    );
    const { p, e } = JSON.parse(json) as { p?: unknown; e?: unknown };
    if (typeof p !== 'string' || !p.startsWith('/') || !p.endsWith('/') || typeof e !== 'number')
      return undefined;
    return { prefix: p, expiresAt: e };
  } catch {
    return undefined;
  }
}

interface Grant {
  /** `scheme://host:port` the prefix is on. */
  origin: string;
  prefix: string;
  token: string;
  /** The token's expiry by the issuer's clock: the later of two tokens wins. */
  expiresAt: number;
}

export interface SignedDeliveryOptions {
  client: VigilClient;
  /** A refusal of a renewal (401/403: expired viewer token, banned session…). */
  onRefusal(err: VigilRefusal): void;
  /** Base for relative URLs; default the document's. */
  baseUrl?: string;
}

export class SignedDelivery {
  private readonly grants: Grant[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private renewing: Promise<void> | undefined;
  private disposed = false;
  /** Renewals done: for tests and diagnostics. */
  renewals = 0;

  constructor(private readonly opts: SignedDeliveryOptions) {}

  private parse(url: string): URL | undefined {
    try {
      return new URL(url, this.opts.baseUrl ?? globalThis.document?.baseURI);
    } catch {
      return undefined;
    }
  }

  private grantFor(u: URL): Grant | undefined {
    return this.grants.find((g) => g.origin === u.origin && u.pathname.startsWith(g.prefix));
  }

  /** Whether `url` is under a prefix signed delivery covers. */
  covers(url: string): boolean {
    const u = this.parse(url);
    return u !== undefined && this.grantFor(u) !== undefined;
  }

  /**
   * The URL to request: with the newest token when under a known prefix. A URL that brings a token of
   * its own (the page's signed source) teaches its prefix, and renewals start.
   */
  sign(url: string): string {
    const u = this.parse(url);
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) return url;
    const own = u.searchParams.get(DELIVERY_PARAM);
    let grant = this.grantFor(u);
    if (own && grant?.token !== own) {
      const read = readDeliveryToken(own);
      if (read && u.pathname.startsWith(read.prefix)) {
        if (!grant) {
          grant = { origin: u.origin, prefix: read.prefix, token: own, expiresAt: read.expiresAt };
          this.grants.push(grant);
          // By our clock: renew at half the time left (soon, if the clocks disagree).
          this.schedule((read.expiresAt - Date.now()) / 2);
        } else if (grant.prefix === read.prefix && read.expiresAt > grant.expiresAt) {
          // The page signed a newer URL than our newest token.
          grant.token = own;
          grant.expiresAt = read.expiresAt;
        }
      }
    }
    if (!grant) return url;
    u.searchParams.set(DELIVERY_PARAM, grant.token);
    return u.toString();
  }

  /** A token from `/v1/delivery` for `src` (relative to the key server); returns the signed URL. */
  async signedSource(src: string): Promise<string> {
    const u = this.parse(src);
    if (!u) throw new Error(`bad source URL ${src}`);
    const answer = await this.opts.client.delivery();
    this.accept(answer, u.origin);
    return this.sign(u.toString());
  }

  private accept(answer: DeliveryAnswer, origin: string | undefined): void {
    const expiresAt = readDeliveryToken(answer.token)?.expiresAt ?? 0;
    let known = false;
    for (const g of this.grants) {
      if (g.prefix === answer.prefix) {
        g.token = answer.token;
        g.expiresAt = expiresAt;
        known = true;
      }
    }
    if (!known && origin !== undefined)
      this.grants.push({ origin, prefix: answer.prefix, token: answer.token, expiresAt });
    this.schedule((answer.ttlSeconds * 1000) / 2);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.disposed) return;
    this.timer = setTimeout(() => void this.renew(), Math.max(MIN_RENEW_MS, delayMs));
  }

  /** Gets a new token now (also when the origin said the current one expired). */
  renew(): Promise<void> {
    if (this.disposed || this.grants.length === 0) return Promise.resolve();
    this.renewing ??= this.opts.client
      .delivery()
      .then(
        (answer) => {
          this.renewals++;
          if (!this.disposed) this.accept(answer, this.grants[0]?.origin);
        },
        (err: unknown) => {
          if (this.disposed) return;
          // A refusal is final; an unreachable server is tried again while the token may still work.
          if (err instanceof VigilRefusal) {
            clearTimeout(this.timer);
            this.opts.onRefusal(err);
          } else this.schedule(RETRY_MS);
        },
      )
      .finally(() => {
        this.renewing = undefined;
      });
    return this.renewing;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }
}
