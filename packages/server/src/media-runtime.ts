/**
 * The media pipeline's runtime parts for `vigil serve` and `vigil worker`: settings from the
 * environment, the sweeper of expired uploads and the processing worker over the store's queue.
 */
import { join } from 'node:path';
import { DEFAULT_MEDIA_SETTINGS, type MediaSettings, sweepUploads } from '@vigil/control';
import {
  EmbeddedQueue,
  LocalDiskStorage,
  type MediaQueue,
  MediaWorker,
  type ObjectStorage,
  PgBossQueue,
  S3Storage,
} from '@vigil/media';
import type { Rung } from '@vigil/packager';
import { MediaStore, type VigilStore } from '@vigil/store';

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${raw}"`);
  return n;
}

export function mediaSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): MediaSettings {
  const chunkSize = Math.floor(positive(env, 'VIGIL_MEDIA_CHUNK_BYTES', DEFAULT_MEDIA_SETTINGS.chunkSize));
  if (chunkSize < 64 * 1024 || chunkSize > 64 * 1024 * 1024)
    throw new Error('VIGIL_MEDIA_CHUNK_BYTES must be 64 KiB to 64 MiB');
  return {
    maxUploadBytes: Math.floor(
      positive(env, 'VIGIL_MEDIA_MAX_UPLOAD_BYTES', DEFAULT_MEDIA_SETTINGS.maxUploadBytes),
    ),
    chunkSize,
    uploadTtlMs:
      positive(env, 'VIGIL_MEDIA_UPLOAD_TTL_SECONDS', DEFAULT_MEDIA_SETTINGS.uploadTtlMs / 1000) * 1000,
    maxAttempts: Math.floor(positive(env, 'VIGIL_MEDIA_MAX_ATTEMPTS', DEFAULT_MEDIA_SETTINGS.maxAttempts)),
  };
}

/** `VIGIL_MEDIA_LADDER`: `height:bitrate` pairs, comma separated (e.g. `720:2500000,360:800000`). */
export function ladderFromEnv(env: NodeJS.ProcessEnv = process.env): Rung[] | undefined {
  const raw = env.VIGIL_MEDIA_LADDER;
  if (!raw) return undefined;
  return raw.split(',').map((pair) => {
    const [h, b] = pair.split(':').map(Number);
    if (!Number.isInteger(h) || !Number.isInteger(b) || h! < 64 || h! > 4320 || b! < 50_000)
      throw new Error(`VIGIL_MEDIA_LADDER: "${pair}" is not height:bitrate`);
    return { height: h!, bitrate: b! };
  });
}

/**
 * The media storage: S3-compatible object storage when `VIGIL_MEDIA_S3_BUCKET` is set (with
 * `VIGIL_MEDIA_S3_ENDPOINT`, `_REGION`, `_PREFIX`; credentials from the AWS SDK's usual environment),
 * else local disk in `<dataDir>/media`.
 */
export function mediaStorageFor(dataDir: string, env: NodeJS.ProcessEnv = process.env): ObjectStorage {
  const bucket = env.VIGIL_MEDIA_S3_BUCKET;
  if (bucket)
    return new S3Storage({
      bucket,
      ...(env.VIGIL_MEDIA_S3_ENDPOINT ? { endpoint: env.VIGIL_MEDIA_S3_ENDPOINT } : {}),
      ...(env.VIGIL_MEDIA_S3_REGION ? { region: env.VIGIL_MEDIA_S3_REGION } : {}),
      ...(env.VIGIL_MEDIA_S3_PREFIX ? { prefix: env.VIGIL_MEDIA_S3_PREFIX } : {}),
    });
  return new LocalDiskStorage(join(dataDir, 'media'));
}

/** Ends expired uploads (files included) every `everyMs`; returns the stop function. */
export function startUploadSweeper(
  store: VigilStore,
  storage: ObjectStorage,
  settings: MediaSettings,
  everyMs = 60_000,
  log?: (line: string) => void,
): () => void {
  const deps = { media: new MediaStore(store), storage, settings };
  const run = () => void sweepUploads(deps).catch((err) => log?.(`upload sweep: ${(err as Error).message}`));
  const timer = setInterval(run, everyMs);
  timer.unref?.();
  run();
  return () => clearInterval(timer);
}

/**
 * The processing queue: pg-boss when `DATABASE_URL` is set (its tables in the schema
 * `VIGIL_MEDIA_QUEUE_SCHEMA`, default `<VIGIL_PG_SCHEMA>_pgboss` or `vigil_pgboss`; a run is capped at
 * `VIGIL_MEDIA_JOB_TIMEOUT_SECONDS`, default 6 h), else the store's embedded queue.
 */
export function mediaQueueFor(
  media: MediaStore,
  env: NodeJS.ProcessEnv = process.env,
  log?: (line: string) => void,
): MediaQueue {
  const url = env.DATABASE_URL;
  if (!url) return new EmbeddedQueue(media);
  const schema = env.VIGIL_MEDIA_QUEUE_SCHEMA || `${env.VIGIL_PG_SCHEMA || 'vigil'}_pgboss`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`VIGIL_MEDIA_QUEUE_SCHEMA: "${schema}" is not a plain PostgreSQL schema name`);
  const timeout = Math.floor(positive(env, 'VIGIL_MEDIA_JOB_TIMEOUT_SECONDS', 6 * 3600));
  if (timeout >= 24 * 3600) throw new Error('VIGIL_MEDIA_JOB_TIMEOUT_SECONDS must be under 24 hours');
  return new PgBossQueue({
    media,
    connectionString: url,
    schema,
    backoffMs: positive(env, 'VIGIL_MEDIA_BACKOFF_MS', 2000),
    timeoutSeconds: timeout,
    ...(log ? { log } : {}),
  });
}

export interface WorkerSettings {
  store: VigilStore;
  storage: ObjectStorage;
  originRoot: string;
  licenseUrlBase: () => string;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * A processing worker configured from the environment (`VIGIL_MEDIA_CONCURRENCY`, `_LADDER`, `_PRESET`,
 * ...) over the queue of `mediaQueueFor`.
 */
export function mediaWorker(s: WorkerSettings): MediaWorker {
  const env = s.env ?? process.env;
  const ladder = ladderFromEnv(env);
  const media = new MediaStore(s.store);
  return new MediaWorker({
    store: s.store,
    media,
    queue: mediaQueueFor(media, env, s.log),
    storage: s.storage,
    originRoot: s.originRoot,
    licenseUrlBase: s.licenseUrlBase,
    concurrency: Math.floor(positive(env, 'VIGIL_MEDIA_CONCURRENCY', 1)),
    leaseMs: positive(env, 'VIGIL_MEDIA_LEASE_MS', 30_000),
    backoffMs: positive(env, 'VIGIL_MEDIA_BACKOFF_MS', 2000),
    pollMs: positive(env, 'VIGIL_MEDIA_POLL_MS', 1000),
    ...(ladder ? { ladder } : {}),
    ...(env.VIGIL_MEDIA_PRESET ? { preset: env.VIGIL_MEDIA_PRESET } : {}),
    ...(s.log ? { log: s.log } : {}),
  });
}
