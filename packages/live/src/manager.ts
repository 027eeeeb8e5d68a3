import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { ContentKey } from '@vigil/keys';
import { storeKeySource } from '@vigil/packager';
import { type ChannelStatus, LiveChannel } from './channel.ts';
import { EncoderRegistry } from './encoder-guard.ts';
import { channelFolder, channelKeyOwner, ResourceContentError } from './ownership.ts';
import { type LiveSettings, parseLiveSettings } from './settings.ts';

/** What the manager needs of Vigil's store (the store package's VigilStore has all of it). */
export interface LiveStorePort {
  listLiveChannels(tenantId?: string): Promise<ChannelRecord[]>;
  setLiveChannelStatus(tenantId: string, id: string, status: Record<string, unknown>): Promise<void>;
  deleteOwnedKeys(tenantId: string, owner: string): Promise<number>;
  putContentKeys(keys: ContentKey[], owner?: string | null): Promise<void>;
  changes: { subscribe(listener: (change: { tenantId: string; topic: string }) => void): () => void };
}

export interface ChannelRecord {
  tenantId: string;
  id: string;
  resourceId: string;
  settings: Record<string, unknown>;
  desired: 'running' | 'stopped';
}

export interface LiveManagerOptions {
  store: LiveStorePort;
  /** Published files go to `<originRoot>/<tenantId>/<resourceId>/`. */
  originRoot: string;
  /** ffmpeg's scratch space: `<workRoot>/<tenantId>/<channelId>/`. */
  workRoot: string;
  keyServerUrl: () => string;
  statusIntervalMs?: number;
  ffmpegPath?: string;
  minBackoffMs?: number;
  /** Pid files of running encoders (default `<workRoot>/.encoders`), swept at start. */
  encoderPidDir?: string;
  log?: { warn(msg: string): void; info?(msg: string): void };
}

interface Running {
  channel: LiveChannel;
  record: ChannelRecord;
}

/** A channel whose start failed: retried from `at`, with backoff per consecutive failure. */
interface Retry {
  failures: number;
  at: number;
  /** The definition that failed: a changed one is tried at once. */
  definition: string;
}

/** The longest wait before retrying a channel whose start failed. */
const MAX_RETRY_MS = 30_000;

const definitionOf = (r: ChannelRecord) => JSON.stringify([r.resourceId, r.settings]);

const key = (tenantId: string, id: string) => `${tenantId}\n${id}`;

/**
 * Runs the channels whose desired state is `running`, on this instance: reconciles on every store change
 * (API, CLI in another process), stops channels asked to stop — and deletes their keys, so the key
 * server stops answering for them — and reports each channel's status to the store. Events: `segment`
 * (tenantId, channelId, seq, ms), `exit` (tenantId, channelId), `status`.
 */
export class LiveManager extends EventEmitter {
  readonly #o: LiveManagerOptions;
  readonly #running = new Map<string, Running>();
  readonly #encoders: EncoderRegistry;
  readonly #retries = new Map<string, Retry>();
  #retryTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reconciling: Promise<void> = Promise.resolve();
  #again = false;
  #closed = false;

  constructor(opts: LiveManagerOptions) {
    super();
    this.#o = opts;
    this.#encoders = new EncoderRegistry(opts.encoderPidDir ?? join(opts.workRoot, '.encoders'));
  }

