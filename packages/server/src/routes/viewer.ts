import type { IncomingMessage } from 'node:http';
import {
  BadRequest,
  buildClearKeyLicense,
  type ClearKeyLicense,
  type ClearKeyRequest,
  Denial,
  directiveFor,
  KEY_GRANT_PARAM,
  MAX_KEY_GRANT_LENGTH,
  MAX_KIDS_PER_REQUEST,
  parseClearKeyRequest,
  parseKid,
  sessionTag,
  type WatermarkConfig,
} from '@vigil/core';
import type { ContentKey } from '@vigil/keys';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessLog } from '../access-log.ts';
import type { Admitted, ViewerGate } from '../auth/viewer-gate.ts';
import { type HotState, type TenantState, watermarkOf } from '../hot-state.ts';
import type { KeyGrants } from '../key-grants.ts';
import type { MediaUsage } from '../media-usage.ts';
import type { ViewerRateLimiter } from '../rate-limit.ts';
import type { StatsRecorder } from '../stats/recorder.ts';
import { errorSchema } from './schemas.ts';

export const WATERMARK_HEADER = 'vigil-watermark';
/** What a player may report (the Epic 6 ContentAccessLog actions a player can see). */
export const PLAYER_ACTIONS = [
  'streamProgress',
  'streamComplete',
  'suspiciousActivity',
  'sharingAttempt',
] as const;

export interface ViewerRoutesOptions {
  gate: ViewerGate;
  access: AccessLog;
  hot: HotState;
  stats: StatsRecorder;
  /** Media usage policies (tokens with a `usage` claim); absent: such tokens get every key. */
  usage?: MediaUsage | undefined;
}

const directiveSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    sessionId: { type: 'string' },
    enabled: { type: 'boolean' },
    mode: { type: 'string', enum: ['text', 'color'] },
  },
};

export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const query = (request.query as { token?: unknown } | undefined)?.token;
  return typeof query === 'string' ? query : undefined;
}

/**
 * Encoded directive headers per watermark config object (a new object whenever the config changes) and
 * session: a viewer asks for a license every key period, and encoding the directive costs as much as the
 * rest of the license path.
 */
const directiveHeaders = new WeakMap<WatermarkConfig, Map<string, string>>();
const MAX_CACHED_DIRECTIVES = 50_000;

/** The watermark directive, base64url JSON in a header so standard ClearKey clients ignore it. */
export function directiveHeader(tenant: TenantState, sessionId: string, resourceId: string): string {
  const config = watermarkOf(tenant, resourceId);
  let bySession = directiveHeaders.get(config);
  if (!bySession) {
    bySession = new Map();
    directiveHeaders.set(config, bySession);
  }
  let header = bySession.get(sessionId);
  if (header === undefined) {
    header = Buffer.from(
      JSON.stringify(directiveFor(config, sessionId, sessionTag(tenant.tagKey, sessionId))),
    ).toString('base64url');
    if (bySession.size >= MAX_CACHED_DIRECTIVES) bySession.clear();
    bySession.set(sessionId, header);
  }
  return header;
}

/** Looks up every requested kid for the viewer's resource; unknown kids are left out, none at all is a 404. */
export async function licenseFor(
  hot: HotState,
  tenant: TenantState,
  resourceId: string,
  kids: string[],
  now: number,
): Promise<ClearKeyLicense> {
  const keys: (ContentKey | undefined)[] = [];
  for (const kid of kids) {
    keys.push(hot.peekContentKey(tenant, kid, now) ?? (await hot.contentKey(tenant, kid, now)));
  }
  return licenseOf(kids, keys, resourceId);
}

/** licenseFor() without a promise when every requested key is in memory (the steady state); else undefined. */
export function licenseInMemory(
  hot: HotState,
  tenant: TenantState,
  resourceId: string,
  kids: string[],
  now: number,
): ClearKeyLicense | undefined {
  const keys: ContentKey[] = [];
  for (const kid of kids) {
    const key = hot.peekContentKey(tenant, kid, now);
    if (key === undefined) return undefined;
    keys.push(key);
  }
  return licenseOf(kids, keys, resourceId);
}

