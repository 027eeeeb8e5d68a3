/** What every `vigil` command shares: its shape, the common options, option parsing and the store it opens. */
import type { ParseArgsConfig } from 'node:util';
import type { Actor } from '@vigil/control';
import { DEFAULT_TENANT } from '@vigil/core';
import { ensureDefaultTenant, openStore, storeSettingsFromEnv } from '@vigil/server';
import type { VigilStore } from '@vigil/store';
import { UsageError } from './usage-error.ts';

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Values, positionals: string[]): Promise<void>;
}

export const common = {
  data: { type: 'string' },
  tenant: { type: 'string' },
} as const;

export const out = (line: string) => process.stdout.write(`${line}\n`);

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function need(values: Values, name: string): string {
  const v = str(values, name);
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

/** Opens the store named by --data / DATABASE_URL, runs `fn`, and always closes it. */
export async function withStore<T>(
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

/**
 * Who a command acts as: against `--data` (or DATABASE_URL) the CLI holds the store itself, so it is the
 * platform role of the tenant it names; every operation still checks its own rules.
 */
export function cliActor(tenantId: string): Actor {
  return { tenantId, role: 'platform', kind: 'cli', id: 'cli' };
}

/** The store alone, for what is the platform's rather than a tenant's (tenants): no tenant is made or needed. */
export async function withPlatform<T>(
  values: Values,
  fn: (deps: { store: VigilStore }, actor: Actor) => Promise<T>,
): Promise<T> {
  const store = await openStore(storeSettingsFromEnv(str(values, 'data')));
  try {
    return await fn({ store }, cliActor(DEFAULT_TENANT));
  } finally {
    await store.close();
  }
}

/** `withStore`, with the CLI's actor for the control operations. */
export function withControl<T>(
  values: Values,
  fn: (deps: { store: VigilStore }, actor: Actor) => Promise<T>,
): Promise<T> {
  return withStore(values, (store, tenantId) => fn({ store }, cliActor(tenantId)));
}

/** A number option as given (NaN when it is not one): the operation says what it must be. */
export function numberOption(values: Values, name: string): number | undefined {
  const raw = str(values, name);
  return raw === undefined ? undefined : raw.trim() === '' ? Number.NaN : Number(raw);
}

export function positiveNumber(values: Values, name: string, fallback: number, integer: boolean): number {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'whole ' : ''}number`);
  }
  return n;
}

export function parseValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  if (raw.startsWith('{')) return JSON.parse(raw);
  return raw;
}

/** A command's options: the common ones, then `strings` (each takes a value) and `flags` (none). */
export function options(strings: string[], flags: string[] = []): Command['options'] {
  const opts: Command['options'] = { ...common };
  for (const name of strings) opts[name] = { type: 'string' };
  for (const name of flags) opts[name] = { type: 'boolean' };
  return opts;
}
