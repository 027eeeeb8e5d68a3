import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import {
  canonicalBanTarget,
  canonicalIp,
  DEFAULT_TENANT,
  mergeWatermarkConfig,
  newBanTarget,
} from '@vigil/core';
import { createDemo, disableDemo } from '@vigil/demo';
import { generateContentKey, TRACK_TYPES, type TrackType } from '@vigil/keys';
import {
  channelFolder,
  channelKeyOwner,
  defineChannel,
  inputFromText,
  LiveManager,
  LiveSettingsError,
  ResourceContentError,
} from '@vigil/live';
import {
  DEFAULT_KEY_PERIOD,
  DEFAULT_SEGMENT_DURATION,
  describeBoxes,
  type KeySource,
  licenseKeyLookup,
  PackagerError,
  type PackageScheme,
  type PackageSummary,
  packageMedia,
  type RenditionCheck,
  readLayout,
  spekeKeySource,
  storeKeyLookup,
  storeKeySource,
  verifyPackage,
} from '@vigil/packager';
import {
  buildApp,
  ensureDefaultTenant,
  issueDelivery,
  openStore,
  rateLimitsFromEnv,
  retentionFromEnv,
  securitySettingsFromEnv,
  seedApiKey,
  signedOriginUrl,
  startPurger,
  startRetention,
  storeSettingsFromEnv,
} from '@vigil/server';
import {
  allPages,
  pageApiKeys,
  pageBans,
  pageContentKeys,
  pageLiveChannels,
  pageTenants,
  type Role,
  type VigilStore,
} from '@vigil/store';
import { SignJWT } from 'jose';
import { UsageError } from './usage-error.ts';

type Values = Record<string, string | boolean | string[] | undefined>;
interface Command {
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Values, positionals: string[]): Promise<void>;
}

const common = {
  data: { type: 'string' },
  tenant: { type: 'string' },
} as const;

const out = (line: string) => process.stdout.write(`${line}\n`);

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function need(values: Values, name: string): string {
  const v = str(values, name);
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

/** Opens the store named by --data / DATABASE_URL, runs `fn`, and always closes it. */
async function withStore<T>(
  values: Values,
  fn: (store: VigilStore, tenantId: string) => Promise<T>,
): Promise<T> {
  const store = await openStore(storeSettingsFromEnv(str(values, 'data')));
  try {
    const tenantId = str(values, 'tenant') ?? DEFAULT_TENANT;
    if (tenantId === DEFAULT_TENANT) await ensureDefaultTenant(store, process.env.VIGIL_JWT_SECRET);
    if (!(await store.getTenant(tenantId))) throw new Error(`no tenant "${tenantId}"`);
    return await fn(store, tenantId);
  } finally {
    await store.close();
  }
}

function positiveNumber(values: Values, name: string, fallback: number, integer: boolean): number {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'whole ' : ''}number`);
  }
  return n;
}

/** Progress on stderr: a bar redrawn in place on a terminal, a plain line every 5% otherwise. */
function progressPrinter(): { update(phase: string, percent: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = -1;
  let lastPhase = '';
  let drawn = false;
  return {
    update(phase, percent) {
      // Nothing before the transcode starts: an input refused while probing is one line, the error.
      if (phase === 'probe') return;
      const whole = Math.floor(percent);
      if (tty) {
        if (whole === last && phase === lastPhase) return;
        const width = 30;
        const filled = Math.round((width * percent) / 100);
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(whole).padStart(3)}% ${phase.padEnd(12)}`,
        );
        drawn = true;
      } else {
        if (last >= 0 && whole - last < 5 && whole !== 100) return;
        process.stderr.write(`packaging: ${whole}% (${phase})\n`);
      }
      last = whole;
      lastPhase = phase;
    },
    end() {
      if (tty && drawn) process.stderr.write('\n');
      drawn = false;
    },
  };
}

