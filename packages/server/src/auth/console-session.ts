import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { resolve } from 'node:path';
import { type Actor, authenticateOperator, ControlError, hasRole } from '@vigil/control';
import { canonicalIp, TOKEN_PURPOSES } from '@vigil/core';
import {
  type ApiKeyRecord,
  type ConsoleSessionRecord,
  OperatorStore,
  type Role,
  type VigilStore,
} from '@vigil/store';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { trustedProxyMatcher } from '../client-ip.ts';
import { addressBucketKey } from '../rate-limit.ts';
import { FailureCounter } from './signin-throttle.ts';

/**
 * Console sessions: an operator signs in with name and password and gets an opaque cookie (`HttpOnly`,
 * `SameSite=Strict`, `Secure` over HTTPS). The cookie is the console-session purpose's token,
 * `<base64url {"typ":"console-session","v":1,"t":tenant,"n":32 random bytes}>.<HMAC>` under a key derived
 * for console sessions only (`console-session:v1:<tenant>`); the store keeps only its SHA-256. Every
 * state-changing call made with it carries `X-CSRF-Token`, an HMAC of the cookie the browser's script can
 * read from the session answer but no other site can. Sessions end after an idle time and an absolute
 * lifetime, when the operator is removed or their password changes, and at sign-out.
 */
export const CONSOLE_COOKIE = 'vigil_console';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by buildApp: lets requireRole accept a console session in place of an API key. */
    consoleSessions?: ConsoleSessions;
  }
  interface FastifyRequest {
    /** The signed-in operator, when the call came with a console session (request.apiKey then mirrors it). */
    consoleOperator?: { name: string; tenantId: string; role: Role; sessionHash: string };
  }
}

export interface ConsoleSettings {
  /** A session unused this long ends (default 30 min). */
  idleSeconds: number;
  /** A session ends this long after sign-in, used or not (default 12 h). */
  absoluteSeconds: number;
  /** How long an account or address stays locked after too many failed sign-ins (default 15 min). */
  lockSeconds: number;
  /** The built console (packages/console/dist). */
  distDir: string;
}

export const DEFAULT_CONSOLE_DIST = resolve(import.meta.dirname, '../../../console/dist');

export const DEFAULT_CONSOLE_SETTINGS: ConsoleSettings = {
  idleSeconds: 30 * 60,
  absoluteSeconds: 12 * 3600,
  lockSeconds: 15 * 60,
  distDir: DEFAULT_CONSOLE_DIST,
};

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new Error(`${name} must be whole seconds, 1 to ${max}`);
  return n;
}

/** VIGIL_CONSOLE_IDLE_SECONDS, VIGIL_CONSOLE_MAX_SECONDS, VIGIL_CONSOLE_LOCK_SECONDS, VIGIL_CONSOLE_DIR. */
export function consoleSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ConsoleSettings {
  const idleSeconds = seconds(
    env,
    'VIGIL_CONSOLE_IDLE_SECONDS',
    DEFAULT_CONSOLE_SETTINGS.idleSeconds,
    7 * 86_400,
  );
  const absoluteSeconds = seconds(
    env,
    'VIGIL_CONSOLE_MAX_SECONDS',
    DEFAULT_CONSOLE_SETTINGS.absoluteSeconds,
    30 * 86_400,
  );
  const lockSeconds = seconds(
    env,
    'VIGIL_CONSOLE_LOCK_SECONDS',
    DEFAULT_CONSOLE_SETTINGS.lockSeconds,
    86_400,
  );
  return {
    idleSeconds,
    absoluteSeconds: Math.max(absoluteSeconds, idleSeconds),
    lockSeconds,
    distDir: env.VIGIL_CONSOLE_DIR ? resolve(env.VIGIL_CONSOLE_DIR) : DEFAULT_CONSOLE_DIST,
  };
}

const b64 = (b: Buffer) => b.toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const MAX_TOKEN_CHARS = 512;

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The session of a request's cookie, or why there is none. */
type Presented =
  | { ok: true; token: string; session: ConsoleSessionRecord; idleExpiresAt: number }
  | { ok: false; code: 'console_session_missing' | 'console_session_expired' };

export class ConsoleSessions {
  readonly settings: ConsoleSettings;
  private readonly operators: OperatorStore;
  private readonly keys = new Map<string, Buffer>();
  private readonly accounts: FailureCounter;
  private readonly addresses: FailureCounter;
  private readonly trust: ReturnType<typeof trustedProxyMatcher>;
  private readonly purger: NodeJS.Timeout;
  private readonly signingIn = new Map<string, number>();

