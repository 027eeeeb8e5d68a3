import {
  BadRequest,
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
import type { VigilStore } from '@vigil/store';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessLog } from '../access-log.ts';
import type { Admitted, ViewerGate } from '../auth/viewer-gate.ts';
import type { ServerConfig } from '../config.ts';
import { errorBody } from '../errors.ts';
import type { HotState, TenantState } from '../hot-state.ts';
import { licenseFor } from '../routes/viewer.ts';
import { renderStatsChart } from '../stats/chart.ts';
import { statsMinutes } from '../stats/minutes.ts';
import type { StatsRecorder } from '../stats/recorder.ts';
import { seedWatermarkOptions } from './seed-watermark.ts';

export interface CompatOptions {
  store: VigilStore;
  access: AccessLog;
  hot: HotState;
  gate: ViewerGate;
  stats: StatsRecorder;
  config: ServerConfig;
}

/**
 * The seed system's key server API, so its players, admin page and backends keep working unchanged.
 * Its admin calls carry a JWT body signed with the tenant secret and no expiry: accepted here only.
 * Its status codes: 400 for any invalid request, 451 for a banned viewer.
 */
export async function compatRoutes(app: FastifyInstance, opts: CompatOptions): Promise<void> {
  const { store, hot, gate, stats, config, access } = opts;

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
    const status = err instanceof Denial && err.reason === 'banned' ? 451 : 400;
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

  /** Verifies an HS256 JWT of the tenant it names (or the default tenant). */
  async function verified(
    token: unknown,
    now: number,
  ): Promise<{ tenant: TenantState; payload: Record<string, unknown> }> {
    if (typeof token !== 'string' || token.length === 0)
      throw new Denial('token_missing', 'a JWT is required');
    const decoded = decodeUnverified(token);
    const tenant = hot.peek(decoded.tenantId) ?? (await hot.tenant(decoded.tenantId));
    if (!tenant) throw new Denial('unknown_tenant', 'token names an unknown tenant');
    const payload = await verifySignature(token, decoded.alg, tenant.tokenKeys, {
      algorithms: ['HS256'],
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    });
    return { tenant, payload: payload as Record<string, unknown> };
  }

  async function viewer(request: FastifyRequest, endpoint: string, now: number): Promise<Admitted> {
    const token = (request.query as { token?: string }).token;
    let claims: ViewerClaims;
    try {
      const { tenant, payload } = await verified(token, now);
      claims = seedViewerClaims(
        tenant.id,
        payload,
        now,
        config.compatTokenTtlSeconds,
        config.clockSkewSeconds,
      );
    } catch (err) {
      if (err instanceof Denial) stats.record(undefined, endpoint, err.reason, now);
      throw err;
    }
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
      try {
        const license = await licenseFor(hot, tenant, claims.resourceId, kids, now);
        stats.record(tenant.id, 'compat-ck', 'granted', now);
        access.keyDelivered(claims, request.raw, ip, now, license.keys.length);
        return answer(tenant, claims.sessionId, Buffer.from(JSON.stringify(license)).toString('base64'));
      } catch (err) {
        if (err instanceof Denial) stats.record(tenant.id, 'compat-ck', err.reason, now);
        throw err;
      }
    },
  );

  app.post(
    '/np/',
    {
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
    return verified(raw, Date.now());
  }

  const ok = (reply: FastifyReply) => reply.type('text/plain').send('OK');

  app.post(
    '/config/',
    { schema: { tags: ['compat'], summary: 'Seed API: switch watermarking (JWT body)' } },
    async (request, reply) => {
      const { tenant, payload } = await adminPayload(request);
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
      const current = await store.getWatermarkConfig(tenant.id);
      const mapped =
        wmOptions === undefined ? {} : seedWatermarkOptions(wmOptions as Record<string, unknown>);
      await store.putWatermarkConfig(tenant.id, {
        ...mergeWatermarkConfig(current, mapped),
        enabled: watermarking,
        legacyOptions: (wmOptions as Record<string, unknown> | undefined) ?? current.legacyOptions ?? {},
      });
      return ok(reply);
    },
  );

  app.post(
    '/ban/',
    { schema: { tags: ['compat'], summary: 'Seed API: ban or unban a session id or IP (JWT body)' } },
    async (request, reply) => {
      const { tenant, payload } = await adminPayload(request);
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
          tenantId: tenant.id,
          kind,
          value,
          reason: 'banned through the compatibility API',
          expiresAt: null,
        });
      else await store.deleteBanByTarget(tenant.id, kind, value);
      return ok(reply);
    },
  );

  app.post(
    '/get/',
    { schema: { tags: ['compat'], summary: 'Seed API: watermark config and banned ids (JWT body)' } },
    async (request) => {
      const { tenant } = await adminPayload(request);
      const [config, bans] = await Promise.all([
        store.getWatermarkConfig(tenant.id),
        store.activeBans(tenant.id, Date.now()),
      ]);
      return {
        watermarking: config.enabled,
        banned: bans.map((b) => b.value),
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
      const { tenant } = await verified((request.query as { token?: string }).token, Date.now());
      const minutes = await statsMinutes(store, stats, tenant.id, 60);
      return reply
        .type('image/png')
        .send(renderStatsChart(minutes, { title: 'License requests per minute' }));
    },
  );
}
