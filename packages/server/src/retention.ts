import { purgeOlderThan, RETENTION_KINDS, type RetentionKind, type VigilStore } from '@vigil/store';

/** Days each kind of record is kept; 0 keeps it for ever. */
export type RetentionPolicy = Record<RetentionKind, number>;

export const DEFAULT_RETENTION_DAYS = 90;

/** The per-kind settings, each overriding VIGIL_RETENTION_DAYS for its table. */
export const RETENTION_ENV: Record<RetentionKind, string> = {
  accessLogs: 'VIGIL_RETENTION_ACCESS_LOG_DAYS',
  sessionTags: 'VIGIL_RETENTION_SESSION_TAG_DAYS',
  stats: 'VIGIL_RETENTION_STATS_DAYS',
  banSightings: 'VIGIL_RETENTION_SIGHTING_DAYS',
};

const DAY_MS = 86_400_000;
/** Rows per DELETE, and DELETEs per kind and run: a run removes at most this many, the rest next time. */
const BATCH = 5_000;
const MAX_BATCHES = 200;

function days(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 36_500)
    throw new Error(`${name} must be a whole number of days from 0 (keep for ever) to 36500`);
  return n;
}

/** VIGIL_RETENTION_DAYS (default 90) for every kind, unless its own setting says otherwise. */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  const all = days(env, 'VIGIL_RETENTION_DAYS', DEFAULT_RETENTION_DAYS);
  const policy = {} as RetentionPolicy;
  for (const kind of RETENTION_KINDS) policy[kind] = days(env, RETENTION_ENV[kind], all);
  return policy;
}

/**
 * Deletes what is older than the policy keeps (access logs by time, session tags by first sighting,
 * per-minute stats by minute, ban sightings by last sighting), in batches of BATCH rows, at most
 * MAX_BATCHES per kind; returns how many rows of each kind went.
 */
export async function purgeRetained(
  store: VigilStore,
  policy: RetentionPolicy,
  now: number,
  batch = BATCH,
  maxBatches = MAX_BATCHES,
): Promise<Record<RetentionKind, number>> {
  const purged = {} as Record<RetentionKind, number>;
  for (const kind of RETENTION_KINDS) {
    purged[kind] = 0;
    if (policy[kind] <= 0) continue;
    const before = now - policy[kind] * DAY_MS;
    for (let i = 0; i < maxBatches; i++) {
      const n = await purgeOlderThan(store, kind, before, batch);
      purged[kind] += n;
      if (n < batch) break;
    }
  }
  return purged;
}

/**
 * Runs purgeRetained now and then (beside startPurger's expired keys and bans); returns a function that
 * stops it. A run never overlaps the previous one.
 */
export function startRetention(
  store: VigilStore,
  policy: RetentionPolicy,
  everyMs = 10 * 60_000,
  log: (msg: string) => void = () => {},
): () => void {
  let running = false;
  let stopped = false;
  const run = async () => {
    if (running || stopped) return;
    running = true;
    try {
      const purged = await purgeRetained(store, policy, Date.now());
      const total = RETENTION_KINDS.reduce((sum, k) => sum + purged[k], 0);
      if (total > 0) {
        log(
          `retention: purged ${purged.accessLogs} access-log entries, ${purged.sessionTags} session tags, ${purged.stats} stats rows, ${purged.banSightings} ban sightings`,
        );
      }
    } catch {
      // The store is unreachable for now; try again next time.
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