/** The license of the keys found for `kids` (same order, undefined: unknown). */
function licenseOf(kids: string[], found: (ContentKey | undefined)[], resourceId: string): ClearKeyLicense {
  const keys: ClearKeyLicense['keys'] = [];
  let foreign = false;
  for (let i = 0; i < kids.length; i++) {
    const key = found[i];
    if (!key) continue;
    if (key.resourceId !== resourceId) {
      foreign = true;
      continue;
    }
    let entry = licenseEntries.get(key);
    if (!entry) {
      entry = buildClearKeyLicense([{ kid: kids[i]!, key: key.key }]).keys[0]!;
      licenseEntries.set(key, entry);
    }
    keys.push(entry);
  }
  if (keys.length === 0) {
    if (foreign) throw new Denial('resource_mismatch', 'the token does not grant keys of this resource');
    throw new Denial('unknown_kid', 'none of the requested key ids is known');
  }
  return { keys, type: 'temporary' };
}

/** Each cached content key's license entry, encoded once (the key objects live in HotState). */
const licenseEntries = new WeakMap<ContentKey, ClearKeyLicense['keys'][number]>();

/** The JSON of each license entry (the route's serialisation of it: kty, k, kid). */
const entryJson = new WeakMap<ClearKeyLicense['keys'][number], string>();

/** A license as the clearkey route's response schema serialises it, from the entries' cached JSON. */
export function licenseJson(license: ClearKeyLicense): string {
  let json = '{"keys":[';
  for (let i = 0; i < license.keys.length; i++) {
    const entry = license.keys[i]!;
    let part = entryJson.get(entry);
    if (part === undefined) {
      part = JSON.stringify({ kty: entry.kty, k: entry.k, kid: entry.kid });
      entryJson.set(entry, part);
    }
    json += i === 0 ? part : `,${part}`;
  }
  return `${json}],"type":${JSON.stringify(license.type)}}`;
}

/** Kids as requested (base64url) that parsed, as lowercase hex: a player asks for the same few again and again. */
const decodedKids = new Map<string, string>();
const MAX_DECODED_KIDS = 100_000;

/**
 * parseClearKeyRequest (core), without decoding again kids it has decoded before: the same answer and the
 * same refusals, as anything not seen before goes through the core.
 */
export function parseLicenseRequest(body: unknown): ClearKeyRequest {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const { kids, type } = body as { kids?: unknown; type?: unknown };
    const sessionType = type ?? 'temporary';
    if (
      Array.isArray(kids) &&
      kids.length > 0 &&
      kids.length <= MAX_KIDS_PER_REQUEST &&
      (sessionType === 'temporary' || sessionType === 'persistent-license')
    ) {
      const hex: string[] = [];
      for (const kid of kids) {
        const known = typeof kid === 'string' ? decodedKids.get(kid) : undefined;
        if (known === undefined) return parseAndRemember(body);
        if (!hex.includes(known)) hex.push(known);
      }
      return { kids: hex, type: sessionType };
    }
  }
  return parseClearKeyRequest(body);
}

function parseAndRemember(body: unknown): ClearKeyRequest {
  const request = parseClearKeyRequest(body);
  for (const kid of (body as { kids: string[] }).kids) {
    if (decodedKids.has(kid)) continue;
    if (decodedKids.size >= MAX_DECODED_KIDS) decodedKids.clear();
    // The core's own decoding of this one kid.
    decodedKids.set(kid, parseClearKeyRequest({ kids: [kid] }).kids[0]!);
  }
  return request;
}

/** What POST /v1/license/clearkey answers when it grants keys. */
export interface ClearKeyGrant {
  license: ClearKeyLicense;
  /** The `Vigil-Watermark` header. */
  directive: string;
}

/**
 * POST /v1/license/clearkey once its body is parsed: the gate, the keys, the counts and the access log.
 * Both the Fastify route and the node:http fast path (clearkey-fast-path.ts) answer through it. In the
 * steady state (token verified before, tenant and keys in memory) it returns without a promise.
 */
export class ClearKeyEndpoint {
  readonly #gate: ViewerGate;
  readonly #hot: HotState;
  readonly #stats: StatsRecorder;
  readonly #access: AccessLog;
  readonly #usage: MediaUsage | undefined;

  constructor(opts: ViewerRoutesOptions) {
    this.#usage = opts.usage;
    this.#gate = opts.gate;
    this.#hot = opts.hot;
    this.#stats = opts.stats;
    this.#access = opts.access;
  }

