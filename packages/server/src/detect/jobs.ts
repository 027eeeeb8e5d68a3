import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { sessionAccess } from '@vigil/control';
import type { DetectContext, DetectResult } from '@vigil/detector';
import { detect } from '@vigil/detector';
import type { DetectionRecord, DetectionStore, VigilStore } from '@vigil/store';
import { UrlForbidden } from '../outbound.ts';

/** How long a job's lease lasts, and how often the runner renews it. */
const LEASE_MS = 30_000;
const RENEW_MS = 10_000;
/** How often, at most, a running job writes its progress. */
const PROGRESS_MS = 250;
/** A job interrupted (its instance stopped while running it) is run again once, then fails. */
const MAX_ATTEMPTS = 2;
/** Sessions the access log served in this window are what text mode may match. */
const SERVED_WINDOW_MS = 90 * 86_400_000;
/** A job is given up after this long. */
const MAX_JOB_MS = 30 * 60_000;

export interface DetectionRunnerOptions {
  store: VigilStore;
  detections: DetectionStore;
  /** The folder of uploaded clips and evidence: `<dir>/<tenant>/<detection id>/`. */
  dir: string;
  fetch: typeof fetch;
  concurrency: number;
  flushAccessLog: () => Promise<void>;
  /** Ended detections (and their clips and evidence) are deleted after this many days. */
  retentionDays: number;
  log: { warn(obj: unknown, msg?: string): void };
}

/** The folder of one detection's files. */
export function jobDir(root: string, tenantId: string, id: string): string {
  return join(root, tenantId, id);
}

/** `file` inside `dir`, or null when it would lie outside. */
export function inside(dir: string, file: string): string | null {
  const full = resolve(dir, file);
  const rel = relative(dir, full);
  return rel === '' || rel.startsWith('..') || rel.startsWith(sep) ? null : full;
}

/**
 * Runs queued detections in this process, at most `concurrency` at once. The queue is the store's: a
 * job is claimed under a lease, its progress written as it goes, its result (with the session's access
 * summary when found) stored at the end. Stopping gives running jobs back to the queue.
 */
export class DetectionRunner {
  readonly owner = `runner-${randomBytes(6).toString('hex')}`;
  readonly #opts: DetectionRunnerOptions;
  readonly #running = new Map<string, AbortController>();
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #pumping = false;
  #again = false;

  constructor(opts: DetectionRunnerOptions) {
    this.#opts = opts;
  }

