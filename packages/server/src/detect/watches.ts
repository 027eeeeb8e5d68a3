import { randomBytes } from 'node:crypto';
import { banSession } from '@vigil/control';
import { banDecision, type WatchEvent, watch } from '@vigil/detector';
import type { DetectionStore, VigilStore, WatchRecord } from '@vigil/store';

const LEASE_MS = 30_000;
const RENEW_MS = 10_000;
const SERVED_WINDOW_MS = 90 * 86_400_000;
/** Events kept in memory per watch for the ban decision. */
const HISTORY = 200;
/** Times in a row an ended or failed restream is tried again before the watch stops. */
const MAX_RESTARTS = 10;

export interface WatchRunnerOptions {
  store: VigilStore;
  detections: DetectionStore;
  fetch: typeof fetch;
  concurrency: number;
  flushAccessLog: () => Promise<void>;
  log: { warn(obj: unknown, msg?: string): void };
}

/**
 * Runs the watches of the store in this process (each under a lease, at most `concurrency`): follows
 * the restream with the detector's `watch`, records its events, and bans the identified session when
 * the watch's `autoBan` or the tenant's leak policy says so and the policy's windows agree
 * (`banDecision`), recording a `banned` event. The watch goes on after a ban (the restreamer may come
 * back under another session); deleting it stops it within a lease renewal.
 */
export class WatchRunner {
  readonly owner = `watcher-${randomBytes(6).toString('hex')}`;
  readonly #opts: WatchRunnerOptions;
  readonly #running = new Map<string, AbortController>();
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #claiming = false;

  constructor(opts: WatchRunnerOptions) {
    this.#opts = opts;
  }

  start(): void {
    if (this.#opts.concurrency <= 0) return;
    this.wake();
    this.#timer = setInterval(() => this.wake(), RENEW_MS);
    this.#timer.unref();
  }

  /** Claims watches to run now, renews the running ones' leases and stops the ones deleted. */
  wake(): void {
    if (this.#closed || this.#claiming || this.#opts.concurrency <= 0) return;
    this.#claiming = true;
    void this.#tick()
      .catch((err) => this.#opts.log.warn({ err }, 'watch runner: store unreachable'))
      .finally(() => {
        this.#claiming = false;
      });
  }

  async #tick(): Promise<void> {
    const { detections } = this.#opts;
    for (const [key, abort] of this.#running) {
      const [tenantId, id] = JSON.parse(key) as [string, string];
      if (!(await detections.renewWatch(tenantId, id, this.owner, Date.now() + LEASE_MS))) abort.abort();
    }
    const free = this.#opts.concurrency - this.#running.size;
    if (free <= 0 || this.#closed) return;
    const claimed = await detections.claimWatches(this.owner, Date.now() + LEASE_MS, free);
    for (const w of claimed) {
      const key = JSON.stringify([w.tenantId, w.id]);
      const abort = new AbortController();
      this.#running.set(key, abort);
      void this.#run(w, abort.signal).finally(() => this.#running.delete(key));
    }
  }

  async #run(w: WatchRecord, signal: AbortSignal): Promise<void> {
    const { store, detections } = this.#opts;
    const history: WatchEvent[] = [];
    const banned = new Set<string>();
    const started = Date.now();
    const restarts = Number((w.status as { restarts?: number } | null)?.restarts ?? 0);
    const record = async (event: Record<string, unknown>, status: Record<string, unknown>) => {
      await detections.appendWatchEvent(w.tenantId, w.id, event);
      await detections.setWatchStatus(w.tenantId, w.id, {
        ...status,
        startedAt: new Date(started).toISOString(),
        restarts,
      });
    };
    try {
      await detections.setWatchStatus(w.tenantId, w.id, {
        state: 'watching',
        startedAt: new Date(started).toISOString(),
        restarts,
      });
      const watermark = await store.getWatermarkConfig(w.tenantId);
      const events = watch(w.url, w.mode as 'auto' | 'color' | 'text', {
        tenantId: w.tenantId,
        watermark,
        sessionsForTag: async (tag) => (await store.sessionsByTag(w.tenantId, tag)).map((s) => s.sessionId),
        servedSessions: async () => {
          await this.#opts.flushAccessLog();
          return detections.servedSessions(w.tenantId, Date.now() - SERVED_WINDOW_MS);
        },
        fetch: this.#opts.fetch,
        signal,
      });
      for await (const event of events) {
        if (signal.aborted) break;
        history.push(event);
        if (history.length > HISTORY) history.shift();
        if (event.event === 'identified') {
          await record(
            { ...event },
            { state: 'identified', sessionId: event.sessionId, atSeconds: event.atSeconds },
          );
          const policy = await detections.getLeakPolicy(w.tenantId);
          const autoBan = w.autoBan || policy.autoBan;
          const decision: { ban: boolean; sessionId?: string } = autoBan
            ? banDecision(history, { ...policy, autoBan })
            : { ban: false };
          if (decision.ban && decision.sessionId && !banned.has(decision.sessionId)) {
            banned.add(decision.sessionId);
            const bans = await banSession(
              { store, detections, flushAccessLog: this.#opts.flushAccessLog },
              w.tenantId,
              decision.sessionId,
              `watch:${w.id}`,
              false,
            );
            await record(
              {
                event: 'banned',
                sessionId: decision.sessionId,
                atSeconds: event.atSeconds,
                banId: bans.session.id,
              },
              { state: 'banned', sessionId: decision.sessionId, atSeconds: event.atSeconds },
            );
          }
        } else if (event.event === 'lost') {
          await record({ ...event }, { state: 'watching', lostAtSeconds: event.atSeconds });
        } else {
          await record({ ...event }, { state: 'error', message: event.message });
        }
      }
      if (!signal.aborted) await this.#ended(w, started, 'the stream ended');
    } catch (err) {
      if (signal.aborted) return;
      const message = String((err as Error).message ?? err).slice(0, 500);
      await detections.appendWatchEvent(w.tenantId, w.id, { event: 'error', message }).catch(() => {});
      await this.#ended(w, started, message).catch(() => {});
    }
  }

  /**
   * A restream that ended or failed is tried again (a restreamer's hiccup) once its lease runs out, up
   * to MAX_RESTARTS times in a row; then the watch stops. A restart that watched a while resets the count.
   */
  async #ended(w: WatchRecord, started: number, message: string): Promise<void> {
    const previous = Number((w.status as { restarts?: number } | null)?.restarts ?? 0);
    const restarts = Date.now() - started > 5 * 60_000 ? 1 : previous + 1;
    const stop = restarts > MAX_RESTARTS;
    await this.#opts.detections.setWatchStatus(
      w.tenantId,
      w.id,
      {
        state: stop ? 'stopped' : 'reconnecting',
        message,
        restarts,
        startedAt: new Date(started).toISOString(),
      },
      stop ? 'stopped' : undefined,
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const abort of this.#running.values()) abort.abort();
    const until = Date.now() + 5_000;
    while (this.#running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.#opts.detections.releaseWatches(this.owner).catch(() => {});
  }
}