  /** The grant, or a Denial / BadRequest (thrown, or the rejection of the promise). */
  answer(
    token: string | undefined,
    req: IncomingMessage,
    body: unknown,
  ): ClearKeyGrant | Promise<ClearKeyGrant> {
    const started = performance.now();
    const now = Date.now();
    const admitted = token ? this.#gate.admitCached(token, req, 'clearkey', now) : undefined;
    if (admitted === undefined) {
      return this.#gate
        .admit(token, req, 'clearkey', now)
        .then((loaded) => this.#grant(loaded, req, body, now, started));
    }
    return this.#grant(admitted, req, body, now, started);
  }

  #grant(
    admitted: Admitted,
    req: IncomingMessage,
    body: unknown,
    now: number,
    started: number,
  ): ClearKeyGrant | Promise<ClearKeyGrant> {
    const { claims, tenant } = admitted;
    try {
      const { kids } = parseLicenseRequest(body);
      if (claims.usage !== undefined && this.#usage !== undefined) {
        return this.#usage.license(admitted, req, kids, now).then(
          (loaded) => this.#granted(admitted, req, loaded, now, started),
          (err: unknown) => this.#refused(tenant, err, now),
        );
      }
      const license = licenseInMemory(this.#hot, tenant, claims.resourceId, kids, now);
      if (license === undefined) {
        return licenseFor(this.#hot, tenant, claims.resourceId, kids, now).then(
          (loaded) => this.#granted(admitted, req, loaded, now, started),
          (err: unknown) => this.#refused(tenant, err, now),
        );
      }
      return this.#granted(admitted, req, license, now, started);
    } catch (err) {
      return this.#refused(tenant, err, now);
    }
  }

  #granted(
    { claims, tenant, ip }: Admitted,
    req: IncomingMessage,
    license: ClearKeyLicense,
    now: number,
    started: number,
  ): ClearKeyGrant {
    this.#stats.record(tenant.id, 'clearkey', 'granted', now);
    this.#access.keyDelivered(claims, req, ip, now, license.keys.length, tenant.tagKey);
    this.#stats.observeLatency('clearkey', started);
    return { license, directive: directiveHeader(tenant, claims.sessionId, claims.resourceId) };
  }

  #refused(tenant: TenantState, err: unknown, now: number): never {
    if (err instanceof Denial) this.#stats.record(tenant.id, 'clearkey', err.reason, now);
    throw err;
  }
}

/** The clearkey route's body limit (its own content-type parser's). */
export const CLEARKEY_BODY_LIMIT = 16 * 1024;

