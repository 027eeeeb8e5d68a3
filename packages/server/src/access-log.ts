import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { sessionTag, type ViewerClaims } from '@vigil/core';
import type { AccessLogEntry, VigilStore } from '@vigil/store';

const MAX_QUEUE = 50_000;
const MAX_TAGS = 50_000;
const MAX_STARTED = 200_000;
/**
 * A flush gives up waiting for the store after this long (the rows are queued again; both inserts ignore
 * rows already written), so a hung connection never holds up later flushes or the server's shutdown.
 */
const FLUSH_TIMEOUT_MS = 30_000;
/** Key deliveries of a running session are logged at most this often: the log is per session, not per request. */
const PROGRESS_INTERVAL_MS = 10_000;

/**
 * Each session's access log: license grants, heartbeats, refusals and player reports. Entries are queued
 * in memory and written in batches, so the license path never waits for the store. A session's first
 * license on this instance is its `streamStart`, which also records its colour-watermark tag.
 */
export class AccessLog {
  #queue: AccessLogEntry[] = [];
  #tags: { tenantId: string; tag: number; sessionId: string; firstSeen: number }[] = [];
  /** Sessions this instance has seen, with when their last key delivery was logged. */
  readonly #started = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();
  /** Entries dropped because the store could not keep up. */
  dropped = 0;

  constructor(
    private readonly store: VigilStore,
    flushMs: number,
  ) {
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  /**
   * A key was handed out: `streamStart` the first time this instance sees the session, then a
   * `streamProgress` at most every PROGRESS_INTERVAL_MS.
   */
  keyDelivered(
    claims: ViewerClaims,
    req: IncomingMessage,
    ip: string,
    now: number,
    kids: number,
    /** The tenant's colour-tag key, to record the session's tag at its start. */
    tagKey: Uint8Array,
  ): void {
    const id = `${claims.tenantId}\n${claims.sessionId}`;
    const last = this.#started.get(id);
    if (last !== undefined) {
      if (now - last < PROGRESS_INTERVAL_MS) return;
      this.#started.set(id, now);
      this.record(claims, req, ip, 'streamProgress', now, { event: 'license', kids });
      return;
    }
    if (this.#started.size >= MAX_STARTED) this.#started.clear();
    this.#started.set(id, now);
    if (this.#tags.length >= MAX_TAGS && this.#tags.shift()) this.dropped++;
    this.#tags.push({
      tenantId: claims.tenantId,
      tag: sessionTag(tagKey, claims.sessionId),
      sessionId: claims.sessionId,
      firstSeen: now,
    });
    this.record(claims, req, ip, 'streamStart', now, { kids });
  }

  record(
    claims: ViewerClaims,
    req: IncomingMessage,
    ip: string,
    action: string,
    now: number,
    metadata: Record<string, unknown> | null = null,
  ): void {
    if (this.#queue.length >= MAX_QUEUE) {
      this.dropped++;
      return;
    }
    const agent = req.headers['user-agent'];
    this.#queue.push({
      id: randomUUID(),
      tenantId: claims.tenantId,
      sessionId: claims.sessionId,
      resourceId: claims.resourceId,
      userId: claims.sub ?? null,
      ip,
      userAgent: typeof agent === 'string' ? agent.slice(0, 300) : '',
      action,
      at: now,
      metadata,
    });
  }

  /**
   * Writes what is queued (the store inserts it in bounded statements, whatever the batch size). Tags and
   * entries are written independently: what fails is queued again for the next flush, within the queues'
   * bounds, and never holds up the other.
   */
  flush(timeoutMs = FLUSH_TIMEOUT_MS): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const entries = this.#queue;
      const tags = this.#tags;
      if (entries.length === 0 && tags.length === 0) return;
      this.#queue = [];
      this.#tags = [];
      if (tags.length > 0) {
        try {
          await withTimeout(this.store.recordSessionTags(tags), timeoutMs);
        } catch {
          this.#tags = tags.concat(this.#tags).slice(0, MAX_TAGS);
        }
      }
      if (entries.length > 0) {
        try {
          await withTimeout(this.store.appendAccessLogs(entries), timeoutMs);
        } catch {
          this.#queue = entries.concat(this.#queue).slice(0, MAX_QUEUE);
        }
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush(5_000);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`the store did not answer in ${ms} ms`)), ms);
  });
  // A write that fails after its timeout has nobody waiting on it.
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
