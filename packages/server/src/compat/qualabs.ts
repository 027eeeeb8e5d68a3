import {
  assertJwtPurpose,
  assertTokenFormat,
  BadRequest,
  DEFAULT_TENANT,
  Denial,
  decodeUnverified,
  isIpAddress,
  mergeWatermarkConfig,
  normalizeIp,
  parseClearKeyRequest,
  seedViewerClaims,
  type ViewerClaims,
  verifySignature,
} from '@vigil/core';
import { MAX_PAGE_LIMIT, pageActiveBans, type VigilStore } from '@vigil/store';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessLog } from '../access-log.ts';
import type { Admitted, ViewerGate } from '../auth/viewer-gate.ts';
import type { ServerConfig } from '../config.ts';
import { errorBody, errorHeaders } from '../errors.ts';
import type { HotState, TenantState } from '../hot-state.ts';
import { pageParams } from '../pagination.ts';
import type { ViewerRateLimiter } from '../rate-limit.ts';
import { licenseFor } from '../routes/viewer.ts';
import { renderStatsChart } from '../stats/chart.ts';
import { statsMinutes } from '../stats/minutes.ts';
import type { StatsRecorder } from '../stats/recorder.ts';
import { seedWatermarkOptions } from './seed-watermark.ts';

/** Where `/get/` says more banned ids follow (its body keeps the seed's shape). */
export const NEXT_CURSOR_HEADER = 'vigil-next-cursor';
const compatLimit = {
  ...pageParams.limit,
  default: MAX_PAGE_LIMIT,
  description: `Banned ids per answer (1 to ${MAX_PAGE_LIMIT}, default ${MAX_PAGE_LIMIT})`,
};

export interface CompatOptions {
  store: VigilStore;
  access: AccessLog;
  hot: HotState;
  gate: ViewerGate;
  stats: StatsRecorder;
  config: ServerConfig;
  limiter: ViewerRateLimiter;
}

/**
 * The seed system's key server API, so its players, admin page and backends keep working unchanged.
 * Its admin calls carry a JWT body signed with the tenant secret (or the compat admin secret) and no
 * expiry: accepted here only, within a short window of their `iat`, and never as a viewer's token (nor a
 * viewer's token as theirs: see core's token/purpose.ts).
 * Its status codes: 400 for any invalid request, 451 for a banned viewer; and, Vigil's own, 401 for a
 * credential of another purpose (`token_wrong_type`) and 429 when rate limited.
 */