function describePackage(summary: PackageSummary, keysFrom: string): string[] {
  const { layout } = summary;
  const videos = layout.tracks.filter((t) => t.kind === 'video');
  const audio = layout.tracks.some((t) => t.kind === 'audio');
  const segments = videos[0]?.periods.reduce((a, p) => a + p.segments.length, 0) ?? 0;
  const lines = [
    `packaged ${layout.resourceId} into ${summary.out}: ${videos.map((v) => `${v.height}p`).join('/')}${audio ? ' + audio' : ''}, ` +
      `${segments} segments of ${layout.segmentDuration} s, ${layout.periods.length} key period${layout.periods.length === 1 ? '' : 's'}, ` +
      `${layout.scheme === 'none' ? 'clear' : layout.scheme} (${(summary.elapsedMs / 1000).toFixed(1)} s)`,
    `  DASH       ${summary.out}/${layout.files.dash}`,
    `  HLS        ${summary.out}/${layout.files.hls}${layout.files.hlsAes128 ? ` (AES-128 TS; fMP4 ${layout.scheme}: ${layout.files.hlsCmaf})` : ''}`,
  ];
  if (summary.keys.length > 0) lines.push(`  keys       ${summary.keys.length} from ${keysFrom}`);
  if (layout.licenseUrl) lines.push(`  license    ${layout.licenseUrl}`);
  return lines;
}

function parseValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  if (raw.startsWith('{')) return JSON.parse(raw);
  return raw;
}

/** `360:800k,180:250k` → ladder rungs. */
function parseLadder(text: string): { height: number; bitrate: number }[] {
  return text.split(',').map((part) => {
    const m = /^(\d+)p?:(\d+(?:\.\d+)?)([km]?)$/i.exec(part.trim());
    if (!m) throw new UsageError('--ladder takes <height>:<bitrate>[k|m],... e.g. 360:800k,180:250k');
    const unit = m[3]?.toLowerCase() === 'm' ? 1e6 : m[3]?.toLowerCase() === 'k' ? 1e3 : 1;
    return { height: Number(m[1]), bitrate: Math.round(Number(m[2]) * unit) };
  });
}

function liveStatusLines(c: {
  id: string;
  resourceId: string;
  tenantId: string;
  desired: string;
  status: Record<string, unknown> | null;
}): string[] {
  const st = (c.status ?? {}) as Record<string, unknown>;
  const enc = (st.encoder ?? {}) as Record<string, unknown>;
  const at = typeof st.at === 'number' ? `${Math.round((Date.now() - st.at) / 1000)} s ago` : 'never';
  const lines = [
    `${c.id}  resource ${c.resourceId}  desired ${c.desired}  state ${String(st.state ?? 'unknown')} (reported ${at})`,
  ];
  if (st.state && st.state !== 'stopped') {
    lines.push(
      `  encoder ${String(enc.state ?? '?')} pid ${String(enc.pid ?? '-')} run ${String(enc.run ?? '-')} restarts ${String(enc.restarts ?? 0)}`,
      `  segments ${String(st.segmentsPublished ?? 0)}  last #${String(st.lastSequence ?? '-')}  edge lag ${st.edgeLagMs === undefined ? '-' : `${st.edgeLagMs} ms`}  key period ${String(st.keyPeriod ?? '-')}  ${st.processingMsAvg === undefined ? '' : `${st.processingMsAvg} ms/segment`}`,
    );
  }
  if (st.lastError) lines.push(`  last error: ${String(st.lastError)}`);
  lines.push(
    `  manifests /origin/${c.tenantId}/${c.resourceId}/manifest.mpd  /origin/${c.tenantId}/${c.resourceId}/master.m3u8`,
  );
  return lines;
}

