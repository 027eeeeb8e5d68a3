/**
 * The processing queue on PostgreSQL through pg-boss 10 (in its own schema): pg-boss hands each job to
 * one worker (`fetch`, SKIP LOCKED), retries a failed run with exponential backoff (`retryDelay`,
 * `retryBackoff`) and expires a run that outlives `expireInSeconds` (then retries it). The store's rows
 * stay the record: a row committed with its asset is sent to pg-boss by the next worker that polls (the
 * pg-boss job id is derived from the row's id, so every worker may send it and pg-boss keeps one).
 * pg-boss 10 has no heartbeat, so its expiration is only a cap on a run; a worker that dies is noticed
 * sooner through the lease on its row (renewed while it runs): another worker fails the pg-boss job of a
 * lapsed row, which pg-boss then retries.
 */
import { createHash } from 'node:crypto';
import type { JobRecord, MediaStore } from '@vigil/store';
import PgBoss from 'pg-boss';
import type { MediaQueue } from './queue.ts';

export interface PgBossQueueOptions {
  media: MediaStore;
  connectionString: string;
  /** The PostgreSQL schema of pg-boss's tables (never the store's). */
  schema: string;
  /** First retry delay (pg-boss counts whole seconds; doubled each retry, with jitter). */
  backoffMs: number;
  /** Longest run before pg-boss expires it and retries the job (at most 23 hours). */
  timeoutSeconds?: number;
  log?: (line: string) => void;
}

/** The pg-boss queue of processing jobs. */
export const MEDIA_QUEUE = 'vigil-media-processing';
/** Retries pg-boss allows; the row's `maxAttempts` is what ends a job for good. */
const RETRY_LIMIT = 1000;

/** The pg-boss job id of a store job: a UUID from its id, the same in every process. */
export function bossJobId(jobId: string): string {
  const h = createHash('sha256').update(`vigil-media-job:${jobId}`).digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface BossData {
  jobId: string;
}

export class PgBossQueue implements MediaQueue {
  readonly kind = 'pg-boss';
  readonly #o: PgBossQueueOptions;
  readonly #boss: PgBoss;
  /** Rows this process already sent (still waiting for their first run). */
  #sent = new Set<string>();
  #lastLapsedCheck = 0;

  constructor(opts: PgBossQueueOptions) {
    this.#o = opts;
    this.#boss = new PgBoss({
      connectionString: opts.connectionString,
      schema: opts.schema,
      max: 4,
      application_name: 'vigil-media-queue',
      schedule: false,
      // Expiration of overlong runs and archiving run here (pg-boss elects one process at a time).
      maintenanceIntervalSeconds: 60,
    });
    this.#boss.on('error', (err) => opts.log?.(`media queue (pg-boss): ${err.message}`));
  }

  async start(): Promise<void> {
    await this.#boss.start();
    await this.#boss.createQueue(MEDIA_QUEUE, {
      name: MEDIA_QUEUE,
      policy: 'standard',
      retryLimit: RETRY_LIMIT,
      retryDelay: Math.max(1, Math.round(this.#o.backoffMs / 1000)),
      retryBackoff: true,
      expireInSeconds: this.#o.timeoutSeconds ?? 6 * 3600,
    });
  }

  async take(workerId: string, leaseMs: number): Promise<JobRecord | undefined> {
    await this.#dispatch();
    await this.#recoverLapsed(Math.max(1000, leaseMs / 2));
    for (;;) {
      const [next] = await this.#boss.fetch<BossData>(MEDIA_QUEUE, { batchSize: 1 });
      if (!next) return undefined;
      const job = await this.#o.media.take(next.data.jobId, workerId, Date.now(), leaseMs);
      if (job) return job;
      // Cancelled, ended or gone: nothing to run.
      await this.#boss.complete(MEDIA_QUEUE, next.id, { skipped: true });
    }
  }

  renew(job: JobRecord, workerId: string, leaseMs: number): Promise<boolean> {
    return this.#o.media.renew(job.id, workerId, Date.now() + leaseMs);
  }

  async end(
    job: JobRecord,
    workerId: string,
    outcome: 'done' | 'failed',
    error: string | null,
  ): Promise<boolean> {
    if (!(await this.#o.media.finish(job.id, workerId, outcome, Date.now(), error))) return false;
    // A failure for good is still a completed pg-boss job: pg-boss would retry a failed one.
    await this.#boss.complete(MEDIA_QUEUE, bossJobId(job.id), { outcome, ...(error ? { error } : {}) });
    return true;
  }

  async retry(job: JobRecord, workerId: string, error: string): Promise<number | undefined> {
    const current = await this.#o.media.job(job.id);
    if (current?.status !== 'running' || current.lockedBy !== workerId) return undefined;
    const runAt = await this.#failInBoss(job.id, error);
    const ok = await this.#o.media.finish(job.id, workerId, 'queued', Date.now(), error, runAt);
    return ok ? runAt : undefined;
  }

  async abandon(job: JobRecord, workerId: string): Promise<void> {
    const current = await this.#o.media.job(job.id);
    if (
      !current ||
      current.status === 'cancelled' ||
      current.status === 'done' ||
      current.status === 'failed'
    ) {
      await this.#boss.complete(MEDIA_QUEUE, bossJobId(job.id), { outcome: 'cancelled' }).catch(() => {});
      return;
    }
    // Still ours (the worker is closing): handed back now rather than when the lease runs out.
    if (current.status === 'running' && current.lockedBy === workerId)
      await this.#handBack(current, 'its worker stopped');
  }

  async close(): Promise<void> {
    await this.#boss.stop({ graceful: false, wait: true, close: true });
  }

  /** Sends the rows waiting for a first run that this process has not sent yet. */
  async #dispatch(): Promise<void> {
    const rows = await this.#o.media.undispatched(Date.now(), 100);
    const waiting = new Set<string>();
    for (const row of rows) {
      waiting.add(row.id);
      if (this.#sent.has(row.id)) continue;
      // An id pg-boss already has (another worker sent it) is ignored by pg-boss.
      await this.#boss.send(MEDIA_QUEUE, { jobId: row.id } satisfies BossData, { id: bossJobId(row.id) });
    }
    this.#sent = waiting;
  }

  /** Hands back the jobs of workers whose lease ran out (checked at most every `everyMs`). */
  async #recoverLapsed(everyMs: number): Promise<void> {
    const now = Date.now();
    if (now - this.#lastLapsedCheck < everyMs) return;
    this.#lastLapsedCheck = now;
    for (const row of await this.#o.media.lapsed(now, 10)) {
      await this.#handBack(row, 'its worker stopped renewing its lease');
      this.#o.log?.(`media queue: job ${row.id} of ${row.lockedBy} handed back (lease expired)`);
    }
  }

  /** The row back to queued (the conditional update decides between workers), then pg-boss retries it. */
  async #handBack(row: JobRecord, reason: string): Promise<void> {
    if (!row.lockedBy) return;
    if (!(await this.#o.media.finish(row.id, row.lockedBy, 'queued', Date.now(), reason))) return;
    await this.#o.media.reschedule(row.id, await this.#failInBoss(row.id, reason));
  }

  /** Fails the pg-boss job (pg-boss sets its retry with backoff); when it runs again. */
  async #failInBoss(jobId: string, error: string): Promise<number> {
    const id = bossJobId(jobId);
    await this.#boss.fail(MEDIA_QUEUE, id, { error });
    const after = await this.#boss.getJobById<BossData>(MEDIA_QUEUE, id);
    return after?.startAfter ? new Date(after.startAfter).getTime() : Date.now();
  }
}
