import { setFlagsFromString } from 'node:v8';
import AjvCompiler from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { DEFAULT_MEDIA_SETTINGS } from '@vigil/control';
import { assertHmacSecret, ViewerTokenVerifier } from '@vigil/core';
import type { LiveManager } from '@vigil/live';
import { LocalDiskStorage, type ObjectStorage } from '@vigil/media';
import { MediaStore, type VigilStore } from '@vigil/store';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { Counter } from 'prom-client';
import { AccessLog } from './access-log.ts';
import { ConsoleSessions } from './auth/console-session.ts';
import { requireMetricsCredential } from './auth/metrics.ts';
import { ViewerGate } from './auth/viewer-gate.ts';
import { clearKeyFastPath, inFrontOfFastify } from './clearkey-fast-path.ts';
import { clientIpResolver } from './client-ip.ts';
import { compatRoutes } from './compat/qualabs.ts';
import { DEFAULT_CONFIG, type ServerConfig } from './config.ts';
import { installCors } from './cors.ts';
import { DeliverySigner } from './delivery.ts';
import { LeakTracing } from './detect/index.ts';
import { installErrorHandling } from './errors.ts';
import { HotState } from './hot-state.ts';
import { KeyGrants } from './key-grants.ts';
import { MediaUsage } from './media-usage.ts';
import { ViewerRateLimiter } from './rate-limit.ts';
import { adminRoutes } from './routes/admin.ts';
import { consoleRoutes } from './routes/console.ts';
import { deliveryRoutes } from './routes/delivery.ts';
import { liveRoutes } from './routes/live.ts';
import { mediaRoutes } from './routes/media/index.ts';
import { originRoutes } from './routes/origin.ts';
import { spekeRoutes } from './routes/speke.ts';
import { ClearKeyEndpoint, viewerRoutes } from './routes/viewer.ts';
import { StatsRecorder } from './stats/recorder.ts';

/**
 * Query strings and path params are text, so their schemas coerce ("5" to 5); JSON bodies are checked as
 * sent, or `{"enabled": null}` would store false and `{"sessionId": ["x"]}` ban session "x".
 */
function strictBodyValidators() {
  const pool = AjvCompiler();
  type Options = Parameters<typeof pool>[1];
  return (externalSchemas: Parameters<typeof pool>[0], options: Options) => {
    const coercing = pool(externalSchemas, options);
    const strict = pool(externalSchemas, {
      ...options,
      customOptions: { ...options?.customOptions, coerceTypes: false },
    } as Options);
    const compile = (route: { schema: unknown; httpPart?: string }) =>
      (route.httpPart === 'body' ? strict : coercing)(route as never);
    return compile as unknown as ReturnType<typeof pool>;
  };
}

/**
 * Turns off V8's allocation-site pretenuring for this process. Under load it sometimes decides, from a
 * burst while the code is still cold, to allocate some of the objects every request makes straight in
 * the old generation; those then keep the young objects they point to alive through every scavenge until
 * the next full GC, so about half of each request's garbage gets promoted, scavenges take ~10 ms instead
 * of ~1 and GC costs a third of the CPU, for good (a license took ~60 µs of CPU instead of ~40, and p99
 * latency tripled, in about half of the `bench/license.ts` runs; `BENCH_NODE_ARGS='--trace-gc-nvp
 * --trace-pretenuring-statistics'` shows it). A server that keeps nothing per request has nothing to
 * gain from pretenuring. V8 reads the flag when it takes such decisions, so setting it here suffices.
 */
function noPretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

export interface AppOptions {
  store: VigilStore;
  config?: Partial<ServerConfig>;
  logLevel?: string;
  /** Runs live channels on this instance (the CLI's `serve` makes one); their routes work without it. */
  live?: LiveManager;
  /**
   * The media pipeline's storage (default: local disk in `config.mediaRoot`; neither: no media routes)
   * and what to tell when a processing job is queued (an in-process worker).
   */
  media?: { storage?: ObjectStorage; notify?: () => void };
}