  start(): void {
    if (this.#opts.concurrency <= 0) return;
    this.wake();
    // Jobs queued by another instance, and leases run out.
    this.#timer = setInterval(() => this.wake(), 5_000);
    this.#timer.unref();
    const purge = () =>
      void this.purge().catch((err) => this.#opts.log.warn({ err }, 'detection purge failed'));
    purge();
    this.#purgeTimer = setInterval(purge, 3_600_000);
    this.#purgeTimer.unref();
  }

  /** Looks for work now. */
  wake(): void {
    if (this.#closed || this.#opts.concurrency <= 0) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    void this.#pump().finally(() => {
      this.#pumping = false;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  async #pump(): Promise<void> {
    while (!this.#closed && this.#running.size < this.#opts.concurrency) {
      let job: DetectionRecord | undefined;
      try {
        job = await this.#opts.detections.claimDetection(this.owner, Date.now() + LEASE_MS, MAX_ATTEMPTS);
      } catch (err) {
        this.#opts.log.warn({ err }, 'detection queue unreachable');
        return;
      }
      if (!job) return;
      const abort = new AbortController();
      this.#running.set(job.id, abort);
      void this.#run(job, abort.signal).finally(() => {
        this.#running.delete(job.id);
        this.wake();
      });
    }
  }

  async #run(job: DetectionRecord, signal: AbortSignal): Promise<void> {
    const { store, detections } = this.#opts;
    const dir = jobDir(this.#opts.dir, job.tenantId, job.id);
    const evidenceDir = join(dir, 'evidence');
    let lastWrite = 0;
    let footage = 0;
    const renew = setInterval(() => {
      void detections
        .updateRunning(job.tenantId, job.id, this.owner, { leaseUntil: Date.now() + LEASE_MS })
        .catch(() => {});
    }, RENEW_MS);
    renew.unref();
    const deadline = AbortSignal.timeout(MAX_JOB_MS);
    const both = AbortSignal.any([signal, deadline]);
    try {
      rmSync(evidenceDir, { recursive: true, force: true });
      mkdirSync(evidenceDir, { recursive: true });
      const input = job.sourceKind === 'url' ? job.source : inside(dir, job.source);
      if (input === null) throw new Error('the uploaded clip is missing');
      const watermark = await store.getWatermarkConfig(job.tenantId);
      const ctx: DetectContext = {
        tenantId: job.tenantId,
        watermark,
        sessionsForTag: async (tag) => (await store.sessionsByTag(job.tenantId, tag)).map((s) => s.sessionId),
        servedSessions: async () => {
          await this.#opts.flushAccessLog();
          return detections.servedSessions(job.tenantId, Date.now() - SERVED_WINDOW_MS);
        },
        fetch: this.#opts.fetch,
        evidenceDir,
        signal: both,
        onProgress: (p) => {
          footage = p.footageSeconds;
          const now = Date.now();
          // The first footage read is shown at once, then at most every PROGRESS_MS.
          if (p.footageSeconds <= 0 || now - lastWrite < PROGRESS_MS) return;
          lastWrite = now;
          void detections
            .updateRunning(job.tenantId, job.id, this.owner, {
              progress: p.fraction,
              footageSeconds: p.footageSeconds,
            })
            .catch(() => {});
        },
      };
      const result: DetectResult = await detect(input, job.mode as 'auto' | 'color' | 'text', ctx);
      if (signal.aborted) return; // stopping: the job goes back to the queue
      const stored: Record<string, unknown> = { ...result };
      if (result.found) {
        // Evidence by its name in the job's folder; the API serves it by number.
        stored.evidence = result.evidence.map((e) => ({
          t: e.t,
          file: relative(dir, resolve(evidenceDir, e.file)),
        }));
        stored.access = await sessionAccess(
          { detections, flushAccessLog: this.#opts.flushAccessLog },
          job.tenantId,
          result.sessionId,
        );
      }
      await detections.finishDetection(job.tenantId, job.id, this.owner, {
        status: 'done',
        result: stored,
        footageSeconds: result.found ? result.footageSeconds : footage,
      });
    } catch (err) {
      if (signal.aborted) return;
      const e = err as Error & { code?: string };
      const error =
        err instanceof UrlForbidden
          ? { code: 'url_forbidden', message: e.message }
          : deadline.aborted
            ? {
                code: 'detection_timeout',
                message: `the detection took longer than ${MAX_JOB_MS / 60_000} minutes`,
              }
            : {
                code: typeof e.code === 'string' && /^[a-z_]+$/.test(e.code) ? e.code : 'detection_failed',
                message: String(e.message ?? err).slice(0, 500),
              };
      await detections
        .finishDetection(job.tenantId, job.id, this.owner, { status: 'failed', error })
        .catch(() => {});
    } finally {
      clearInterval(renew);
      if (job.sourceKind === 'upload' && !signal.aborted) {
        const clip = inside(dir, job.source);
        if (clip) rmSync(clip, { force: true });
      }
    }
  }

  /** Deletes detections ended more than `retentionDays` ago, with their folders; returns how many. */
  async purge(now = Date.now()): Promise<number> {
    if (this.#opts.retentionDays <= 0) return 0; // 0: kept for ever, as VIGIL_RETENTION_DAYS=0
    const gone = await this.#opts.detections.purgeDetections(now - this.#opts.retentionDays * 86_400_000);
    for (const d of gone) rmSync(jobDir(this.#opts.dir, d.tenantId, d.id), { recursive: true, force: true });
    return gone.length;
  }

  /** Stops: running jobs are aborted and given back to the queue (no attempt counted). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    for (const abort of this.#running.values()) abort.abort();
    const until = Date.now() + 5_000;
    while (this.#running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.#opts.detections.releaseDetections(this.owner).catch(() => {});
  }
}
