/**
 * The processing queue port: how a worker takes, holds and ends jobs. The store's `media_jobs` rows are
 * every job's record in both adapters (status, attempts, worker, last error, next run; what the API
 * shows), written in the same transaction as the asset. The embedded adapter (here) is the store itself:
 * a conditional UPDATE claims a due row under a lease. The pg-boss adapter (`pg-boss-queue.ts`) lets
 * pg-boss dispatch, expire and retry on PostgreSQL.
 */
import type { JobRecord, MediaStore } from '@vigil/store';

export interface MediaQueue {
  readonly kind: 'embedded' | 'pg-boss';
  /** Connects (and on PostgreSQL creates the queue's schema); called once before `take`. */
  start(): Promise<void>;
  /** The next due job, now `workerId`'s until `leaseMs` from now; undefined when there is none. */
  take(workerId: string, leaseMs: number): Promise<JobRecord | undefined>;
  /** Extends the lease; false when the job is no longer this worker's (cancelled, or taken over). */
  renew(job: JobRecord, workerId: string, leaseMs: number): Promise<boolean>;
  /** Ends the run: done, or failed for good. False when the job was no longer this worker's. */
  end(job: JobRecord, workerId: string, outcome: 'done' | 'failed', error: string | null): Promise<boolean>;
  /**
   * A failure that may pass: the job runs again after a backoff (`delayMs` is the embedded queue's; a
   * library may choose its own). Answers when it runs again, or undefined when it was no longer ours.
   */
  retry(job: JobRecord, workerId: string, error: string, delayMs: number): Promise<number | undefined>;
  /** A run aborted (cancelled, lease lost, worker closing): whatever the queue needs to let go of it. */
  abandon(job: JobRecord, workerId: string): Promise<void>;
  close(): Promise<void>;
}

/** The queue in the store's own tables (SQLite by default; also usable on PostgreSQL). */
export class EmbeddedQueue implements MediaQueue {
  readonly kind = 'embedded';
  readonly #media: MediaStore;

  constructor(media: MediaStore) {
    this.#media = media;
  }

  async start(): Promise<void> {}

  take(workerId: string, leaseMs: number): Promise<JobRecord | undefined> {
    return this.#media.claim(workerId, Date.now(), leaseMs);
  }

  renew(job: JobRecord, workerId: string, leaseMs: number): Promise<boolean> {
    return this.#media.renew(job.id, workerId, Date.now() + leaseMs);
  }

  end(job: JobRecord, workerId: string, outcome: 'done' | 'failed', error: string | null): Promise<boolean> {
    return this.#media.finish(job.id, workerId, outcome, Date.now(), error);
  }

  async retry(job: JobRecord, workerId: string, error: string, delayMs: number): Promise<number | undefined> {
    const now = Date.now();
    const ok = await this.#media.finish(job.id, workerId, 'queued', now, error, now + delayMs);
    return ok ? now + delayMs : undefined;
  }

  /** Nothing: a cancelled row is already ended; an abandoned lease runs out and another worker claims it. */
  async abandon(): Promise<void> {}

  async close(): Promise<void> {}
}