  async start(): Promise<void> {
    // Encoders an earlier server on this data left running (its watchdogs gone too) hold the inputs' ports.
    const stale = await this.#encoders.sweep();
    if (stale.length > 0)
      this.#o.log?.warn(`live: ended ${stale.length} encoder(s) left running by an earlier server`);
    this.#unsubscribe = this.#o.store.changes.subscribe((change) => {
      if (change.topic === 'live' || change.topic === '*') void this.reconcile();
    });
    this.#timer = setInterval(() => void this.#report(), this.#o.statusIntervalMs ?? 2_000);
    this.#timer.unref();
    await this.reconcile();
  }

  /** The folder a channel publishes in (see channelFolder). */
  publicDir(tenantId: string, resourceId: string, takeover: boolean): string {
    return join(this.#o.originRoot, tenantId, channelFolder(resourceId, takeover));
  }

  get originRoot(): string {
    return this.#o.originRoot;
  }

  channel(tenantId: string, id: string): LiveChannel | undefined {
    return this.#running.get(key(tenantId, id))?.channel;
  }

  status(tenantId: string, id: string): ChannelStatus | undefined {
    return this.channel(tenantId, id)?.status();
  }

  /** Every channel this instance runs, with its status. */
  statuses(): { tenantId: string; channelId: string; status: ChannelStatus }[] {
    return [...this.#running.values()].map(({ record, channel }) => ({
      tenantId: record.tenantId,
      channelId: record.id,
      status: channel.status(),
    }));
  }

  /** Brings running channels in line with the store; concurrent calls coalesce. */
  reconcile(): Promise<void> {
    this.#again = true;
    this.#reconciling = this.#reconciling.then(async () => {
      while (this.#again && !this.#closed) {
        this.#again = false;
        await this.#reconcileOnce().catch((err: Error) => this.#o.log?.warn(`live: ${err.message}`));
      }
    });
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    const records = await this.#o.store.listLiveChannels();
    const wanted = new Map(
      records.filter((r) => r.desired === 'running').map((r) => [key(r.tenantId, r.id), r]),
    );
    for (const [k, run] of [...this.#running]) {
      const want = wanted.get(k);
      // Only a change of what the channel does restarts it: `vigil live start` on a running channel, or
      // the demo defining its channel on every server start, leaves the stream alone.
      const changed =
        want &&
        (want.resourceId !== run.record.resourceId ||
          JSON.stringify(want.settings) !== JSON.stringify(run.record.settings));
      if (!want || changed) {
        await this.#stop(k, run, !want).catch((err: Error) =>
          this.#o.log?.warn(`live channel ${run.record.tenantId}/${run.record.id}: stopping: ${err.message}`),
        );
      }
    }
    for (const k of [...this.#retries.keys()]) if (!wanted.has(k)) this.#retries.delete(k);
    const now = Date.now();
    for (const [k, record] of wanted) {
      if (this.#running.has(k)) continue;
      const retry = this.#retries.get(k);
      const definition = definitionOf(record);
      if (retry && retry.definition === definition && now < retry.at) continue;
      try {
        await this.#start(k, record);
        this.#retries.delete(k);
      } catch (err) {
        // A failed start (its folder not writable, the store briefly unreachable) is retried with backoff.
        const failures = retry && retry.definition === definition ? retry.failures + 1 : 1;
        const delay = Math.min(MAX_RETRY_MS, (this.#o.minBackoffMs ?? 500) * 2 ** (failures - 1));
        this.#retries.set(k, { failures, at: Date.now() + delay, definition });
        const message = (err as Error).message;
        this.#o.log?.warn(
          `live channel ${record.tenantId}/${record.id}: start failed (${message}); retrying in ${delay} ms`,
        );
        await this.#o.store
          .setLiveChannelStatus(record.tenantId, record.id, {
            state: 'failed',
            lastError: message,
            startFailures: failures,
            nextRetryAt: Date.now() + delay,
            at: Date.now(),
          })
          .catch(() => {});
      }
    }
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#closed || this.#retries.size === 0) return;
    const next = Math.min(...[...this.#retries.values()].map((r) => r.at));
    this.#retryTimer = setTimeout(() => void this.reconcile(), Math.max(0, next - Date.now()));
    this.#retryTimer.unref();
  }

  async #start(k: string, record: ChannelRecord): Promise<void> {
    let settings: LiveSettings;
    try {
      settings = parseLiveSettings(record.settings);
    } catch (err) {
      await this.#o.store.setLiveChannelStatus(record.tenantId, record.id, {
        state: 'failed',
        lastError: (err as Error).message,
        at: Date.now(),
      });
      return;
    }
    // Keys of an earlier run of this channel can never be needed again (only this channel's own keys:
    // a package of the same resource keeps its keys).
    const owner = channelKeyOwner(record.id);
    await this.#o.store.deleteOwnedKeys(record.tenantId, owner);
    const ttl = 2 * settings.keyPeriodSeconds + settings.windowSeconds + settings.retentionSeconds + 60;
    const channel = new LiveChannel({
      tenantId: record.tenantId,
      channelId: record.id,
      resourceId: record.resourceId,
      settings,
      publicDir: this.publicDir(record.tenantId, record.resourceId, settings.takeover),
      workDir: join(this.#o.workRoot, record.tenantId, record.id),
      keys: storeKeySource({ store: this.#o.store, tenantId: record.tenantId, ttlSeconds: ttl, owner }),
      keyServerUrl: this.#o.keyServerUrl,
      ffmpegPath: this.#o.ffmpegPath,
      minBackoffMs: this.#o.minBackoffMs,
      encoders: this.#encoders,
    });
    channel.on('segment', (seq: number, _period: number, ms: number) =>
      this.emit('segment', record.tenantId, record.id, seq, ms),
    );
    channel.on('exit', (exit: { code: number | null; signal: string | null; stderr: string }) => {
      this.#o.log?.warn(
        `live channel ${record.tenantId}/${record.id}: ffmpeg exited (${exit.signal ?? exit.code}); restarting`,
      );
      this.emit('exit', record.tenantId, record.id);
    });
    channel.on('error', (err: Error) =>
      this.#o.log?.warn(`live channel ${record.tenantId}/${record.id}: ${err.message}`),
    );
    this.#running.set(k, { channel, record });
    try {
      await channel.start();
    } catch (err) {
      this.#running.delete(k);
      await channel.stop().catch(() => {});
      if (err instanceof ResourceContentError) {
        // Its folder holds what it did not make: it does not run, and touches nothing; it is tried again
        // when its definition (or any live channel) changes, not on a timer.
        this.#o.log?.warn(`live channel ${record.tenantId}/${record.id}: ${err.message}`);
        await this.#o.store
          .setLiveChannelStatus(record.tenantId, record.id, {
            state: 'failed',
            lastError: err.message,
            at: Date.now(),
          })
          .catch(() => {});
        return;
      }
      throw err;
    }
    await this.#reportOne(record, channel).catch(() => {});
  }

  async #stop(k: string, run: Running, forget: boolean): Promise<void> {
    this.#running.delete(k);
    await run.channel.stop();
    // A stopped channel's keys go at once: no license for it is answered any more.
    await this.#o.store.deleteOwnedKeys(run.record.tenantId, channelKeyOwner(run.record.id));
    if (!forget) {
      await this.#o.store
        .setLiveChannelStatus(run.record.tenantId, run.record.id, { state: 'stopped', at: Date.now() })
        .catch(() => {});
    }
  }

  async #reportOne(record: ChannelRecord, channel: LiveChannel): Promise<void> {
    const status = channel.status();
    await this.#o.store.setLiveChannelStatus(record.tenantId, record.id, {
      ...status,
      encoder: {
        ...status.encoder,
        lastExit: status.encoder.lastExit && { ...status.encoder.lastExit, stderr: undefined },
      },
      at: Date.now(),
    });
  }

  async #report(): Promise<void> {
    for (const { record, channel } of this.#running.values()) {
      await this.#reportOne(record, channel).catch(() => {});
    }
    this.emit('status');
  }

  /** Stops every channel this instance runs (their desired state is kept: they start again with it). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    clearInterval(this.#timer);
    clearTimeout(this.#retryTimer);
    await this.#reconciling.catch(() => {});
    for (const [k, run] of [...this.#running]) {
      this.#running.delete(k);
      await run.channel.stop();
    }
  }
}
