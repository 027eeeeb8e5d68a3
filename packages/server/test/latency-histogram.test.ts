/** The license latency histogram exports what prom-client's own Histogram would, series for series. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../src/stats/recorder.ts';

describe('LatencyHistogram', () => {
  it('prints and exports (JSON) the same as a prom-client Histogram fed the same observations', async () => {
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5];
    const ours = new Registry();
    const theirs = new Registry();
    const latency = new LatencyHistogram('vigil_test_duration_seconds', 'Time to answer.', buckets);
    ours.registerMetric(latency as never);
    const reference = new Histogram({
      name: 'vigil_test_duration_seconds',
      help: 'Time to answer.',
      labelNames: ['endpoint'],
      buckets,
      registers: [theirs],
    });
    const samples = [0, 0.0005, 0.0004, 0.0011, 0.003, 0.0099, 0.01, 0.2, 0.5, 0.7, 3, 0.00001];
    for (const [i, seconds] of samples.entries()) {
      const endpoint = i % 3 === 0 ? 'hls' : 'clearkey';
      latency.observe(endpoint, seconds);
      reference.observe({ endpoint }, seconds);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
    ours.resetMetrics();
    theirs.resetMetrics();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });
});
