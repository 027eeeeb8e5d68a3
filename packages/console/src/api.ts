/**
 * The console's one way to Vigil: fetch against the public HTTP API, with the session cookie
 * (same origin) and the CSRF token on every state-changing call. Every failure becomes an ApiError
 * that says what failed and what to do about it; the app reacts to the kinds (signed out, unreachable,
 * forbidden) in one place.
 */

export type Role = 'readonly' | 'operator' | 'admin' | 'platform';

export interface Operator {
  name: string;
  role: Role;
  tenantId: string;
}

export interface ConsoleSession {
  operator: Operator;
  csrfToken: string;
  expiresAt: string;
  idleExpiresAt: string;
}

/** What kind of failure: the app shows each one its own way. */
export type FailureKind =
  | 'unreachable' // no answer at all: the server is down or the network is gone
  | 'signed-out' // 401: no session, or it expired
  | 'forbidden' // 403: the operator's role may not do this
  | 'throttled' // 429
  | 'invalid' // other 4xx: what was sent was refused
  | 'server'; // 5xx

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly kind: FailureKind;
  /** What the operator was doing, e.g. "Saving the watermark". */
  readonly action: string;
  /** Seconds to wait (429 Retry-After). */
  readonly retryAfter: number | undefined;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    action: string;
    retryAfter?: number | undefined;
  }) {
    super(init.message);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.action = init.action;
    this.retryAfter = init.retryAfter;
    this.kind = kindOf(init.status, init.code);
  }
}

function kindOf(status: number, code: string): FailureKind {
  if (status === 0) return 'unreachable';
  if (status === 401 && code !== 'signin_failed') return 'signed-out';
  if (status === 403 && code === 'forbidden') return 'forbidden';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server';
  return 'invalid';
}

/** One sentence an operator can act on, for any ApiError. */
export function explain(err: unknown, role?: Role): string {
  if (!(err instanceof ApiError))
    return `Something went wrong in the console: ${String(err)}. Reload the page.`;
  const what = `${err.action} failed`;
  switch (err.kind) {
    case 'unreachable':
      return `${what}: Vigil is not reachable. Check that the server is running; the console retries by itself.`;
    case 'signed-out':
      return err.code === 'console_session_expired'
        ? 'Your session has expired. Sign in again.'
        : 'You are signed out. Sign in again.';
    case 'forbidden':
      return `${what}: your role (${role ?? 'current role'}) can't do this. Ask an admin of this tenant.`;
    case 'throttled':
      return `${what}: too many attempts. Wait ${
        err.retryAfter === 1 ? '1 second' : `${err.retryAfter ?? 'a few'} seconds`
      } and try again.`;
    case 'server':
      return `${what}: the server had a problem (${err.status}${err.code ? ` ${err.code}` : ''}). Try again; if it persists, check the server's log.`;
    default:
      if (err.code === 'signin_failed') return 'Wrong user name or password. Check both and try again.';
      if (err.code === 'csrf_missing' || err.code === 'csrf_invalid')
        return `${what}: the page's security token is stale. Reload the page and try again.`;
      return `${what}: ${err.message}${err.code ? ` (${err.code})` : ''}`;
  }
}

export interface ClientEvents {
  /** Any call that got an answer (the server is there). */
  onReachable?(): void;
  onUnreachable?(): void;
  /** A 401 for a signed-in operator: the session is gone. */
  onSignedOut?(err: ApiError): void;
}

export interface RequestOptions {
  method?: string;
  /** JSON-encoded unless it is a Blob (sent as it is, with its own type). */
  body?: unknown;
  /** What the operator was doing, for messages. */
  action: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

export class ApiClient {
  readonly base: string;
  csrfToken: string | undefined;
  events: ClientEvents;

  /** Headers sent with every call (none in the browser: the session cookie does; tests add an API key). */
  readonly headers: Record<string, string>;