/** The viewer-facing key server: ClearKey licenses, HLS AES-128 keys, heartbeats. */
export async function viewerRoutes(
  app: FastifyInstance,
  opts: ViewerRoutesOptions & {
    clearKey: ClearKeyEndpoint;
    keyGrants?: KeyGrants | undefined;
    limiter: ViewerRateLimiter;
  },
): Promise<void> {
  const { gate, hot, stats, access, clearKey, keyGrants, limiter, usage } = opts;

  // Players send the license request with various content types (or none): take any, as JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: CLEARKEY_BODY_LIMIT }, (_req, body, done) => {
    if ((body as Buffer).length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(new BadRequest('invalid_json', 'body is not valid JSON'), undefined);
    }
  });

  app.post(
    '/v1/license/clearkey',
    {
      // The schema documents the body; parseClearKeyRequest (core) validates it, once, after the token.
      validatorCompiler: () => () => true,
      schema: {
        summary: 'W3C EME ClearKey license',
        description:
          "Answers a ClearKey license request with the keys of the viewer token's resource. The watermark directive comes in the `Vigil-Watermark` header (base64url JSON).",
        tags: ['license'],
        security: [{ viewerToken: [] }],
        body: {
          type: 'object',
          required: ['kids'],
          properties: {
            kids: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', maxLength: 64 } },
            type: { type: 'string', enum: ['temporary', 'persistent-license'] },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              keys: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { kty: { type: 'string' }, k: { type: 'string' }, kid: { type: 'string' } },
                },
              },
              type: { type: 'string' },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    // Most requests never get here: the fast path answers them (clearkey-fast-path.ts), alike.
    async (request, reply) => {
      const { license, directive } = await clearKey.answer(bearer(request), request.raw, request.body);
      reply.header(WATERMARK_HEADER, directive).header('cache-control', 'no-store');
      return license;
    },
  );

  app.get(
    '/v1/license/hls/:kid',
    {
      schema: {
        summary: 'HLS AES-128 key',
        description:
          'The 16 raw key bytes. The token may come as `?token=` since HLS key URIs cannot always carry headers. Without a viewer token, the key grant (`?kg=`) the origin wrote into the key URIs of a playlist it served under a delivery token is accepted instead (for players given only a signed URL); it is refused like a token (`key_grant_malformed`, `key_grant_signature`, `key_grant_expired` 401; `ip_mismatch`, `banned`, `resource_mismatch` 403).',
        tags: ['license'],
        security: [{ viewerToken: [] }],
        params: { type: 'object', properties: { kid: { type: 'string', maxLength: 64 } } },
        querystring: {
          type: 'object',
          properties: {
            token: { type: 'string', maxLength: 8192 },
            [KEY_GRANT_PARAM]: { type: 'string', maxLength: MAX_KEY_GRANT_LENGTH },
          },
        },
        response: { '4xx': errorSchema },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const token = bearer(request);
      // A viewer token, when there is one (the plugin adds it even to URIs carrying a grant), decides.
      const grant = (request.query as Record<string, unknown> | undefined)?.[KEY_GRANT_PARAM];
      const { claims, tenant, ip } =
        token === undefined && typeof grant === 'string' && keyGrants !== undefined
          ? await keyGrants.admit(grant, request.raw, 'hls', now)
          : await gate.admit(token, request.raw, 'hls', now);
      const kid = parseKid((request.params as { kid: string }).kid);
      if (!kid)
        throw new BadRequest('invalid_kid', 'kid must be 32 hex digits, a UUID or base64url of 16 bytes');
      return stats.countingDenials(tenant.id, 'hls', now, async () => {
        const key = await hot.contentKey(tenant, kid, now);
        if (!key) throw new Denial('unknown_kid', 'unknown key id');
        if (key.resourceId !== claims.resourceId) {
          throw new Denial('resource_mismatch', 'the token does not grant keys of this resource');
        }
        stats.record(tenant.id, 'hls', 'granted', now);
        access.keyDelivered(claims, request.raw, ip, now, 1, tenant.tagKey);
        return reply
          .header(WATERMARK_HEADER, directiveHeader(tenant, claims.sessionId, claims.resourceId))
          .header('cache-control', 'no-store')
          .type('application/octet-stream')
          .send(key.key);
      });
    },
  );

  app.post(
    '/v1/heartbeat',
    {
      onRequest: limiter.onRequest,
      schema: {
        summary: 'Player heartbeat',
        description: 'The current watermark directive, or 403 with code `banned`.',
        tags: ['license'],
        security: [{ viewerToken: [] }],
        response: {
          200: { type: 'object', properties: { status: { type: 'string' }, watermark: directiveSchema } },
          '4xx': errorSchema,
        },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const { claims, tenant, ip } = await gate.admit(bearer(request), request.raw, 'heartbeat', now);
      limiter.session(claims, now);
      access.record(claims, request.raw, ip, 'streamProgress', now, { event: 'heartbeat' });
      if (claims.usage !== undefined) await usage?.heartbeat(claims, now);
      reply.header('cache-control', 'no-store');
      return {
        status: 'ok',
        watermark: directiveFor(
          watermarkOf(tenant, claims.resourceId),
          claims.sessionId,
          sessionTag(tenant.tagKey, claims.sessionId),
        ),
      };
    },
  );

  app.post(
    '/v1/events',
    {
      onRequest: limiter.onRequest,
      schema: {
        summary: "A player report for the session's access log",
        description:
          'E.g. `{"action":"suspiciousActivity","detail":{"kind":"tamper","check":"hidden"}}` when the watermark was tampered with.',
        tags: ['license'],
        security: [{ viewerToken: [] }],
        body: {
          type: 'object',
          required: ['action'],
          additionalProperties: false,
          properties: {
            action: { type: 'string', enum: [...PLAYER_ACTIONS] },
            detail: { type: 'object', additionalProperties: true },
          },
        },
        response: { 202: { type: 'object', properties: { status: { type: 'string' } } }, '4xx': errorSchema },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const { claims, ip } = await gate.admit(bearer(request), request.raw, 'events', now);
      limiter.session(claims, now);
      const body = request.body as { action: string; detail?: Record<string, unknown> };
      if (body.detail && JSON.stringify(body.detail).length > 4096) {
        throw new BadRequest('invalid_event', '"detail" holds at most 4 KiB of JSON');
      }
      access.record(claims, request.raw, ip, body.action, now, body.detail ?? null);
      return reply.code(202).send({ status: 'accepted' });
    },
  );
}
