/**
 * `vigil serve` with its demo on: the live demo channel starts with the server, /demo/session mints a
 * token bound to the caller, and the page plays the protected live stream with the player plugin (DASH,
 * and HLS with `?hls=1`), as well as any stream given as `?manifest=&token=`.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensurePlayerBundle, launchBrowser, videoState } from '../../../test/support/browser.ts';
import { type ChildServer, call, spawnVigil, tempDir } from '../../../test/support/vigil.ts';

/** Waits for live playback to start, then for `seconds` more of media; returns the media time played. */
async function playsFor(page: Page, seconds: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let start: number | undefined;
  for (;;) {
    const state = await videoState(page);
    assert.equal(state.error, null, JSON.stringify(state.error));
    if (start === undefined && state.currentTime > 0) start = state.currentTime;
    if (start !== undefined && state.currentTime - start >= seconds) return state.currentTime - start;
    if (Date.now() > deadline) assert.fail(`reached only ${state.currentTime.toFixed(2)} s of media`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the /demo page of vigil serve', { timeout: 420_000 }, () => {
  const dir = tempDir();
  let server: ChildServer;
  let browser: Browser;
  before(async () => {
    ensurePlayerBundle();
    server = await spawnVigil(['--data', dir], { VIGIL_DEMO: '1', VIGIL_MASTER_KEY: '55'.repeat(32) });
    browser = await launchBrowser();
    // The channel publishes its first segments a few seconds after the start: 503 until then.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const res = await call(`${server.url}/demo/session`);
      if (res.status === 200) break;
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.code, 'demo_preparing');
      if (Date.now() > deadline) assert.fail('the demo channel was not ready in 120 s');
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mints a token bound to the caller for the demo resource', async () => {
    const res = await call(`${server.url}/demo/session`);
    assert.equal(res.status, 200);
    const claims = JSON.parse(Buffer.from(res.body.token.split('.')[1], 'base64url').toString());
    assert.equal(claims.ip, '127.0.0.1');
    assert.equal(claims.resourceId, 'vigil-demo');
    assert.equal(claims.sessionId, res.body.sessionId);
  });

  it('plays the protected live channel with the plugin, its HLS, and any stream given by ?manifest=&token=', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/demo`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => 'vigilDemoPlayer' in window, undefined, { timeout: 60_000 });
      assert.ok((await playsFor(page, 4, 150_000)) >= 4);
      const session = await page.textContent('#session');
      assert.match(session ?? '', /^demo-[0-9a-f]{6}$/);
      assert.match((await page.textContent('#ban')) ?? '', /^npx vigil ban --session demo-[0-9a-f]{6}$/);

      await page.goto(`${server.url}/demo?hls=1`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => 'vigilDemoPlayer' in window, undefined, { timeout: 60_000 });
      assert.ok((await playsFor(page, 3, 150_000)) >= 3);

      const { body } = await call(`${server.url}/demo/session`);
      const url = `${server.url}/demo?manifest=${encodeURIComponent(body.dash)}&token=${encodeURIComponent(body.token)}`;
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => 'vigilDemoPlayer' in window, undefined, { timeout: 60_000 });
      assert.equal(await page.textContent('#session'), body.sessionId);
      assert.ok((await playsFor(page, 3, 150_000)) >= 3);
    } finally {
      await page.close();
    }
  });
});
