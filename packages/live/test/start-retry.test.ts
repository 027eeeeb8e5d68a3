/**
 * A channel whose start failed is retried with backoff, without anyone touching it again: here its
 * origin folder cannot be created (a file stands where the tenant's folder goes) until the obstacle is
 * removed; the channel then starts on its own and publishes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, startVigil, type TestServer } from '../../../test/support/vigil.ts';

// biome-ignore lint/suspicious/noExplicitAny: the route's JSON
type Untyped = any;

describe('a live channel whose start failed', { timeout: 120_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startVigil({ live: { minBackoffMs: 200 } });
  });
  after(async () => {
    await server?.close();
  });

  const channel = async (): Promise<Untyped> => {
    const res = await call(`${server.url}/v1/live/channels/retried`, { token: server.apiKey });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };

  async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('is retried with backoff until it starts, and then publishes', async () => {
    const origin = join(server.dataDir!, 'origin');
    mkdirSync(origin, { recursive: true });
    writeFileSync(join(origin, 'default'), 'in the way');
    const res = await call(`${server.url}/v1/live/channels/retried`, {
      method: 'PUT',
      token: server.apiKey,
      body: {
        resourceId: 'retried-live',
        input: 'test',
        ladder: [{ height: 180, bitrate: 200_000 }],
        preset: 'ultrafast',
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await until(
      'a second failed attempt',
      async () => ((await channel()).status?.startFailures ?? 0) >= 2,
      15_000,
    );
    const failed = (await channel()).status;
    assert.equal(failed.state, 'failed');
    assert.match(failed.lastError, /ENOTDIR|EEXIST|not a directory/i);
    assert.ok(failed.nextRetryAt > failed.at, 'the next attempt is scheduled');

    // No change to the channel or the store: the next retry finds the way clear.
    rmSync(join(origin, 'default'));
    await until(
      'the channel to publish',
      async () => ((await channel()).status?.segmentsPublished ?? 0) >= 1,
      60_000,
    );
    const running = (await channel()).status;
    assert.ok(['running', 'starting'].includes(running.state), running.state);
    assert.equal(running.lastError, undefined);
  });
});