export const commands: Record<string, Command> = {
  serve: {
    options: {
      ...common,
      port: { type: 'string' },
      host: { type: 'string' },
      'no-demo': { type: 'boolean' },
    },
    async run(values) {
      const port = Number(str(values, 'port') ?? process.env.PORT ?? 8080);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError('--port must be 0..65535');
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
      const store = await openStore(settings);
      const { generatedSecret } = await ensureDefaultTenant(store, process.env.VIGIL_JWT_SECRET);
      await seedApiKey(store, process.env.VIGIL_API_KEY);
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
      const app = await buildApp({
        store,
        live,
        logLevel: process.env.VIGIL_LOG_LEVEL ?? 'warn',
        config: {
          trustedProxies,
          ...(process.env.VIGIL_COMPAT_BASE_PATH
            ? { compatBasePath: process.env.VIGIL_COMPAT_BASE_PATH }
            : {}),
          // Live channels and published packages, served with signed delivery as /origin/<tenant>/...
          originRoot: join(settings.dataDir, 'origin'),
          rateLimits,
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
      out(`Vigil listening on ${address}`);
      out(
        `  store: ${settings.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded, in ${settings.dataDir}`}`,
      );
      out(`  API docs: ${address}/docs`);
      if (generatedSecret) {
        out('  Default tenant created. Its viewer-token secret (HS256), shown this once:');
        out(`    ${generatedSecret}`);
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
        await live?.close();
        await app.close();
        await store.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
  },

  live: {
    options: {
      ...common,
      input: { type: 'string' },
      resource: { type: 'string' },
      'key-period': { type: 'string' },
      'segment-duration': { type: 'string' },
      window: { type: 'string' },
      ladder: { type: 'string' },
      preset: { type: 'string' },
      'no-loop': { type: 'boolean' },
      takeover: { type: 'boolean' },
    },
    async run(values, [action, id]) {
      const usage = 'usage: vigil live start|stop|status|delete [<channel id>] (see vigil --help)';
      if (!action || !['start', 'stop', 'status', 'delete'].includes(action)) throw new UsageError(usage);
      if (action !== 'status' && !id) throw new UsageError(usage);
      await withStore(values, async (store, tenantId) => {
        if (action === 'status') {
          const channels = id
            ? [await store.getLiveChannel(tenantId, id)].filter((c) => c !== undefined)
            : allPages((page) => pageLiveChannels(store, tenantId, page));
          let shown = 0;
          for await (const c of channels) {
            shown++;
            for (const line of liveStatusLines(c)) out(line);
          }
          if (id && shown === 0) throw new Error(`no live channel "${id}"`);
          if (shown === 0) out('no live channels');
          return;
        }
        const existing = await store.getLiveChannel(tenantId, id!);
        if (action === 'stop' || action === 'delete') {
          if (!existing) throw new Error(`no live channel "${id}"`);
          if (action === 'stop') await store.setLiveChannelDesired(tenantId, id!, 'stopped');
          else {
            await store.deleteLiveChannel(tenantId, id!);
            // Its own keys only; the resource's other keys stay.
            await store.deleteOwnedKeys(tenantId, channelKeyOwner(id!));
          }
          out(
            `${action === 'stop' ? 'stopping' : 'deleting'} live channel ${id}: its keys are withdrawn and its files removed by the running server`,
          );
          return;
        }
        const overrides: Record<string, unknown> = {};
        const input = str(values, 'input');
        if (input !== undefined) overrides.input = inputFromText(input, !values['no-loop']);
        const numeric: [string, string][] = [
          ['key-period', 'keyPeriodSeconds'],
          ['segment-duration', 'segmentDuration'],
          ['window', 'windowSeconds'],
        ];
        for (const [flag, field] of numeric) {
          if (str(values, flag) !== undefined) overrides[field] = positiveNumber(values, flag, 0, true);
        }
        const preset = str(values, 'preset');
        if (preset !== undefined) overrides.preset = preset;
        const ladder = str(values, 'ladder');
        if (ladder !== undefined) overrides.ladder = parseLadder(ladder);
        if (values.takeover) overrides.takeover = true;
        try {
          const { resourceId, settings } = await defineChannel(store, tenantId, id!, {
            resourceId: str(values, 'resource') ?? existing?.resourceId,
            settings: { ...(existing?.settings ?? {}), ...overrides },
            desired: 'running',
            originRoot: join(storeSettingsFromEnv(str(values, 'data')).dataDir, 'origin'),
          });
          const base = `/origin/${tenantId}/${channelFolder(resourceId, settings.takeover === true)}`;
          out(
            `live channel ${id} (resource ${resourceId}) set to run; a running \`vigil serve\` on this store starts it`,
          );
          out(`  manifests: ${base}/manifest.mpd and ${base}/master.m3u8`);
          out(`  status:    vigil live status ${id}`);
        } catch (err) {
          if (err instanceof LiveSettingsError) throw new UsageError(err.message);
          if (err instanceof ResourceContentError) throw new Error(err.message);
          throw err;
        }
      });
    },
  },

  token: {
    options: {
      ...common,
      session: { type: 'string' },
      resource: { type: 'string' },
      ip: { type: 'string' },
      ttl: { type: 'string' },
      sub: { type: 'string' },
      path: { type: 'string' },
      server: { type: 'string' },
    },
    async run(values) {
      const ip = canonicalIp(need(values, 'ip'));
      if (ip === null) throw new UsageError('--ip must be an IP address');
      const ttl = Number(str(values, 'ttl') ?? 3600);
      if (!Number.isInteger(ttl) || ttl <= 0)
        throw new UsageError('--ttl must be a positive number of seconds');
      const lines = await withStore(values, async (store, tenantId) => {
        const tenant = (await store.getTenant(tenantId))!;
        const claims: Record<string, unknown> = {
          sessionId: need(values, 'session'),
          resourceId: need(values, 'resource'),
          ip,
        };
        if (tenantId !== DEFAULT_TENANT) claims.tenant = tenantId;
        const sub = str(values, 'sub');
        const jwt = new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuedAt()
          .setExpirationTime(`${ttl}s`);
        const viewer = await (sub ? jwt.setSubject(sub) : jwt).sign(tenant.secret);
        const path = str(values, 'path');
        if (path === undefined) return [viewer];
        // The signed origin URL of a file of the resource, for the same viewer and address.
        const delivery = issueDelivery(store, {
          tenantId,
          resourceId: claims.resourceId as string,
          ttlSeconds: ttl,
          ip,
          sessionId: claims.sessionId as string,
        });
        const server = str(values, 'server') ?? 'http://127.0.0.1:8080';
        return [viewer, signedOriginUrl(server, delivery, path)];
      });
      for (const line of lines) out(line);
    },
  },

  apikey: {
    options: { ...common, role: { type: 'string' }, name: { type: 'string' }, all: { type: 'boolean' } },
    async run(values, [action, arg]) {
      await withStore(values, async (store, tenantId) => {
        if (action === 'create') {
          const role = (str(values, 'role') ?? 'admin') as Role;
          if (!['admin', 'operator', 'readonly'].includes(role))
            throw new UsageError('--role must be admin, operator or readonly');
          const { key } = await store.createApiKey(tenantId, role, str(values, 'name') ?? '');
          out(key);
        } else if (action === 'list') {
          for await (const k of allPages((page) => pageApiKeys(store, tenantId, page))) {
            out(
              `${k.prefix}  ${k.role.padEnd(9)} ${k.revokedAt ? 'revoked' : 'active '}  ${new Date(k.createdAt).toISOString()}  ${k.name}`,
            );
          }
        } else if (action === 'revoke') {
          if (!arg) throw new UsageError('usage: vigil apikey revoke <prefix> [--all]');
          const matching = (await store.listApiKeys(tenantId)).filter(
            (k) => k.prefix === arg && k.revokedAt === null,
          );
          if (matching.length === 0) throw new Error(`no active API key with prefix "${arg}"`);
          if (matching.length > 1 && !values.all)
            throw new Error(
              `${matching.length} active API keys share prefix "${arg}": --all revokes them all`,
            );
          await store.revokeApiKeysByHash(
            tenantId,
            matching.map((k) => k.hash),
          );
          out(matching.length > 1 ? `revoked ${matching.length} keys` : 'revoked');
        } else {
          throw new UsageError('usage: vigil apikey create|list|revoke');
        }
      });
    },
  },

  ban: {
    options: {
      ...common,
      session: { type: 'string' },
      ip: { type: 'string' },
      reason: { type: 'string' },
      expires: { type: 'string' },
    },
    async run(values) {
      const session = str(values, 'session');
      const ip = str(values, 'ip');
      if ((session === undefined) === (ip === undefined))
        throw new UsageError('give exactly one of --session and --ip');
      const target = ip === undefined ? undefined : newBanTarget(ip);
      if (ip !== undefined && target === null)
        throw new UsageError(
          '--ip must be an IP address or a CIDR range of /16 (IPv4) or /48 (IPv6) or narrower',
        );
      const expires = str(values, 'expires');
      const expiresAt = expires === undefined ? null : Date.parse(expires);
      if (expiresAt !== null && !Number.isFinite(expiresAt))
        throw new UsageError('--expires must be an ISO date');
      await withStore(values, async (store, tenantId) => {
        const ban = await store.upsertBan({
          tenantId,
          kind: ip !== undefined ? 'ip' : 'session',
          value: target ?? session!,
          reason: str(values, 'reason') ?? '',
          expiresAt,
        });
        out(`banned ${ban.kind} ${ban.value} (ban id ${ban.id})`);
      });
    },
  },

  unban: {
    options: { ...common, session: { type: 'string' }, ip: { type: 'string' } },
    async run(values, [id]) {
      const session = str(values, 'session');
      const ip = str(values, 'ip');
      if ([id, session, ip].filter((v) => v !== undefined).length !== 1) {
        throw new UsageError('usage: vigil unban <ban id> | --session <id> | --ip <addr>');
      }
      const target = ip === undefined ? undefined : canonicalBanTarget(ip);
      if (ip !== undefined && target === null)
        throw new UsageError('--ip must be an IP address or a CIDR range');
      await withStore(values, async (store, tenantId) => {
        const deleted = id
          ? await store.deleteBan(tenantId, id)
          : await store.deleteBanByTarget(
              tenantId,
              session !== undefined ? 'session' : 'ip',
              session ?? target!,
            );
        if (!deleted) throw new Error('no such ban');
        out('unbanned');
      });
    },
  },

  bans: {
    options: { ...common },
    async run(values) {
      await withStore(values, async (store, tenantId) => {
        for await (const b of allPages((page) => pageBans(store, tenantId, page))) {
          const seen = b.sightings.map((s) => s.ip).join(',');
          out(`${b.id}  ${b.kind.padEnd(7)} ${b.value}  ${b.reason}${seen ? `  seen from ${seen}` : ''}`);
        }
      });
    },
  },

  config: {
    options: { ...common },
    async run(values, [action = 'get', ...pairs]) {
      await withStore(values, async (store, tenantId) => {
        const current = await store.getWatermarkConfig(tenantId);
        if (action === 'get') {
          out(JSON.stringify(current, null, 2));
          return;
        }
        if (action !== 'set' || pairs.length === 0)
          throw new UsageError('usage: vigil config get | set <field>=<value> ...');
        const patch: Record<string, unknown> = {};
        for (const pair of pairs) {
          const eq = pair.indexOf('=');
          if (eq <= 0) throw new UsageError(`"${pair}" is not <field>=<value>`);
          patch[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
        }
        const next = mergeWatermarkConfig(current, patch);
        await store.putWatermarkConfig(tenantId, next);
        out(JSON.stringify(next, null, 2));
      });
    },
  },

  keys: {
    options: {
      ...common,
      resource: { type: 'string' },
      periods: { type: 'string' },
      track: { type: 'string', multiple: true },
      ttl: { type: 'string' },
    },
    async run(values, [action]) {
      const resourceId = need(values, 'resource');
      await withStore(values, async (store, tenantId) => {
        if (action === 'list') {
          for await (const k of allPages((page) => pageContentKeys(store, tenantId, resourceId, page)))
            out(`${k.kid}  period ${k.keyPeriod}  ${k.trackType}`);
          return;
        }
        if (action !== 'create') throw new UsageError('usage: vigil keys create|list --resource <id>');
        const periods = Number(str(values, 'periods') ?? 1);
        if (!Number.isInteger(periods) || periods < 1 || periods > 1000)
          throw new UsageError('--periods must be 1..1000');
        const tracks = (values.track as string[] | undefined) ?? ['all'];
        for (const t of tracks)
          if (!TRACK_TYPES.includes(t as TrackType)) throw new UsageError(`unknown track type "${t}"`);
        const expiresAt = Date.now() + Number(str(values, 'ttl') ?? 7 * 86400) * 1000;
        const keys = [];
        for (let p = 0; p < periods; p++) {
          for (const trackType of tracks)
            keys.push(
              generateContentKey({
                tenantId,
                resourceId,
                keyPeriod: p,
                trackType: trackType as TrackType,
                expiresAt,
              }),
            );
        }
        await store.putContentKeys(keys);
        for (const k of keys) out(`${k.kid}  period ${k.keyPeriod}  ${k.trackType}`);
      });
    },
  },

  package: {
    options: {
      ...common,
      out: { type: 'string' },
      resource: { type: 'string' },
      scheme: { type: 'string' },
      'segment-duration': { type: 'string' },
      'key-period': { type: 'string' },
      'hls-aes128': { type: 'boolean' },
      'allow-no-audio': { type: 'boolean' },
      server: { type: 'string' },
      'api-key': { type: 'string' },
      'license-url-base': { type: 'string' },
      'key-ttl': { type: 'string' },
      'work-dir': { type: 'string' },
    },
    async run(values, positionals) {
      if (positionals.length !== 1)
        throw new UsageError('usage: vigil package <input> --out <dir> --resource <id>');
      const input = positionals[0]!;
      const outDir = need(values, 'out');
      const resourceId = need(values, 'resource');
      const rawScheme = str(values, 'scheme') ?? 'cenc';
      const scheme = (rawScheme === 'clear' ? 'none' : rawScheme) as PackageScheme;
      if (!['cenc', 'cbcs', 'none'].includes(scheme))
        throw new UsageError('--scheme must be cenc, cbcs or none');
      const segmentDuration = positiveNumber(values, 'segment-duration', DEFAULT_SEGMENT_DURATION, false);
      const keyPeriod = positiveNumber(values, 'key-period', DEFAULT_KEY_PERIOD, true);
      const keyTtl =
        str(values, 'key-ttl') === undefined ? undefined : positiveNumber(values, 'key-ttl', 0, true);
      const server = str(values, 'server');
      const apiKey = str(values, 'api-key') ?? process.env.VIGIL_API_KEY;
      if (server && !apiKey)
        throw new UsageError('--server needs --api-key (an admin API key of the tenant)');

      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const bar = progressPrinter();
      const run = (keys: KeySource | undefined) =>
        packageMedia(
          {
            input,
            out: outDir,
            resourceId,
            scheme,
            segmentDuration,
            keyPeriod,
            hlsAes128: values['hls-aes128'] === true,
            allowNoAudio: values['allow-no-audio'] === true,
            ...(keys ? { keys } : {}),
            licenseUrlBase: str(values, 'license-url-base') ?? server ?? 'http://127.0.0.1:8080',
            ...(str(values, 'work-dir') ? { workDir: str(values, 'work-dir')! } : {}),
          },
          { signal: controller.signal, onProgress: (p) => bar.update(p.phase, p.percent) },
        );
      try {
        let summary: PackageSummary;
        let keysFrom: string;
        if (scheme === 'none') {
          summary = await run(undefined);
          keysFrom = '';
        } else if (server) {
          const source = spekeKeySource({
            server,
            apiKey: apiKey!,
            ...(keyTtl ? { ttlSeconds: keyTtl } : {}),
          });
          summary = await run(source);
          keysFrom = source.description;
        } else {
          const settings = storeSettingsFromEnv(str(values, 'data'));
          keysFrom = settings.databaseUrl ? 'the PostgreSQL store' : `the local store in ${settings.dataDir}`;
          // The store is opened only to write the keys, after the input has been checked and transcoded.
          const description = keysFrom;
          summary = await run({
            description,
            createKeys: (resource, specs, keyScheme) =>
              withStore(values, (store, tenantId) =>
                storeKeySource({
                  store,
                  tenantId,
                  description,
                  ...(keyTtl ? { ttlSeconds: keyTtl } : {}),
                }).createKeys(resource, specs, keyScheme),
              ),
          });
        }
        bar.end();
        for (const line of describePackage(summary, keysFrom)) out(line);
      } catch (err) {
        bar.end();
        if (err instanceof PackagerError && err.code === 'bad_option') throw new UsageError(err.message);
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    },
  },

  inspect: {
    options: { ...common, server: { type: 'string' }, token: { type: 'string' } },
    async run(values, positionals) {
      if (positionals.length !== 1) throw new UsageError('usage: vigil inspect <file> | <package dir>');
      const target = positionals[0]!;
      const info = await stat(target).catch(() => undefined);
      if (!info) throw new Error(`not found: ${target}`);
      if (!info.isDirectory()) {
        const data = await readFile(target);
        const firstType = data.length >= 8 ? data.toString('latin1', 4, 8) : '';
        if (!/^[\x20-\x7e]{4}$/.test(firstType)) throw new Error(`${target} is not an MP4 (ISO BMFF) file`);
        let text: string;
        try {
          text = describeBoxes(data);
        } catch (err) {
          throw new Error(`${target} is not an MP4 (ISO BMFF) file: ${(err as Error).message}`);
        }
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return;
      }
      const layout = await readLayout(target);
      const server = str(values, 'server');
      const token = str(values, 'token');
      if (server && !token) throw new UsageError('--server needs --token (a viewer token for the resource)');
      const report = (c: RenditionCheck) =>
        out(
          `${c.ok ? 'OK  ' : 'FAIL'}  ${c.id.padEnd(22)} ${c.segments} segments, ${c.periods} key period${c.periods === 1 ? '' : 's'}${c.error ? `: ${c.error}` : ''}`,
        );
      const check = async (lookup: Parameters<typeof verifyPackage>[1]) =>
        verifyPackage(target, lookup, { onRendition: report });
      const n = layout.periods.length;
      out(
        `${layout.resourceId}: ${layout.scheme === 'none' ? 'clear' : layout.scheme}, ${n} key period${n === 1 ? '' : 's'}`,
      );
      const { checks } =
        server && token
          ? await check(licenseKeyLookup(server, token))
          : await withStore(values, (store, tenantId) =>
              check(storeKeyLookup(store, tenantId, layout.resourceId)),
            );
      const failed = checks.filter((c) => !c.ok).length;
      if (failed > 0) throw new Error(`${failed} of ${checks.length} renditions failed the check`);
    },
  },

  tenant: {
    options: { data: common.data, name: { type: 'string' } },
    async run(values, [action, id]) {
      const store = await openStore(storeSettingsFromEnv(str(values, 'data')));
      try {
        if (action === 'list') {
          for await (const t of allPages((page) => pageTenants(store, page))) out(`${t.id}  ${t.name}`);
        } else if (action === 'create' && id) {
          if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id))
            throw new UsageError('tenant ids are lowercase letters, digits, - and _');
          if (await store.getTenant(id)) throw new Error(`tenant "${id}" exists`);
          const tenant = await store.createTenant({ id, name: str(values, 'name') ?? id });
          const { key } = await store.createApiKey(id, 'admin', 'initial admin key');
          out(`tenant ${id} created`);
          out(`  viewer-token secret (HS256): ${tenant.secret.toString('utf8')}`);
          out(`  admin API key: ${key}`);
        } else {
          throw new UsageError('usage: vigil tenant create <id> | list');
        }
      } finally {
        await store.close();
      }
    },
  },
};
