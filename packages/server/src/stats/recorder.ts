import type { StatsRow, VigilStore } from '@vigil/store';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * Counts license outcomes per tenant and minute in memory and adds them to the store in the background,
 * so that the license path never waits for a write, and every instance's counts end up in one table.
 */
export class StatsRecorder {
  readonly registry = new Registry();
  readonly #pending = new Map<string, StatsRow>();
  readonly #timer: NodeJS.Timeout;
  /** Counts the Prometheus counter gets at the next scrape: no label hashing on the request path. */
  readonly #unscraped = new Map<
    string,
    { labels: { tenant: string; endpoint: string; outcome: string }; n: number }
  >();
  readonly #latencyLabels = new Map<string, { endpoint: string }>();
  readonly latency: Histogram<'endpoint'>;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: VigilStore,
    flushMs: number,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'vigil_' });
    const unscraped = this.#unscraped;
    new Counter({
      name: 'vigil_license_requests_total',
      help: 'Key requests by tenant, endpoint and outcome (granted, or the denial reason).',
      labelNames: ['tenant', 'endpoint', 'outcome'],
      registers: [this.registry],
      collect() {
        for (const { labels, n } of unscraped.values()) this.inc(labels, n);
        unscraped.clear();
      },
    });
    this.latency = new Histogram({
      name: 'vigil_license_duration_seconds',
      help: 'Time to answer a key request.',
      labelNames: ['endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
      registers: [this.registry],
    });
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  /** outcome: `granted` or a denial reason. tenantId undefined: the request proved no tenant. */
  record(tenantId: string | undefined, endpoint: string, outcome: string, now: number): void {
    const tenant = tenantId ?? '';
    const key = `${tenant}\n${endpoint}\n${outcome}`;
    const count = this.#unscraped.get(key);
    if (count) count.n++;
    else this.#unscraped.set(key, { labels: { tenant, endpoint, outcome }, n: 1 });
    if (tenantId === undefined) return;
    const minute = now - (now % 60_000);
    const id = `${tenantId}\n${minute}\n${outcome}`;
    const row = this.#pending.get(id);
    if (row) row.count++;
    else this.#pending.set(id, { tenantId, minute, outcome, count: 1 });
  }

  /** Adds the time since `startedAt` (a performance.now() reading) to the latency histogram. */
  observeLatency(endpoint: string, startedAt: number): void {
    let labels = this.#latencyLabels.get(endpoint);
    if (!labels) {
      labels = { endpoint };
      this.#latencyLabels.set(endpoint, labels);
    }
    this.latency.observe(labels, (performance.now() - startedAt) / 1000);
  }

  /** Writes pending counts; on failure they are kept for the next flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const rows = [...this.#pending.values()];
      this.#pending.clear();
      try {
        await this.store.addStats(rows);
      } catch {
        for (const r of rows) {
          const id = `${r.tenantId}\n${r.minute}\n${r.outcome}`;
          const row = this.#pending.get(id);
          if (row) row.count += r.count;
          else this.#pending.set(id, r);
        }
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
