import { join } from 'node:path';
import { ensureAdminOperator } from '@vigil/control';
import { canonicalBanTarget } from '@vigil/core';
import { createDemo, disableDemo } from '@vigil/demo';
import { LiveManager } from '@vigil/live';
import {
  buildApp,
  consoleSettingsFromEnv,
  ensureDefaultTenant,
  mediaSettingsFromEnv,
  openStore,
  outboundSettingsFromEnv,
  rateLimitsFromEnv,
  retentionFromEnv,
  securitySettingsFromEnv,
  seedApiKey,
  startPurger,
  startRetention,
  storeSettingsFromEnv,
} from '@vigil/server';
import { type Command, options, out, str } from '../command.ts';
import { mediaProcessing } from '../media-processing.ts';
import { UsageError } from '../usage-error.ts';

export const serveCommand: Command = {
  options: options(['port', 'host'], ['no-demo', 'no-worker']),
  async run(values) {
    const port = Number(str(values, 'port') ?? process.env.PORT ?? 8080);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
    const host = str(values, 'host') ?? process.env.HOST ?? '127.0.0.1';
    // Secrets and exposure settings are checked before anything is opened.
    const security = securitySettingsFromEnv();
    const trustedProxies = (process.env.VIGIL_TRUSTED_PROXIES ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    // Refused before anything starts: a typo here would make every viewer look like the proxy.
    const badProxy = trustedProxies.find((entry) => canonicalBanTarget(entry) === null);
    if (badProxy !== undefined)
      throw new UsageError(`VIGIL_TRUSTED_PROXIES: "${badProxy}" is not an IP address or CIDR range`);
    const settings = storeSettingsFromEnv(str(values, 'data'));
    const retention = retentionFromEnv();
    const rateLimits = rateLimitsFromEnv();
    const consoleSettings = consoleSettingsFromEnv();
    // What tenants' URLs (detections, watches) may reach: no private address unless allowed here.
    let detectOutbound: ReturnType<typeof outboundSettingsFromEnv>;
    try {
      detectOutbound = outboundSettingsFromEnv();
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const detectConcurrency = Number(process.env.VIGIL_DETECT_CONCURRENCY ?? 1);
    if (!Number.isInteger(detectConcurrency) || detectConcurrency < 0 || detectConcurrency > 16)
      throw new UsageError('VIGIL_DETECT_CONCURRENCY must be a whole number from 0 to 16');
    const mediaSettings = mediaSettingsFromEnv();
    const store = await openStore(settings);
    const { generatedSecret, warning } = await ensureDefaultTenant(store, process.env.VIGIL_JWT_SECRET);
    if (warning) process.stderr.write(`vigil: ${warning}\n`);
    await seedApiKey(store, process.env.VIGIL_API_KEY);
    // The console's first account; a generated password is shown below, this once.
    const { generatedPassword } = await ensureAdminOperator({ store }, process.env.VIGIL_ADMIN_PASSWORD);
    const stopPurger = startPurger(store);
    // Access logs, session tags, stats and ban sightings older than VIGIL_RETENTION_DAYS (90) go.
    const stopRetention = startRetention(store, retention, undefined, (msg) =>
      process.stderr.write(`${msg}\n`),
    );
    // Live channels run on this instance unless VIGIL_LIVE=0 (with PostgreSQL, let one instance run them).
    let publicBase = '';
    const live =
      process.env.VIGIL_LIVE === '0'
        ? undefined
        : new LiveManager({
            store,
            originRoot: join(settings.dataDir, 'origin'),
            workRoot: join(settings.dataDir, 'live-work'),
            keyServerUrl: () => publicBase,
            log: { warn: (msg) => process.stderr.write(`${msg}\n`) },
          });
    // Media processing runs in this process unless --no-worker / VIGIL_MEDIA_WORKER=0 (then `vigil worker`).
    const { storage: mediaStorage, ...processing } = mediaProcessing(
      store,
      settings.dataDir,
      mediaSettings,
      () => publicBase,
      !(values['no-worker'] || process.env.VIGIL_MEDIA_WORKER === '0'),
    );
    const { worker, stopSweeper } = processing;
    const app = await buildApp({
      store,
      live,
      media: { storage: mediaStorage, ...(worker ? { notify: () => worker.poke() } : {}) },
      logLevel: process.env.VIGIL_LOG_LEVEL ?? 'warn',
      config: {
        trustedProxies,
        ...(process.env.VIGIL_COMPAT_BASE_PATH ? { compatBasePath: process.env.VIGIL_COMPAT_BASE_PATH } : {}),
        // Live channels and published packages, served with signed delivery as /origin/<tenant>/...
        originRoot: join(settings.dataDir, 'origin'),
        media: mediaSettings,
        rateLimits,
        console: consoleSettings,
        // Leak tracing: uploaded clips and evidence frames, and the jobs this instance runs at once.
        detectionsDir: join(settings.dataDir, 'detections'),
        detectOutbound,
        detectConcurrency,
        // Detections show access logs: they are kept as long.
        detectRetentionDays: retention.accessLogs,
        ...security,
      },
    });
    const demo =
      values['no-demo'] || process.env.VIGIL_DEMO === '0' ? undefined : createDemo({ store, live });
    if (demo) await app.register(demo.routes);
    // Demo off here, and this instance runs the channels: a demo channel an earlier start stored stops.
    const demoStopped = !demo && live ? await disableDemo(store) : false;
    const address = await app.listen({ port, host });
    publicBase = process.env.VIGIL_PUBLIC_URL ?? address;
    if (live) await live.start();
    await worker?.start();
    out(`Vigil listening on ${address}`);
    out(
      `  store: ${settings.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded, in ${settings.dataDir}`}`,
    );
    out(`  API docs: ${address}/docs`);
    out(`  console: ${address}/admin`);
    if (generatedSecret) {
      out('  Default tenant created. Its viewer-token secret (HS256), shown this once:');
      out(`    ${generatedSecret}`);
    }
    if (generatedPassword) {
      out('  Console operator "admin" created. Its password, shown this once (change it in the console,');
      out('  or with `vigil user passwd admin`):');
      out(`    ${generatedPassword}`);
    }
    if (demo) {
      out(`  demo: ${address}/demo`);
      await demo.prepare(out);
    }
    if (demoStopped) out('  demo: off; the demo live channel an earlier start left set to run is stopped');
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      stopPurger();
      stopRetention();
      stopSweeper();
      await worker?.close();
      await live?.close();
      await app.close();
      await store.close();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
};
