import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_TENANT, isIpAddress, mergeWatermarkConfig, normalizeIp } from '@vigil/core';
import { generateContentKey, TRACK_TYPES, type TrackType } from '@vigil/keys';
import {
  buildApp,
  ensureDefaultTenant,
  openStore,
  seedApiKey,
  startPurger,
  storeSettingsFromEnv,
} from '@vigil/server';
import type { Role, VigilStore } from '@vigil/store';
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

function parseValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  if (raw.startsWith('{')) return JSON.parse(raw);
  return raw;
}

export const commands: Record<string, Command> = {
  serve: {
    options: { ...common, port: { type: 'string' }, host: { type: 'string' } },
    async run(values) {
      const port = Number(str(values, 'port') ?? process.env.PORT ?? 8080);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError('--port must be 0..65535');
      const host = str(values, 'host') ?? process.env.HOST ?? '127.0.0.1';
      const settings = storeSettingsFromEnv(str(values, 'data'));
      const store = await openStore(settings);
      const { generatedSecret } = await ensureDefaultTenant(store, process.env.VIGIL_JWT_SECRET);
      await seedApiKey(store, process.env.VIGIL_API_KEY);
      const stopPurger = startPurger(store);
      const app = await buildApp({
        store,
        logLevel: process.env.VIGIL_LOG_LEVEL ?? 'warn',
        config: {
          trustedProxies: (process.env.VIGIL_TRUSTED_PROXIES ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          ...(process.env.VIGIL_COMPAT_BASE_PATH
            ? { compatBasePath: process.env.VIGIL_COMPAT_BASE_PATH }
            : {}),
        },
      });
      const address = await app.listen({ port, host });
      out(`Vigil listening on ${address}`);
      out(
        `  store: ${settings.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded, in ${settings.dataDir}`}`,
      );
      out(`  API docs: ${address}/docs`);
      if (generatedSecret) {
        out('  Default tenant created. Its viewer-token secret (HS256), shown this once:');
        out(`    ${generatedSecret}`);
      }
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        stopPurger();
        await app.close();
        await store.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
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
    },
    async run(values) {
      const ip = need(values, 'ip');
      if (!isIpAddress(ip)) throw new UsageError('--ip must be an IP address');
      const ttl = Number(str(values, 'ttl') ?? 3600);
      if (!Number.isInteger(ttl) || ttl <= 0)
        throw new UsageError('--ttl must be a positive number of seconds');
      const token = await withStore(values, async (store, tenantId) => {
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
        return (sub ? jwt.setSubject(sub) : jwt).sign(tenant.secret);
      });
      out(token);
    },
  },

  apikey: {
    options: { ...common, role: { type: 'string' }, name: { type: 'string' } },
    async run(values, [action, arg]) {
      await withStore(values, async (store, tenantId) => {
        if (action === 'create') {
          const role = (str(values, 'role') ?? 'admin') as Role;
          if (!['admin', 'operator', 'readonly'].includes(role))
            throw new UsageError('--role must be admin, operator or readonly');
          const { key } = await store.createApiKey(tenantId, role, str(values, 'name') ?? '');
          out(key);
        } else if (action === 'list') {
          for (const k of await store.listApiKeys(tenantId)) {
            out(
              `${k.prefix}  ${k.role.padEnd(9)} ${k.revokedAt ? 'revoked' : 'active '}  ${new Date(k.createdAt).toISOString()}  ${k.name}`,
            );
          }
        } else if (action === 'revoke') {
          if (!arg) throw new UsageError('usage: vigil apikey revoke <prefix>');
          if ((await store.revokeApiKey(tenantId, arg)) === 0)
            throw new Error(`no active API key with prefix "${arg}"`);
          out('revoked');
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
      if (ip !== undefined && !isIpAddress(ip)) throw new UsageError('--ip must be an IP address');
      const expires = str(values, 'expires');
      const expiresAt = expires === undefined ? null : Date.parse(expires);
      if (expiresAt !== null && !Number.isFinite(expiresAt))
        throw new UsageError('--expires must be an ISO date');
      await withStore(values, async (store, tenantId) => {
        const ban = await store.upsertBan({
          tenantId,
          kind: ip !== undefined ? 'ip' : 'session',
          value: ip !== undefined ? normalizeIp(ip) : session!,
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
      await withStore(values, async (store, tenantId) => {
        const deleted = id
          ? await store.deleteBan(tenantId, id)
          : await store.deleteBanByTarget(
              tenantId,
              session !== undefined ? 'session' : 'ip',
              session ?? normalizeIp(ip!),
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
        for (const b of await store.listBans(tenantId)) {
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
          for (const k of await store.listContentKeys(tenantId, resourceId))
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

  tenant: {
    options: { data: common.data, name: { type: 'string' } },
    async run(values, [action, id]) {
      const store = await openStore(storeSettingsFromEnv(str(values, 'data')));
      try {
        if (action === 'list') {
          for (const t of await store.listTenants()) out(`${t.id}  ${t.name}`);
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