  constructor(base = '', events: ClientEvents = {}, headers: Record<string, string> = {}) {
    this.base = base.replace(/\/$/, '');
    this.events = events;
    this.headers = headers;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined && v !== '') params.set(k, String(v));
    const qs = params.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ''}`;
  }

  async request<T>(path: string, opts: RequestOptions): Promise<T> {
    const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
    const headers: Record<string, string> = { ...this.headers, accept: 'application/json' };
    let body: BodyInit | undefined;
    if (opts.body instanceof Blob) {
      body = opts.body;
      headers['content-type'] = opts.body.type || 'application/octet-stream';
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    if (method !== 'GET' && method !== 'HEAD' && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    let res: Response;
    try {
      res = await fetch(this.url(path, opts.query), {
        method,
        headers,
        body,
        credentials: 'same-origin',
        signal: opts.signal,
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      this.events.onUnreachable?.();
      throw new ApiError({ status: 0, code: 'unreachable', message: 'no answer', action: opts.action });
    }
    // A proxy in front of a stopped Vigil answers 502/503/504: that is "not reachable" too.
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      this.events.onUnreachable?.();
      throw new ApiError({
        status: 0,
        code: 'unreachable',
        message: `gateway ${res.status}`,
        action: opts.action,
      });
    }
    this.events.onReachable?.();
    const text = await res.text();
    let data: unknown;
    if (text && (res.headers.get('content-type') ?? '').includes('json')) {
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
    }
    if (!res.ok) {
      const d = (data ?? {}) as { code?: string; message?: string; error?: string };
      const retry = Number(res.headers.get('retry-after'));
      const err = new ApiError({
        status: res.status,
        code: d.code ?? '',
        message: d.message ?? d.error ?? (text.slice(0, 200) || res.statusText),
        action: opts.action,
        retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined,
      });
      if (err.kind === 'signed-out' && path !== '/v1/console/session') this.events.onSignedOut?.(err);
      throw err;
    }
    return data as T;
  }

  get<T>(path: string, action: string, query?: RequestOptions['query'], signal?: AbortSignal): Promise<T> {
    return this.request<T>(path, { action, query, signal });
  }
  post<T>(path: string, body: unknown, action: string): Promise<T> {
    return this.request<T>(path, { method: 'POST', body: body ?? {}, action });
  }
  put<T>(path: string, body: unknown, action: string): Promise<T> {
    return this.request<T>(path, { method: 'PUT', body, action });
  }
  del(path: string, action: string, query?: RequestOptions['query']): Promise<void> {
    return this.request<void>(path, { method: 'DELETE', action, query });
  }

  // The session.
  async signIn(username: string, password: string, tenant?: string): Promise<ConsoleSession> {
    const s = await this.request<ConsoleSession>('/v1/console/session', {
      method: 'POST',
      body: { username, password, ...(tenant ? { tenant } : {}) },
      action: 'Signing in',
    });
    this.csrfToken = s.csrfToken;
    return s;
  }
  async session(): Promise<ConsoleSession> {
    const s = await this.get<ConsoleSession>('/v1/console/session', 'Checking your session');
    this.csrfToken = s.csrfToken;
    return s;
  }
  async signOut(): Promise<void> {
    await this.del('/v1/console/session', 'Signing out');
    this.csrfToken = undefined;
  }
}

/** Reads every page of a paginated list (`next` cursor), up to `max` items. */
export async function readAll<T>(
  client: ApiClient,
  path: string,
  field: string,
  action: string,
  max = 1000,
  query: Record<string, string | number | undefined> = {},
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await client.get<Record<string, unknown> & { next?: string | null }>(path, action, {
      ...query,
      limit: Math.min(200, max - items.length),
      cursor,
    });
    items.push(...((page[field] as T[]) ?? []));
    cursor = page.next ?? undefined;
    if (!cursor || items.length >= max) return { items, more: Boolean(cursor) };
  }
}
