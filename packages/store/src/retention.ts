import { sql } from 'kysely';
import type { VigilStore } from './store.ts';

/** The tables retention trims, each by its own time column. */
export const RETENTION_KINDS = ['accessLogs', 'sessionTags', 'stats', 'banSightings'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

const TABLES: Record<RetentionKind, { table: string; time: string; key: string[] }> = {
  accessLogs: { table: 'access_logs', time: 'at', key: ['id'] },
  sessionTags: { table: 'session_tags', time: 'first_seen', key: ['tenant_id', 'tag', 'session_id'] },
  stats: { table: 'stats_minutes', time: 'minute', key: ['tenant_id', 'minute', 'outcome'] },
  banSightings: { table: 'ban_sightings', time: 'last_seen', key: ['ban_id', 'ip'] },
};

/**
 * Deletes at most `batch` rows of `kind` older than `before` (ms since the epoch), oldest first, and
 * returns how many it deleted: one bounded statement, so a purge never holds a long lock or a huge
 * transaction, and a caller repeats it until fewer than `batch` go.
 *
 * `DELETE … WHERE (key) IN (SELECT key … ORDER BY time LIMIT n)`: row values and a limited subquery,
 * which SQLite and PostgreSQL both run through the time index of migration 0007.
 */
export async function purgeOlderThan(
  store: VigilStore,
  kind: RetentionKind,
  before: number,
  batch: number,
): Promise<number> {
  const { table, time, key } = TABLES[kind];
  if (!Number.isSafeInteger(batch) || batch < 1)
    throw new Error('the purge batch must be a positive integer');
  const keys = sql.join(key.map((k) => sql.ref(k)));
  const result =
    await sql`DELETE FROM ${sql.table(table)} WHERE (${keys}) IN (SELECT ${keys} FROM ${sql.table(
      table,
    )} WHERE ${sql.ref(time)} < ${before} ORDER BY ${sql.ref(time)} LIMIT ${batch})`.execute(store.db);
  return Number(result.numAffectedRows ?? 0n);
}