/**
 * Builds the Vigil HTTP server over a store: key server (viewer tokens), control API (API keys), the
 * seed-compatible API, metrics and the OpenAPI document generated from the route schemas.
 */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  noPretenuring();
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...opts.config };
  if (config.compatAdminSecret) assertHmacSecret(config.compatAdminSecret, 'the compat admin secret');
  const { store } = opts;
  // Before anything else: a trusted-proxy entry that is no address or range refuses the start.
  const clientIp = clientIpResolver(config.trustedProxies);
  const app = Fastify({
    bodyLimit: config.bodyLimitBytes,
    // Per-request log lines would cost more than the license itself; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    logger: {
      level: opts.logLevel ?? 'warn',
      // Tokens and API keys never reach a log line.
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.split('?')[0] }),
      },
    },
    // One logger for all requests instead of a child per request (which costs as much as a license):
    // request logging is off, and error lines carry the method and path.
    childLoggerFactory: (logger) => logger,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    schemaController: { compilersFactory: { buildValidator: strictBodyValidators() } },
  });

  let verifier: ViewerTokenVerifier | undefined;
  const hot = new HotState(store, () => verifier?.clear());
  verifier = new ViewerTokenVerifier({
    keysFor: (tenantId) => hot.tenant(tenantId).then((t) => t?.tokenKeys),
    clockSkewSeconds: config.clockSkewSeconds,
  });
  const stats = new StatsRecorder(store, config.statsFlushMs);
  const access = new AccessLog(store, config.accessLogFlushMs);
  const gate = new ViewerGate(hot, verifier, stats, store, clientIp, access);
  const limited = new Counter({
    name: 'vigil_rate_limited_total',
    help: 'Viewer-facing writes refused with 429, by the bucket that was empty (session or address)',
    labelNames: ['bucket'],
    registers: [stats.registry],
  });
  const limiter = new ViewerRateLimiter(config.rateLimits, clientIp, (kind) => limited.inc({ bucket: kind }));

  installErrorHandling(app);
  installCors(app, hot);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Vigil', version: '0.1.0', description: 'Key server and control API of Vigil.' },
      components: {
        securitySchemes: {
          viewerToken: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'Viewer token from the tenant backend',
          },
          apiKey: { type: 'http', scheme: 'bearer', description: 'Tenant API key (vk_...)' },
          consoleSession: {
            type: 'apiKey',
            in: 'cookie',
            name: 'vigil_console',
            description:
              'Console session (POST /v1/console/session); state-changing calls also send X-CSRF-Token',
          },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const usage = new MediaUsage(new MediaStore(store), hot, access);
  const clearKey = new ClearKeyEndpoint({ gate, hot, stats, access, usage });
  const keyGrants = new KeyGrants(store.envelope, gate, stats, clientIp);
  await app.register(viewerRoutes, { gate, hot, stats, access, clearKey, keyGrants, limiter, usage });
  // The hot license route, answered ahead of Fastify's routing when plain (see clearkey-fast-path.ts).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  inFrontOfFastify(
    app.server,
    clearKeyFastPath({ endpoint: clearKey, hot, log: app.log, closing: () => closing }),
  );
  const signer = new DeliverySigner(store.envelope);
  await app.register(deliveryRoutes, { config, hot, gate, signer, limiter });
  await app.register(originRoutes, {
    config,
    hot,
    stats,
    signer,
    keyGrants,
    clientIp,
    // Packages published to object storage are served from it (local ones are in the origin folder).
    packages: opts.media?.storage?.kind === 'local' ? undefined : opts.media?.storage,
  });
  // Console sign-in: requireRole takes the session cookie in place of an API key (console-session.ts).
  const consoleSessions = new ConsoleSessions(store, config.console, clientIp, config.trustedProxies);
  app.decorate('consoleSessions', consoleSessions);
  await app.register(consoleRoutes, { sessions: consoleSessions });
  const leak = new LeakTracing(store, config, access, app.log);
  await app.register(adminRoutes, { store, hot, stats, config, access, leak });
  await app.register(spekeRoutes, { store, hot, config });
  await app.register(liveRoutes, { store, hot, stats, config, live: opts.live });
  const mediaStorage =
    opts.media?.storage ?? (config.mediaRoot ? new LocalDiskStorage(config.mediaRoot) : undefined);
  if (mediaStorage) {
    const deps = {
      media: new MediaStore(store),
      storage: mediaStorage,
      settings: { ...DEFAULT_MEDIA_SETTINGS, ...config.media },
      ...(opts.media?.notify ? { notify: opts.media.notify } : {}),
    };
    await app.register(mediaRoutes, { deps, hot, config, signer, store, clientIp, access });
  }
  await app.register(compatRoutes, {
    prefix: config.compatBasePath,
    store,
    hot,
    gate,
    stats,
    config,
    access,
    limiter,
  });

  app.get(
    '/healthz',
    { schema: { tags: ['ops'], summary: 'Liveness and store reachability' } },
    async (_request, reply) => {
      try {
        await store.listTenants();
        return { status: 'ok', store: store.kind };
      } catch {
        return reply.code(503).send({ status: 'unavailable', store: store.kind });
      }
    },
  );

  app.get(
    '/metrics',
    {
      preHandler: requireMetricsCredential(hot, config),
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics (metrics token or platform API key, unless opened)',
        security: [{ apiKey: [] }],
      },
    },
    async (_request, reply) => reply.type(stats.registry.contentType).send(await stats.registry.metrics()),
  );

  app.addHook('onReady', async () => leak.start());
  app.addHook('onClose', async () => {
    consoleSessions.close();
    await leak.close();
    hot.close();
    limiter.close();
    await stats.close();
    await access.close();
  });
  return app;
}
