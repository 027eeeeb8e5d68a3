/**
 * The seed admin page's watermark setting reaches Vigil's player (issue 10): `/qualabs/config/` with
 * `wmOptions: {type: "color", x, y, width, height}` (the seed's x is the box's top and y its left, in
 * percent of the player; width and height in pixels) switches a playing plugin to colour mode with its box
 * there, at that pixel size, as the screenshot shows; `{type: "id"}` switches it back to the session id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { type PlayerPage, waitForMediaTime } from '../../../test/support/browser.ts';
import { type PlayerRig, startPlayerRig } from '../../../test/support/player-rig.ts';
import { call } from '../../../test/support/vigil.ts';
import type { VigilDebug } from '../src/index.ts';

const START_TIMEOUT_MS = 90_000;
const CASE_TIMEOUT_MS = 180_000;
/** The seed admin page's colour box. */
const SEED_BOX = { type: 'color', x: 60, y: 10, width: 40, height: 24 };

// biome-ignore lint/suspicious/noExplicitAny: the page's video.js player is untyped here.
type Untyped = any;

const debugOf = (page: Page): Promise<VigilDebug> =>
  page.evaluate(() => (window as Untyped).player.vigil.debug());

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the seed admin page's colour setting in Vigil's player", () => {
  let rig: PlayerRig;

  /** The seed admin page's call: the tenant-signed JWT as the whole text/plain body. */
  const seedConfig = async (wmOptions: Record<string, unknown>) => {
    // As the seed's jsonwebtoken signs: with iat, no exp.
    const jwt = await new SignJWT({ watermarking: true, wmOptions })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .sign(new TextEncoder().encode(rig.server.secret));
    const res = await call(`${rig.server.url}/qualabs/config/`, {
      rawBody: jwt,
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };

  before(
    async () => {
      rig = await startPlayerRig({
        prefix: 'vigil-seed-color-',
        resourceId: 'seed-color-clip',
        clipSeconds: 20,
        segmentDuration: 2,
        keyPeriod: 5,
      });
      // Heartbeats every 2 s carry each change to the playing page.
      await rig.setWatermark({ enabled: true, mode: 'text', heartbeatSeconds: 2, symbolSeconds: 2 });
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await rig?.close();
  });

  it(
    'draws the colour box where the seed puts it, then the session id again',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      let player: PlayerPage | undefined;
      try {
        player = await rig.play('cenc/manifest.mpd', 'seed-admin-viewer');
        const { page } = player;
        await waitForMediaTime(player, 0.1, START_TIMEOUT_MS);
        await page.evaluate(() => (window as Untyped).player.pause());
        assert.equal((await debugOf(page)).mode, 'text');

        await seedConfig(SEED_BOX);
        const d = await until('colour mode to arrive', async () => {
          const debug = await debugOf(page);
          return debug.mode === 'color' && debug.rect && debug.color ? debug : undefined;
        });
        assert.deepEqual(d.directive.box, { x: 10, y: 60, width: 40, height: 24, sizeUnit: 'px' });
        const pic = d.picture!;
        const rect = d.rect!;
        const near = (a: number, b: number) => Math.abs(a - b) <= 1;
        // Left at y %, top at x % of the picture; the size in CSS pixels, whatever the picture's size.
        assert.ok(
          near(rect.x, pic.x + (pic.width * SEED_BOX.y) / 100) &&
            near(rect.y, pic.y + (pic.height * SEED_BOX.x) / 100) &&
            near(rect.width, SEED_BOX.width) &&
            near(rect.height, SEED_BOX.height),
          `the box is not where the seed's options put it: ${JSON.stringify({ rect, pic })}`,
        );
        // What a capture shows: the symbol of the moment at the box's centre (retried across a change).
        await until('a screenshot within one symbol', async () => {
          const before = await debugOf(page);
          const png = PNG.sync.read(await page.screenshot());
          const after = await debugOf(page);
          if (before.symbolIndex !== after.symbolIndex) return undefined;
          const x = Math.round(rect.x + rect.width / 2);
          const y = Math.round(rect.y + rect.height / 2);
          const i = (y * png.width + x) * 4;
          const pixel = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
          const diff = Math.max(...pixel.map((v, k) => Math.abs(v - after.color![k]!)));
          assert.ok(diff <= 8, `the box shows ${pixel}, not ${after.color}`);
          return true;
        });

        await seedConfig({ type: 'id' });
        const text = await until('text mode to arrive', async () => {
          const debug = await debugOf(page);
          return debug.mode === 'text' && debug.text ? debug : undefined;
        });
        assert.equal(text.text, 'seed-admin-viewer');
      } finally {
        await player?.close();
      }
    },
  );
});
