import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { WatchDeps } from '@vigil/control';
import { DetectionStore, type VigilStore } from '@vigil/store';
import type { FastifyBaseLogger } from 'fastify';
import type { AccessLog } from '../access-log.ts';
import type { ServerConfig } from '../config.ts';
import { outboundFetch } from '../outbound.ts';
import { DetectionRunner } from './jobs.ts';
import { preflight } from './preflight.ts';
import { WatchRunner } from './watches.ts';

/**
 * Leak tracing on this server: the guarded fetch for tenants' URLs, the detection queue's runner, the
 * watch runner, and the deps the control operations get.
 */
export class LeakTracing {
  readonly detections: DetectionStore;
  readonly fetch: typeof fetch;
  readonly dir: string;
  readonly runner: DetectionRunner;
  readonly watches: WatchRunner;
  readonly deps: WatchDeps;

  constructor(store: VigilStore, config: ServerConfig, access: AccessLog, log: FastifyBaseLogger) {
    this.detections = new DetectionStore(store);
    this.fetch = outboundFetch(config.detectOutbound);
    this.dir =
      config.detectionsDir ??
      (config.originRoot
        ? join(dirname(config.originRoot), 'detections')
        : join(tmpdir(), 'vigil-detections'));
    const flushAccessLog = () => access.flush();
    this.runner = new DetectionRunner({
      store,
      detections: this.detections,
      dir: this.dir,
      fetch: this.fetch,
      concurrency: config.detectConcurrency,
      flushAccessLog,
      retentionDays: config.detectRetentionDays,
      log,
    });
    this.watches = new WatchRunner({
      store,
      detections: this.detections,
      fetch: this.fetch,
      concurrency: config.watchConcurrency,
      flushAccessLog,
      log,
    });
    this.deps = {
      store,
      detections: this.detections,
      preflight: preflight(this.fetch),
      flushAccessLog,
      wake: () => this.runner.wake(),
      wakeWatches: () => this.watches.wake(),
    };
  }

  start(): void {
    this.runner.start();
    this.watches.start();
  }

  async close(): Promise<void> {
    await Promise.all([this.runner.close(), this.watches.close()]);
  }
}
