import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertHmacSecret, DEFAULT_TENANT } from '@vigil/core';
import { Envelope, parseMasterKey } from '@vigil/keys';
import type { VigilStore } from '@vigil/store';
import { openPostgresStore } from '@vigil/store-postgres';
import { openSqliteStore } from '@vigil/store-sqlite';

export interface StoreSettings {
  /** Folder for the embedded store and the generated master key. */
  dataDir: string;
  /** PostgreSQL connection string; when set, the store lives there instead of in dataDir. */
  databaseUrl?: string | undefined;
  pgSchema?: string | undefined;
  /** VIGIL_MASTER_KEY, if given. */
  masterKey?: string | undefined;
}

export function storeSettingsFromEnv(
  dataDir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): StoreSettings {
  return {
    dataDir: resolve(dataDir ?? env.VIGIL_DATA ?? '.vigil'),
    databaseUrl: env.DATABASE_URL || undefined,
    pgSchema: env.VIGIL_PG_SCHEMA || undefined,
    masterKey: env.VIGIL_MASTER_KEY || undefined,
  };
}

/** The master key from the setting, or from `<dataDir>/master.key`, generated (mode 0600) on first use. */
export function loadMasterKey(settings: StoreSettings): Buffer {
  if (settings.masterKey) return parseMasterKey(settings.masterKey);
  mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 });
  const file = join(settings.dataDir, 'master.key');
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  chmodSync(file, 0o600);
  return parseMasterKey(readFileSync(file, 'utf8'));
}

export async function openStore(settings: StoreSettings): Promise<VigilStore> {
  const envelope = new Envelope(loadMasterKey(settings));
  if (settings.databaseUrl) {
    return openPostgresStore({ connectionString: settings.databaseUrl, envelope, schema: settings.pgSchema });
  }
  return openSqliteStore({ dataDir: settings.dataDir, envelope });
}

/**
 * Makes sure the default tenant exists. Its token secret is VIGIL_JWT_SECRET when set; otherwise one is
 * generated and returned here, once, to be shown to the operator.
 */
export async function ensureDefaultTenant(
  store: VigilStore,
  jwtSecret: string | undefined,
): Promise<{ created: boolean; generatedSecret?: string; warning?: string }> {
  if (jwtSecret) assertHmacSecret(jwtSecret, 'VIGIL_JWT_SECRET');
  const existing = await store.getTenant(DEFAULT_TENANT);
  const wanted = jwtSecret ? Buffer.from(jwtSecret, 'utf8') : undefined;
  if (existing) {
    // The secret the API rotated away from: the rotation stands (tenant backends switched to the new one).
    if (wanted && existing.previousSecret?.secret.equals(wanted))
      return {
        created: false,
        warning:
          "VIGIL_JWT_SECRET is the default tenant's secret from before its rotation: the rotated secret " +
          'stays in force; put the new secret in VIGIL_JWT_SECRET (or unset it)',
      };
    if (wanted && !wanted.equals(existing.secret))
      await store.updateTenant(DEFAULT_TENANT, { secret: wanted });
    // A short secret stored by an older version: replace it with VIGIL_JWT_SECRET.
    if (!wanted)
      assertHmacSecret(
        existing.secret,
        "the default tenant's stored secret (set VIGIL_JWT_SECRET to replace it)",
      );
    return { created: false };
  }
  try {
    const tenant = await store.createTenant({ id: DEFAULT_TENANT, name: 'Default tenant', secret: wanted });
    return wanted ? { created: true } : { created: true, generatedSecret: tenant.secret.toString('utf8') };
  } catch (err) {
    // Another instance created it at the same moment.
    if (await store.getTenant(DEFAULT_TENANT)) return { created: false };
    throw err;
  }
}

/**
 * Seeds VIGIL_API_KEY as a platform key (admin of the default tenant, and may create tenants). A key
 * revoked since (`DELETE /v1/apikeys/<prefix>`, `vigil apikey revoke`) stays revoked.
 */
export async function seedApiKey(store: VigilStore, apiKey: string | undefined): Promise<void> {
  if (!apiKey) return;
  if (apiKey.length < 16) throw new Error('VIGIL_API_KEY must be at least 16 characters');
  await store.storeApiKey(DEFAULT_TENANT, 'platform', 'VIGIL_API_KEY', apiKey);
}

/** Deletes expired content keys and bans now and then; returns a function that stops it. */
export function startPurger(
  store: VigilStore,
  everyMs = 60_000,
  log: (msg: string) => void = () => {},
): () => void {
  const run = async () => {
    try {
      const now = Date.now();
      const keys = await store.purgeExpiredKeys(now);
      const bans = await store.purgeExpiredBans(now);
      if (keys + bans > 0) log(`purged ${keys} expired keys and ${bans} expired bans`);
    } catch {
      // The store is unreachable for now; try again next time.
    }
  };
  void run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