  constructor(
    private readonly store: VigilStore,
    settings: Partial<ConsoleSettings> | undefined,
    private readonly clientIp: (req: FastifyRequest['raw']) => string,
    trustedProxies: readonly string[],
  ) {
    this.settings = { ...DEFAULT_CONSOLE_SETTINGS, ...settings };
    this.operators = new OperatorStore(store);
    const lockMs = this.settings.lockSeconds * 1000;
    this.accounts = new FailureCounter(this.operators, 'account', 5, 10, lockMs, true);
    // An address tries many accounts: more room, and only time clears it (a success elsewhere doesn't).
    this.addresses = new FailureCounter(this.operators, 'address', 30, 100, lockMs, false);
    this.trust = trustedProxyMatcher(trustedProxies);
    this.purger = setInterval(() => void this.purge().catch(() => {}), 10 * 60_000);
    this.purger.unref();
  }

  close(): void {
    clearInterval(this.purger);
  }

  private get idleMs() {
    return this.settings.idleSeconds * 1000;
  }

  /** Deletes ended sessions and forgotten sign-in failures (refused or ignored anyway: this keeps tables small). */
  async purge(now = Date.now()): Promise<void> {
    await this.operators.purgeSessions(now, now - this.idleMs);
    await this.operators.purgeSignInFailures(now - this.accounts.forgetMs);
  }

  private key(tenantId: string): Buffer {
    let key = this.keys.get(tenantId);
    if (!key) {
      key = this.store.envelope.deriveKey(`console-session:v1:${tenantId}`);
      if (this.keys.size >= 1000) this.keys.clear();
      this.keys.set(tenantId, key);
    }
    return key;
  }

  private mint(tenantId: string): string {
    const typ = TOKEN_PURPOSES['console-session'].typ;
    const payload = b64(Buffer.from(JSON.stringify({ typ, v: 1, t: tenantId, n: b64(randomBytes(32)) })));
    return `${payload}.${b64(createHmac('sha256', this.key(tenantId)).update(payload).digest())}`;
  }

