import { Denial } from '@vigil/core';
import type { StatsRow, VigilStore } from '@vigil/store';
import { Counter, collectDefaultMetrics, type Metric, Registry } from 'prom-client';

/**
 * Counts license outcomes per tenant and minute in memory and adds them to the store in the background,
 * so that the license path never waits for a write, and every instance's counts end up in one table.
 */
export class StatsRecorder {
  readonly registry = new Registry();
  /** tenant → minute → outcome → row, not yet in the store. */
  #pending = new Map<string, Map<number, Map<string, StatsRow>>>();
  readonly #timer: NodeJS.Timeout;
  /** Counts the Prometheus counter gets at the next scrape: no label hashing on the request path. */
  readonly #unscraped = new Map<
    string,
    Map<string, Map<string, { labels: { tenant: string; endpoint: string; outcome: string }; n: number }>>
  >();
  readonly latency = new LatencyHistogram(
    'vigil_license_duration_seconds',
    'Time to answer a key request.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
  );
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
        for (const byEndpoint of unscraped.values()) {
          for (const byOutcome of byEndpoint.values())
            for (const { labels, n } of byOutcome.values()) this.inc(labels, n);
        }
        unscraped.clear();
      },
    });
    this.registry.registerMetric(this.latency as unknown as Metric);
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  /** Runs `fn`; a Denial it throws is recorded as its reason's outcome, then rethrown. */
  async countingDenials<T>(
    tenantId: string | undefined,
    endpoint: string,
    now: number,
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Denial) this.record(tenantId, endpoint, err.reason, now);
      throw err;
    }
  }

  /** outcome: `granted` or a denial reason. tenantId undefined: the request proved no tenant. */
  record(tenantId: string | undefined, endpoint: string, outcome: string, now: number): void {
    const tenant = tenantId ?? '';
    // Nested maps: no key string is built per request.
    const counter = leaf(leaf(this.#unscraped, tenant), endpoint);
    const count = counter.get(outcome);
    if (count) count.n++;
    else counter.set(outcome, { labels: { tenant, endpoint, outcome }, n: 1 });
    if (tenantId === undefined) return;
    const minute = now - (now % 60_000);
    const rows = leaf(leaf(this.#pending, tenantId), minute);
    const row = rows.get(outcome);
    if (row) row.count++;
    else rows.set(outcome, { tenantId, minute, outcome, count: 1 });
  }

  /** Adds the time since `startedAt` (a performance.now() reading) to the latency histogram. */
  observeLatency(endpoint: string, startedAt: number): void {
    this.latency.observe(endpoint, (performance.now() - startedAt) / 1000);
  }

  /** Writes pending counts; on failure they are kept for the next flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const pending = this.#pending;
      this.#pending = new Map();
      const rows = [...pending.values()].flatMap((byMinute) =>
        [...byMinute.values()].flatMap((m) => [...m.values()]),
      );
      try {
        await this.store.addStats(rows);
      } catch {
        for (const r of rows) {
          const bucket = leaf(leaf(this.#pending, r.tenantId), r.minute);
          const row = bucket.get(r.outcome);
          if (row) row.count += r.count;
          else bucket.set(r.outcome, r);
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

/** The map under `key`, created on first use. */
function leaf<K, V extends Map<unknown, unknown>>(map: Map<K, V>, key: K): V {
  let inner = map.get(key);
  if (!inner) {
    inner = new Map() as V;
    map.set(key, inner);
  }
  return inner;
}

/**
 * A histogram by `endpoint` that exports exactly what prom-client's Histogram does (same series, labels
 * and values), without its label hashing and validation on every observation, which cost as much as the
 * rest of a license answer's bookkeeping: here an observation is a map lookup and an array increment.
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #byEndpoint = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly upperBounds: readonly number[],
  ) {}

  observe(endpoint: string, seconds: number): void {
    let series = this.#byEndpoint.get(endpoint);
    if (!series) {
      series = { buckets: new Float64Array(this.upperBounds.length), sum: 0, count: 0 };
      this.#byEndpoint.set(endpoint, series);
    }
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    if (i < bounds.length) series.buckets[i]!++;
    series.sum += seconds;
    series.count++;
  }

  /** prom-client's metric interface: what the registry prints. */
  async getForPromString() {
    const values: {
      labels: Record<string, string | number>;
      sharedLabels: { endpoint: string };
      value: number;
      metricName: string;
      exemplar: null | undefined;
    }[] = [];
    for (const [endpoint, series] of this.#byEndpoint) {
      const sharedLabels = { endpoint };
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += series.buckets[i]!;
        values.push({
          labels: { le },
          sharedLabels,
          value: cumulative,
          metricName: `${this.name}_bucket`,
          exemplar: null,
        });
      });
      values.push(
        {
          labels: { le: '+Inf' },
          sharedLabels,
          value: series.count,
          metricName: `${this.name}_bucket`,
          exemplar: null,
        },
        { labels: {}, sharedLabels, value: series.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        {
          labels: {},
          sharedLabels,
          value: series.count,
          metricName: `${this.name}_count`,
          exemplar: undefined,
        },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's metric interface: the values with their labels merged (JSON, aggregation). */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  reset(): void {
    this.#byEndpoint.clear();
  }
}
