/// <reference lib="dom" />
/**
 * The key server as the player sees it: ClearKey licenses and heartbeats with the viewer token as a
 * bearer header, HLS AES-128 key URIs with the token as `?token=`, and best-effort event reports.
 */
import { decodeDirectiveHeader } from './directive.ts';

export const WATERMARK_HEADER = 'vigil-watermark';

/** A refusal by the key server: HTTP status and its machine-readable code (`banned`, `token_expired`…). */
export class VigilRefusal extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'VigilRefusal';
    this.status = status;
    this.code = code;
  }
}

/** Turns an error answer's body (`{statusCode, code, message}`) into a refusal. */
export function refusalFrom(status: number, body: string): VigilRefusal {
  let code = `http_${status}`;
  let message = `the key server answered ${status}`;
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof parsed.code === 'string') code = parsed.code;
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // Not JSON: keep the generic code.
  }
  return new VigilRefusal(status, code, message);
}

export interface LicenseAnswer {
  /** The ClearKey license JSON, as bytes for MediaKeySession.update. */
  body: ArrayBuffer;
  /** The decoded `Vigil-Watermark` header, if the answer carried a readable one. */
  directive: unknown;
}

export interface HeartbeatAnswer {
  directive: unknown;
}

/** A delivery token from `/v1/delivery`: add `?<param>=<token>` to origin URLs under `prefix`. */
export interface DeliveryAnswer {
  token: string;
  param: string;
  prefix: string;
  /** Seconds it stays valid, by the server's clock. */
  ttlSeconds: number;
}

export interface EventReport {
  action: string;
  detail?: Record<string, unknown>;
}

export interface VigilClientOptions {
  /** The key server's base URL, e.g. https://vigil.example.com */
  server: string;
  /** The viewer token minted by the tenant's backend. */
  token: string;
  /** For tests and non-browser hosts; default globalThis.fetch. */
  fetch?: typeof fetch;
}

export class VigilClient {
  readonly server: string;
  readonly token: string;
  readonly licenseUrl: string;
  readonly heartbeatUrl: string;
  readonly eventsUrl: string;
  readonly deliveryUrl: string;
  private readonly hlsKeyPrefix: string;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: VigilClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.token = opts.token;
    this.licenseUrl = `${this.server}/v1/license/clearkey`;
    this.heartbeatUrl = `${this.server}/v1/heartbeat`;
    this.eventsUrl = `${this.server}/v1/events`;
    this.deliveryUrl = `${this.server}/v1/delivery`;
    this.hlsKeyPrefix = `${this.server}/v1/license/hls/`;
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (json) h['content-type'] = 'application/json';
    return h;
  }

  /** POSTs with the token and no body; the answer and its text, or throws VigilRefusal for a refusal. */
  private async postEmpty(url: string): Promise<{ res: Response; text: string }> {
    const res = await this.fetchImpl(url, {
      method: 'POST',
      headers: this.headers(false),
      cache: 'no-store',
    });
    const text = await res.text();
    if (!res.ok) throw refusalFrom(res.status, text);
    return { res, text };
  }

  /** Sends a ClearKey license request (the CDM's message) and returns the license; throws VigilRefusal. */
  async license(message: ArrayBuffer | Uint8Array): Promise<LicenseAnswer> {
    const res = await this.fetchImpl(this.licenseUrl, {
      method: 'POST',
      headers: this.headers(true),
      body: message as BodyInit,
      cache: 'no-store',
    });
    if (!res.ok) throw refusalFrom(res.status, await res.text());
    return {
      body: await res.arrayBuffer(),
      directive: decodeDirectiveHeader(res.headers.get(WATERMARK_HEADER)),
    };
  }

  /** Calls /v1/heartbeat; throws VigilRefusal for a refusal (403 `banned` among them). */
  async heartbeat(): Promise<HeartbeatAnswer> {
    const { res, text } = await this.postEmpty(this.heartbeatUrl);
    let directive: unknown;
    try {
      directive = (JSON.parse(text) as { watermark?: unknown }).watermark;
    } catch {
      directive = undefined;
    }
    return { directive: directive ?? decodeDirectiveHeader(res.headers.get(WATERMARK_HEADER)) };
  }

  /** Asks for a delivery token of the viewer token's resource; throws VigilRefusal (403 `banned`…). */
  async delivery(): Promise<DeliveryAnswer> {
    const { text } = await this.postEmpty(this.deliveryUrl);
    const body = JSON.parse(text) as Partial<DeliveryAnswer>;
    if (typeof body.token !== 'string' || typeof body.prefix !== 'string')
      throw new Error('the delivery answer has no token');
    return {
      token: body.token,
      param: typeof body.param === 'string' ? body.param : 'vd',
      prefix: body.prefix,
      ttlSeconds: typeof body.ttlSeconds === 'number' ? body.ttlSeconds : 60,
    };
  }

  /** Reports an event; never throws (the endpoint may not exist on older servers). Returns the status. */
  async report(event: EventReport): Promise<number | undefined> {
    try {
      const res = await this.fetchImpl(this.eventsUrl, {
        method: 'POST',
        headers: this.headers(true),
        body: JSON.stringify(event),
        keepalive: true,
      });
      return res.status;
    } catch {
      return undefined;
    }
  }

  /** Whether `url` is one of this server's HLS AES-128 key URIs. */
  isHlsKeyUrl(url: string): boolean {
    return url.startsWith(this.hlsKeyPrefix);
  }

  /** An HLS key URI with the token added as `?token=` (only this server's key URIs ever get it). */
  withToken(url: string): string {
    if (!this.isHlsKeyUrl(url)) return url;
    const u = new URL(url);
    u.searchParams.set('token', this.token);
    return u.toString();
  }
}