  /** The tenant of a well-formed token whose MAC checks out, else undefined (before any lookup). */
  private tenantOf(token: string): string | undefined {
    if (token.length > MAX_TOKEN_CHARS) return undefined;
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined) return undefined;
    let claims: { typ?: unknown; v?: unknown; t?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof claims !== 'object' || claims === null) return undefined;
    if (claims.typ !== TOKEN_PURPOSES['console-session'].typ || claims.v !== 1) return undefined;
    if (typeof claims.t !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(claims.t)) return undefined;
    const expected = b64(createHmac('sha256', this.key(claims.t)).update(payload).digest());
    return equal(mac, expected) ? claims.t : undefined;
  }

  csrfToken(token: string, tenantId: string): string {
    return b64(createHmac('sha256', this.key(tenantId)).update(`csrf.${token}`).digest());
  }

  /** Whether the request carries the console cookie at all. */
  presented(request: FastifyRequest): boolean {
    return cookieValue(request.headers.cookie) !== undefined;
  }

  private async current(request: FastifyRequest): Promise<Presented> {
    const token = cookieValue(request.headers.cookie);
    if (token === undefined || token === '') return { ok: false, code: 'console_session_missing' };
    const tenantId = this.tenantOf(token);
    if (tenantId === undefined) return { ok: false, code: 'console_session_expired' };
    const hash = sha256(token);
    const session = await this.operators.findSession(hash);
    if (!session || session.tenantId !== tenantId) return { ok: false, code: 'console_session_expired' };
    const now = Date.now();
    if (now >= session.expiresAt || now > session.lastSeenAt + this.idleMs) {
      await this.operators.deleteSession(hash);
      return { ok: false, code: 'console_session_expired' };
    }
    // Refreshed on use, at most once a minute (sooner with a very short idle time).
    if (now - session.lastSeenAt >= Math.min(60_000, this.idleMs / 4)) {
      await this.operators.touchSession(hash, now);
      session.lastSeenAt = now;
    }
    return {
      ok: true,
      token,
      session,
      idleExpiresAt: Math.min(session.lastSeenAt + this.idleMs, session.expiresAt),
    };
  }

  private answer(p: { token: string; session: ConsoleSessionRecord; idleExpiresAt: number }) {
    const { session } = p;
    return {
      operator: { name: session.operatorName, role: session.role, tenantId: session.tenantId },
      csrfToken: this.csrfToken(p.token, session.tenantId),
      expiresAt: new Date(session.expiresAt).toISOString(),
      idleExpiresAt: new Date(p.idleExpiresAt).toISOString(),
    };
  }

  private secure(request: FastifyRequest): boolean {
    const socket = request.raw.socket as { encrypted?: boolean; remoteAddress?: string };
    if (socket.encrypted) return true;
    const raw = socket.remoteAddress ?? '';
    const peer = canonicalIp(raw) ?? raw;
    const proto = request.headers['x-forwarded-proto'];
    if (typeof proto !== 'string' || this.trust.size === 0 || !this.trust.has(peer)) return false;
    // Any hop over HTTPS: the cookie is marked Secure (a needless flag only keeps it off plain HTTP).
    return proto.split(',').some((hop) => hop.trim().toLowerCase() === 'https');
  }

  private cookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
    const secure = this.secure(request) ? '; Secure' : '';
    return `${CONSOLE_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${secure}`;
  }

  private clear(request: FastifyRequest, reply: FastifyReply): void {
    reply.header('set-cookie', this.cookie(request, '', 0));
  }

  /** A browser tells whether a call comes from another site; only the console's own pages use the cookie. */
  private crossSite(request: FastifyRequest, reply: FastifyReply): boolean {
    const site = request.headers['sec-fetch-site'];
    if (site !== 'cross-site' && site !== 'same-site') return false;
    reply.code(403).send({
      statusCode: 403,
      code: 'console_cross_site',
      message: 'console sessions are used by the console itself only, not from other sites',
    });
    return true;
  }

  // ---- the session routes

  async signIn(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (this.crossSite(request, reply)) return reply;
    const body = request.body as { username: string; password: string; tenant?: string };
    const tenant = body.tenant ?? 'default';
    const ip = this.clientIp(request.raw);
    const accountKey = `${tenant}\u0000${body.username}`;
    const addressKey = addressBucketKey(ip);
    const now = Date.now();
    const wait = Math.max(
      await this.accounts.wait(accountKey, now),
      await this.addresses.wait(addressKey, now),
    );
    if (wait > 0) {
      await this.accounts.fail(accountKey, now, true);
      await this.addresses.fail(addressKey, now, true);
      const retry = Math.max(1, Math.ceil(wait / 1000));
      return reply
        .code(429)
        .header('retry-after', String(retry))
        .send({
          statusCode: 429,
          code: 'signin_throttled',
          message: `too many failed sign-ins; try again in ${retry} s`,
          retryAfterSeconds: retry,
        });
    }
    // One address checks a few passwords at a time: a parallel flood can't outrun its failure count.
    const inFlight = this.signingIn.get(addressKey) ?? 0;
    if (inFlight >= MAX_SIGNINS_IN_FLIGHT)
      return reply.code(429).header('retry-after', '1').send({
        statusCode: 429,
        code: 'signin_throttled',
        message: 'too many sign-ins at once from this address; try again in 1 s',
        retryAfterSeconds: 1,
      });
    this.signingIn.set(addressKey, inFlight + 1);
    let operator: Awaited<ReturnType<typeof authenticateOperator>>;
    try {
      operator = await authenticateOperator(
        { store: this.store },
        { tenant, name: body.username, password: body.password },
      );
    } catch (err) {
      if (!(err instanceof ControlError)) throw err;
      return reply
        .code(err.status)
        .header('retry-after', '1')
        .send({ statusCode: err.status, code: err.code, message: err.message });
    } finally {
      const left = (this.signingIn.get(addressKey) ?? 1) - 1;
      if (left <= 0) this.signingIn.delete(addressKey);
      else this.signingIn.set(addressKey, left);
    }
    if (!operator) {
      const at = Date.now();
      await this.accounts.fail(accountKey, at, false);
      await this.addresses.fail(addressKey, at, false);
      return reply
        .code(401)
        .send({ statusCode: 401, code: 'signin_failed', message: 'wrong name or password' });
    }
    await this.accounts.succeed(accountKey);
    // A session this browser had before ends: a sign-in always starts a new one.
    const previous = cookieValue(request.headers.cookie);
    if (previous) await this.operators.deleteSession(sha256(previous));
    const token = this.mint(operator.tenantId);
    const hash = sha256(token);
    const expiresAt = Date.now() + this.settings.absoluteSeconds * 1000;
    const userAgent = request.headers['user-agent'];
    const { createdAt } = await this.operators.createSession({
      hash,
      tenantId: operator.tenantId,
      operatorName: operator.name,
      expiresAt,
      ip,
      userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 256) : '',
    });
    const session: ConsoleSessionRecord = {
      hash,
      tenantId: operator.tenantId,
      operatorName: operator.name,
      role: operator.role,
      createdAt,
      lastSeenAt: createdAt,
      expiresAt,
    };
    reply.header('set-cookie', this.cookie(request, token, this.settings.absoluteSeconds));
    reply.header('cache-control', 'no-store');
    return reply.send(
      this.answer({ token, session, idleExpiresAt: Math.min(createdAt + this.idleMs, expiresAt) }),
    );
  }

  async show(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (this.crossSite(request, reply)) return reply;
    const p = await this.current(request);
    reply.header('cache-control', 'no-store');
    if (!p.ok) {
      if (p.code === 'console_session_expired') this.clear(request, reply);
      return reply.code(401).send({ statusCode: 401, code: p.code, message: sessionMessage(p.code) });
    }
    return reply.send(this.answer(p));
  }

  async signOut(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (this.crossSite(request, reply)) return reply;
    const p = await this.current(request);
    if (p.ok) {
      if (this.csrfRefused(request, reply, p.token, p.session.tenantId)) return reply;
      await this.operators.deleteSession(p.session.hash);
    }
    this.clear(request, reply);
    return reply.code(204).send();
  }

  private csrfRefused(
    request: FastifyRequest,
    reply: FastifyReply,
    token: string,
    tenantId: string,
  ): boolean {
    if (SAFE_METHODS.has(request.method)) return false;
    const sent = request.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || sent === '') {
      reply.code(403).send({
        statusCode: 403,
        code: 'csrf_missing',
        message: `a change made with a console session needs the ${CSRF_HEADER} header (csrfToken of GET /v1/console/session)`,
      });
      return true;
    }
    if (!equal(sent, this.csrfToken(token, tenantId))) {
      reply.code(403).send({
        statusCode: 403,
        code: 'csrf_invalid',
        message: `the ${CSRF_HEADER} header does not belong to this session`,
      });
      return true;
    }
    return false;
  }

  /**
   * requireRole's check when a call comes with the console cookie instead of an API key: the session,
   * then the CSRF token of a state-changing call, then the role (when `minimum` is given; without it,
   * as an authentication step, the operation checks it). On success request.apiKey stands for the
   * operator (role and tenant), so every control route works unchanged, and request.actor is the operator.
   */
  async authorize(
    request: FastifyRequest,
    reply: FastifyReply,
    minimum?: Role,
  ): Promise<FastifyReply | undefined> {
    if (this.crossSite(request, reply)) return reply;
    const p = await this.current(request);
    if (!p.ok) {
      if (p.code === 'console_session_expired') this.clear(request, reply);
      return reply.code(401).send({ statusCode: 401, code: p.code, message: sessionMessage(p.code) });
    }
    const { session } = p;
    if (this.csrfRefused(request, reply, p.token, session.tenantId)) return reply;
    if (minimum !== undefined && !hasRole(session, minimum)) {
      return reply.code(403).send({
        statusCode: 403,
        code: 'forbidden',
        message: `this needs the ${minimum} role; the operator has ${session.role}`,
      });
    }
    const standIn: ApiKeyRecord = {
      hash: '',
      tenantId: session.tenantId,
      prefix: `operator:${session.operatorName}`,
      name: session.operatorName,
      role: session.role,
      createdAt: session.createdAt,
      revokedAt: null,
    };
    request.apiKey = standIn;
    // Where requests carry an Actor, the operator is one (kind `operator`, named by the operator's name).
    const actor: Actor = {
      kind: 'operator',
      id: session.operatorName,
      tenantId: session.tenantId,
      role: session.role,
    };
    (request as FastifyRequest & { actor?: Actor }).actor = actor;
    request.consoleOperator = {
      name: session.operatorName,
      tenantId: session.tenantId,
      role: session.role,
      sessionHash: session.hash,
    };
    return undefined;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Password checks one address may have running at once. */
const MAX_SIGNINS_IN_FLIGHT = 4;

function sessionMessage(code: 'console_session_missing' | 'console_session_expired'): string {
  return code === 'console_session_missing'
    ? 'not signed in to the console'
    : 'the console session has ended (expired, signed out, or the operator changed); sign in again';
}

/** The console cookie's value in a Cookie header, if there is one. */
export function cookieValue(header: string | undefined): string | undefined {
  if (!header || header.length > 16_384) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === CONSOLE_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