export async function compatRoutes(app: FastifyInstance, opts: CompatOptions): Promise<void> {
  const { store, hot, gate, stats, config, access, limiter } = opts;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  app.setErrorHandler((err, request, reply) => {
    const body = errorBody(err);
    if (body.statusCode >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.code(500).send(body);
    }
    errorHeaders(err, reply);
    const status =
      body.statusCode === 429
        ? 429
        : err instanceof Denial && err.reason === 'banned'
          ? 451
          : err instanceof Denial && err.reason === 'token_wrong_type'
            ? 401
            : 400;
    return reply.code(status).send({ ...body, statusCode: status });
  });

  const tokenQuery = { type: 'object', properties: { token: { type: 'string', maxLength: 8192 } } };
  const answerSchema = {
    200: {
      type: 'object',
      properties: {
        sessionId: { type: 'string' },
        watermarking: { type: 'boolean' },
        license: { type: 'string' },
        wmOptions: { type: 'object', additionalProperties: true },
      },
    },
  };

  /**
   * Verifies an HS256 JWT of the tenant it names (or the default tenant) and checks it is of `purpose`.
   * Admin tokens of the default tenant verify with the compat admin secret when one is set.
   */
  async function verified(
    token: unknown,
    now: number,
    purpose: 'compat-viewer' | 'compat-admin',
  ): Promise<{ tenant: TenantState; payload: Record<string, unknown> }> {
    if (typeof token !== 'string' || token.length === 0)
      throw new Denial('token_missing', 'a JWT is required');
    const where =
      purpose === 'compat-admin' ? 'the compatibility admin API' : 'the compatibility license API';
    assertTokenFormat(token, purpose, where);
    const decoded = decodeUnverified(token);
    const tenant = hot.peek(decoded.tenantId) ?? (await hot.tenant(decoded.tenantId));
    if (!tenant) throw new Denial('unknown_tenant', 'token names an unknown tenant');
    const adminSecret =
      purpose === 'compat-admin' && tenant.id === DEFAULT_TENANT ? config.compatAdminSecret : undefined;
    const keys = adminSecret ? { tenantId: tenant.id, secret: adminSecret } : tenant.tokenKeys;
    const payload = (await verifySignature(token, decoded.alg, keys, {
      algorithms: ['HS256'],
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    })) as Record<string, unknown>;
    assertJwtPurpose(payload, purpose, where);
    if (purpose === 'compat-admin') {
      checkAdminAge(payload, now, config.compatAdminTokenMaxAgeSeconds, config.clockSkewSeconds);
    }
    return { tenant, payload };
  }

  async function viewer(request: FastifyRequest, endpoint: string, now: number): Promise<Admitted> {
    const token = (request.query as { token?: string }).token;
    const claims: ViewerClaims = await stats.countingDenials(undefined, endpoint, now, async () => {
      const { tenant, payload } = await verified(token, now, 'compat-viewer');
      return seedViewerClaims(tenant.id, payload, now, config.compatTokenTtlSeconds, config.clockSkewSeconds);
    });
    return gate.admitClaims(claims, request.raw, endpoint, now);
  }

  const answer = (tenant: TenantState, sessionId: string, license: string) => ({
    sessionId,
    watermarking: tenant.watermark.enabled,
    license,
    wmOptions: tenant.watermark.legacyOptions ?? {},
  });

  app.post(
    '/ck/',
    {
      schema: {
        tags: ['compat'],
        summary: 'Seed API: ClearKey license with watermark instructions',
        querystring: tokenQuery,
        response: answerSchema,
      },
    },
    async (request) => {
      const now = Date.now();
      const { claims, tenant, ip } = await viewer(request, 'compat-ck', now);
      let body: unknown;
      try {
        body = JSON.parse(String(request.body ?? ''));
      } catch {
        throw new BadRequest('invalid_json', 'body is not a ClearKey license request');
      }
      const { kids } = parseClearKeyRequest(body);
      return stats.countingDenials(tenant.id, 'compat-ck', now, async () => {
        const license = await licenseFor(hot, tenant, claims.resourceId, kids, now);
        stats.record(tenant.id, 'compat-ck', 'granted', now);
        access.keyDelivered(claims, request.raw, ip, now, license.keys.length, tenant.tagKey);
        return answer(tenant, claims.sessionId, Buffer.from(JSON.stringify(license)).toString('base64'));
      });
    },
  );

  app.post(
    '/np/',
    {
      onRequest: limiter.onRequest,
      schema: {
        tags: ['compat'],
        summary: 'Seed API: watermark instructions without a license',
        querystring: tokenQuery,
        response: answerSchema,
      },
    },
    async (request) => {
      const now = Date.now();
      const { claims, tenant } = await viewer(request, 'compat-np', now);
      limiter.session(claims, now);
      return answer(tenant, claims.sessionId, '');
    },
  );

  /** Admin calls: the body is a JWT (raw, JSON-quoted, or `{"token": ...}`). */
  async function adminPayload(request: FastifyRequest) {
    let raw = String(request.body ?? '').trim();
    if (raw.startsWith('"') || raw.startsWith('{')) {
      try {
        const parsed = JSON.parse(raw) as unknown;
        raw = typeof parsed === 'string' ? parsed : String((parsed as { token?: unknown }).token ?? '');
      } catch {
        throw new BadRequest('invalid_json', 'body must be a JWT');
      }
    }
    return verified(raw, Date.now(), 'compat-admin');
  }

  /** A Seed admin change: its JWT body verified, `change` applied with it, answered `OK`. */
  const adminChange = (
    path: string,
    summary: string,
    change: (tenantId: string, payload: Awaited<ReturnType<typeof adminPayload>>['payload']) => Promise<void>,
  ) =>
    app.post(path, { schema: { tags: ['compat'], summary } }, async (request, reply) => {
      const { tenant, payload } = await adminPayload(request);
      await change(tenant.id, payload);
      return reply.type('text/plain').send('OK');
    });

  adminChange('/config/', 'Seed API: switch watermarking (JWT body)', async (tenantId, payload) => {
    const { watermarking, wmOptions } = payload;
    if (typeof watermarking !== 'boolean')
      throw new BadRequest('invalid_request', '"watermarking" must be a boolean');
    if (
      wmOptions !== undefined &&
      (typeof wmOptions !== 'object' || wmOptions === null || Array.isArray(wmOptions))
    ) {
      throw new BadRequest('invalid_request', '"wmOptions" must be an object');
    }
    if (wmOptions !== undefined && JSON.stringify(wmOptions).length > 4096) {
      throw new BadRequest('invalid_request', '"wmOptions" is too large');
    }
    const current = await store.getWatermarkConfig(tenantId);
    const mapped = wmOptions === undefined ? {} : seedWatermarkOptions(wmOptions as Record<string, unknown>);
    await store.putWatermarkConfig(tenantId, {
      ...mergeWatermarkConfig(current, mapped),
      enabled: watermarking,
      legacyOptions: (wmOptions as Record<string, unknown> | undefined) ?? current.legacyOptions ?? {},
    });
  });

  adminChange('/ban/', 'Seed API: ban or unban a session id or IP (JWT body)', async (tenantId, payload) => {
    const { sessionId, ban } = payload;
    if (typeof sessionId !== 'string' || sessionId.length === 0 || sessionId.length > 128) {
      throw new BadRequest('invalid_request', '"sessionId" must be a non-empty string');
    }
    if (typeof ban !== 'boolean') throw new BadRequest('invalid_request', '"ban" must be a boolean');
    // The seed stores IP bans as session ids; here an IP becomes an IP ban.
    const kind = isIpAddress(sessionId) ? 'ip' : 'session';
    const value = kind === 'ip' ? normalizeIp(sessionId) : sessionId;
    if (ban)
      await store.upsertBan({
        tenantId: tenantId,
        kind,
        value,
        reason: 'banned through the compatibility API',
        expiresAt: null,
      });
    else await store.deleteBanByTarget(tenantId, kind, value);
  });

  app.post(
    '/get/',
    {
      schema: {
        tags: ['compat'],
        summary: 'Seed API: watermark config and banned ids (JWT body)',
        description: `The seed's body, with at most \`limit\` (default ${MAX_PAGE_LIMIT}) banned ids, oldest ban first. When there are more, the \`${NEXT_CURSOR_HEADER}\` header holds the cursor of the next ones: send it back as \`?cursor=\`.`,
        querystring: { type: 'object', properties: { ...pageParams, limit: compatLimit } },
      },
    },
    async (request, reply) => {
      const { tenant } = await adminPayload(request);
      const q = request.query as { limit?: number; cursor?: string };
      const [config, bans] = await Promise.all([
        store.getWatermarkConfig(tenant.id),
        pageActiveBans(store, tenant.id, Date.now(), { limit: q.limit ?? MAX_PAGE_LIMIT, cursor: q.cursor }),
      ]);
      if (bans.next !== null) reply.header(NEXT_CURSOR_HEADER, bans.next);
      return {
        watermarking: config.enabled,
        banned: bans.items.map((b) => b.value),
        wmOptions: config.legacyOptions ?? {},
      };
    },
  );

  app.get(
    '/graph/',
    {
      schema: {
        tags: ['compat'],
        summary: 'Seed API: license requests chart (PNG)',
        querystring: tokenQuery,
      },
    },
    async (request, reply) => {
      const { tenant } = await verified(
        (request.query as { token?: string }).token,
        Date.now(),
        'compat-admin',
      );
      const minutes = await statsMinutes(store, stats, tenant.id, 60);
      return reply
        .type('image/png')
        .send(renderStatsChart(minutes, { title: 'License requests per minute' }));
    },
  );
}

/**
 * The seed signs admin tokens with `jsonwebtoken`, which adds `iat` and no `exp`: one is accepted only
 * for `maxAgeSeconds` after its `iat`, so a captured one stops working soon.
 */
function checkAdminAge(
  payload: Record<string, unknown>,
  now: number,
  maxAgeSeconds: number,
  skewSeconds: number,
): void {
  const { iat } = payload;
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    throw new Denial('token_claims_invalid', 'an admin token needs "iat" (unix seconds)');
  const nowSeconds = now / 1000;
  if (iat > nowSeconds + skewSeconds) throw new Denial('token_not_yet_valid', 'token issued in the future');
  if (nowSeconds - iat > maxAgeSeconds + skewSeconds) {
    throw new Denial(
      'token_expired',
      `admin tokens are accepted for ${maxAgeSeconds} s after their "iat"; this one is older`,
    );
  }
}
