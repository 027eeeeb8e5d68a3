/**
 * Compositing and overlay attacks on the watermark (issue 10), in headless Chromium, judged from
 * screenshots of the playing page: what a capture of the page would show. The mark is in colour mode
 * (one constant colour for seconds at a time, in a large box); after each attack the screenshot must show
 * that colour where the box belongs over the picture again within a few seconds, and the attempt must be
 * in the server's access log under the viewer's session id. A control element (a plain white box with a
 * high z-index in the player element, as a mark without the top layer would be drawn) shows that the
 * attacks are real: each of the first ones hides it. Under the `stop` policy an attack stops playback.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { type PlayerPage, videoState, waitForMediaTime } from '../../../test/support/browser.ts';
import { type PlayerRig, startPlayerRig } from '../../../test/support/player-rig.ts';
import { call } from '../../../test/support/vigil.ts';
import { TAMPER_MESSAGE, type VigilDebug } from '../src/index.ts';

const SESSION_ID = 'compositor-7';
/** Percent of the picture; large, so a screenshot judges many pixels. */
const BOX = { x: 10, y: 12, width: 22, height: 24 };
/** The control box, in percent of the picture (away from the mark). */
const CONTROL = { x: 62, y: 12, width: 22, height: 24 };
/** The server's longest symbol: the box keeps one colour for 10 s at a time. */
const SYMBOL_SECONDS = 10;
const START_TIMEOUT_MS = 90_000;
/** "Within a few seconds": the screenshot must show the mark again within this much wall time. */
const VISIBLE_WITHIN_MS = 5_000;
/** Screenshots, reports and the access log on a loaded machine. */
const REPORT_WITHIN_MS = 20_000;
const CASE_TIMEOUT_MS = 420_000;

// biome-ignore lint/suspicious/noExplicitAny: the page's video.js player is untyped here.
type Untyped = any;

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Attack {
  name: string;
  /** Runs in the page; `host` is the mark's host element, `el` the player element. */
  apply: string;
  /** Undoes it (the page's own business: the guard does not touch the page's elements). */
  undo: string;
  /** The checks one of which the access log must show for it; empty: prevented, nothing to report. */
  checks: string[];
  /** The attack hides the control box (an ordinary mark with the highest z-index). */
  hidesControl?: boolean;
}

const ATTACKS: Attack[] = [
  {
    name: 'a full-screen fixed overlay, pointer-events: none, z-index 2147483647',
    apply: `const o = document.createElement('div');
      o.id = 'attack-overlay';
      o.style.cssText = 'position:fixed;inset:0;background:#000;z-index:2147483647;pointer-events:none';
      document.body.append(o);`,
    undo: `document.getElementById('attack-overlay').remove();`,
    checks: ['covered'],
    hidesControl: true,
  },
  {
    name: 'mix-blend-mode: darken on the ancestors of the mark',
    apply: `for (const e of [el, document.body, document.documentElement]) e.style.mixBlendMode = 'darken';`,
    undo: `for (const e of [el, document.body, document.documentElement]) e.style.mixBlendMode = '';`,
    checks: ['blend'],
    hidesControl: true,
  },
  {
    name: 'filter: brightness(0) on an ancestor',
    apply: `document.body.style.filter = 'brightness(0)';`,
    undo: `document.body.style.filter = '';`,
    checks: ['filter'],
    hidesControl: true,
  },
  {
    name: 'opacity: 0 on an ancestor',
    apply: `document.body.style.opacity = '0';`,
    undo: `document.body.style.opacity = '';`,
    checks: ['opacity'],
    hidesControl: true,
  },
  {
    name: 'font-size: 0 on the page',
    apply: `const s = document.createElement('style');
      s.id = 'attack-font';
      s.textContent = 'html, body, :root { font-size: 0 !important; }';
      document.head.append(s);`,
    undo: `document.getElementById('attack-font').remove();`,
    checks: ['font'],
  },
  {
    name: 'zoom: 0.5 on the page',
    apply: `const s = document.createElement('style');
      s.id = 'attack-zoom';
      s.textContent = 'html { zoom: 0.5 !important; }';
      document.head.append(s);`,
    undo: `document.getElementById('attack-zoom').remove();`,
    checks: ['zoom'],
  },
  {
    name: 'a page popover over everything, opened after the mark',
    apply: `const o = document.createElement('div');
      o.id = 'attack-popover';
      o.popover = 'manual';
      o.style.cssText = 'position:fixed;inset:0;width:auto;height:auto;margin:0;border:0;background:#000;pointer-events:none';
      document.body.append(o);
      o.showPopover();`,
    undo: `document.getElementById('attack-popover').remove();`,
    checks: ['covered'],
    hidesControl: true,
  },
  {
    name: 'a popover in a closed shadow root (its events never reach the document), opened after the mark',
    apply: `const h = document.createElement('div');
      h.id = 'attack-shadow';
      document.body.append(h);
      const root = h.attachShadow({ mode: 'closed' });
      const o = document.createElement('div');
      o.popover = 'manual';
      o.style.cssText = 'position:fixed;inset:0;width:auto;height:auto;margin:0;border:0;background:#000;pointer-events:none';
      root.append(o);
      o.showPopover();`,
    undo: `document.getElementById('attack-shadow').remove();`,
    checks: [],
    hidesControl: true,
  },
  {
    name: 'a popover in a closed shadow root re-opened in every animation frame, racing the mark for the top',
    apply: `const h = document.createElement('div');
      h.id = 'attack-race';
      document.body.append(h);
      const root = h.attachShadow({ mode: 'closed' });
      const o = document.createElement('div');
      o.popover = 'manual';
      o.style.cssText = 'position:fixed;inset:0;width:auto;height:auto;margin:0;border:0;background:#000;pointer-events:none';
      root.append(o);
      const race = () => {
        if (!h.isConnected) return;
        if (o.matches(':popover-open')) o.hidePopover();
        o.showPopover();
        requestAnimationFrame(race);
      };
      race();`,
    undo: `document.getElementById('attack-race').remove();`,
    checks: ['covered'],
    hidesControl: true,
  },
  {
    name: 'page rules on [popover] and :popover-open',
    apply: `const s = document.createElement('style');
      s.id = 'attack-popover-rules';
      s.textContent = '[popover], :popover-open, [popover]::backdrop { display: none !important; opacity: 0 !important; }';
      document.head.append(s);`,
    undo: `document.getElementById('attack-popover-rules').remove();`,
    checks: [],
  },
  {
    name: 'a view transition kept running, the video captured above the page (and the top layer)',
    apply: `const s = document.createElement('style');
      s.id = 'attack-transition';
      s.textContent = 'video { view-transition-name: attack-video; } ' +
        '::view-transition-group(*), ::view-transition-old(*), ::view-transition-new(*) { animation-duration: 100000s !important; }';
      document.head.append(s);
      document.startViewTransition(() => {});`,
    undo: `document.getElementById('attack-transition').remove();`,
    checks: ['transition'],
  },
  {
    name: "hidePopover() on the mark's host",
    apply: `host.hidePopover();`,
    undo: ``,
    checks: ['layer'],
  },
];

describe('the watermark under compositing and overlay attacks, judged from screenshots', () => {
  let rig: PlayerRig;

  before(
    async () => {
      rig = await startPlayerRig({
        prefix: 'vigil-compositing-',
        resourceId: 'compositing-clip',
        clipSeconds: 30,
        segmentDuration: 2,
        keyPeriod: 5,
      });
      await rig.setWatermark({
        enabled: true,
        mode: 'color',
        symbolSeconds: SYMBOL_SECONDS,
        box: BOX,
        heartbeatSeconds: 2,
        tamperPolicy: 'report',
      });
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await rig?.close();
  });

  const debugOf = (page: Page): Promise<VigilDebug> =>
    page.evaluate(() => (window as Untyped).player.vigil.debug());

  async function until<T>(what: string, probe: () => Promise<T>, timeoutMs: number): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** `box` (percent) of the video picture as the page lays it out now, in viewport px. */
  async function boxOnPicture(page: Page, box: Rect): Promise<Rect> {
    const pic = (await debugOf(page)).picture!;
    return {
      x: pic.x + (pic.width * box.x) / 100,
      y: pic.y + (pic.height * box.y) / 100,
      width: (pic.width * box.width) / 100,
      height: (pic.height * box.height) / 100,
    };
  }

  /** Of the inner half of `r` (viewport px) in the screenshot, the share of pixels within 16 of `rgb`. */
  function share(png: PNG, r: Rect, rgb: readonly number[]): number {
    let hits = 0;
    let total = 0;
    const x0 = Math.ceil(r.x + r.width / 4);
    const y0 = Math.ceil(r.y + r.height / 4);
    const x1 = Math.floor(r.x + (3 * r.width) / 4);
    const y1 = Math.floor(r.y + (3 * r.height) / 4);
    for (let y = Math.max(0, y0); y < Math.min(png.height, y1); y++) {
      for (let x = Math.max(0, x0); x < Math.min(png.width, x1); x++) {
        const i = (y * png.width + x) * 4;
        total++;
        if (
          Math.abs(png.data[i]! - rgb[0]!) <= 16 &&
          Math.abs(png.data[i + 1]! - rgb[1]!) <= 16 &&
          Math.abs(png.data[i + 2]! - rgb[2]!) <= 16
        )
          hits++;
      }
    }
    return total ? hits / total : 0;
  }

  interface Look {
    /** The share of the box showing the mark's colour of the moment. */
    mark: number;
    /** The share of the control box showing white. */
    control: number;
  }

  /** A screenshot of the page, judged; retried when the symbol changed while it was taken. */
  async function look(page: Page, name: string): Promise<Look> {
    for (;;) {
      const before = await debugOf(page);
      const box = await boxOnPicture(page, BOX);
      const control = await boxOnPicture(page, CONTROL);
      const png = PNG.sync.read(
        await page.screenshot({ path: join(tmpdir(), `vigil-compositing-${name}.png`) }),
      );
      const after = await debugOf(page);
      if (before.symbolIndex !== after.symbolIndex || !after.color) continue;
      return { mark: share(png, box, after.color), control: share(png, control, [255, 255, 255]) };
    }
  }

  const visible = (l: Look) => l.mark >= 0.9;

  /** The set of tamper checks the server logged for the session. */
  async function loggedChecks(sessionId = SESSION_ID): Promise<Map<string, number>> {
    const res = await call(
      `${rig.server.url}/v1/access-logs?sessionId=${sessionId}&action=suspiciousActivity&limit=1000`,
      { token: rig.server.apiKey },
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const counts = new Map<string, number>();
    for (const e of res.body.entries as {
      sessionId: string;
      metadata: { kind?: string; check?: string };
    }[]) {
      assert.equal(e.sessionId, sessionId);
      if (e.metadata.kind !== 'tamper' || !e.metadata.check) continue;
      counts.set(e.metadata.check, (counts.get(e.metadata.check) ?? 0) + 1);
    }
    return counts;
  }

  /** Runs `source` in the page with `host` (the mark's host) and `el` (the player element). */
  function inPage(page: Page, source: string): Promise<void> {
    return page.evaluate((code) => {
      const player = (window as Untyped).player;
      const el = player.el() as HTMLElement;
      const tag = player.vigil.debug().tag as string;
      const host = [...el.children].find((c) => c.tagName.toLowerCase() === tag) as HTMLElement;
      if (!host) throw new Error('no mark host among the player element children');
      new Function('host', 'el', code)(host, el);
    }, source);
  }

  it(
    'each attack leaves the mark visible in screenshots (or stops playback under the stop policy) and is logged with the session id',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      let player: PlayerPage | undefined;
      try {
        player = await rig.play('cenc/manifest.mpd', SESSION_ID, {
          vigil: { reportDebounceMs: 0 },
        });
        const { page } = player;
        await waitForMediaTime(player, 0.3, START_TIMEOUT_MS);
        const d = await debugOf(page);
        assert.equal(d.mode, 'color');
        assert.equal(d.directive.sessionId, SESSION_ID);
        assert.ok(d.layered, 'the mark is in the top layer');
        // The control: what a mark drawn the ordinary way (highest z-index in the player) looks like.
        const control = await boxOnPicture(page, CONTROL);
        await page.evaluate((r) => {
          const el = (window as Untyped).player.el() as HTMLElement;
          const box = el.getBoundingClientRect();
          const c = document.createElement('div');
          c.id = 'control';
          c.style.cssText = `position:absolute;left:${r.x - box.left}px;top:${r.y - box.top}px;width:${r.width}px;height:${r.height}px;background:#fff;z-index:2147483646;pointer-events:none`;
          el.append(c);
        }, control);
        const start = await until(
          'the mark and the control in a screenshot',
          async () => {
            const l = await look(page, 'start');
            return visible(l) && l.control > 0.9 ? l : undefined;
          },
          20_000,
        );
        console.log(`# before: mark ${start.mark.toFixed(2)}, control ${start.control.toFixed(2)}`);

        assert.deepEqual([...(await loggedChecks())], [], 'tamper reports before any attack');
        const lines: string[] = [];
        for (const [n, a] of ATTACKS.entries()) {
          const logged = await loggedChecks();
          const began = Date.now();
          await inPage(page, a.apply);
          const first = await look(page, `${n}-first`);
          // Pixels, not the DOM: the screenshot shows the mark's colour in its box over the picture.
          const shown = await until(
            `the mark in a screenshot after ${a.name} (last: ${JSON.stringify(first)})`,
            async () => {
              const l = await look(page, `${n}`);
              return visible(l) ? l : undefined;
            },
            VISIBLE_WITHIN_MS,
          );
          const visibleMs = Date.now() - began;
          if (a.hidesControl) {
            assert.ok(
              shown.control < 0.1,
              `${a.name} did not hide the control box: ${JSON.stringify(shown)}`,
            );
          }
          let reportMs = 0;
          if (a.checks.length > 0) {
            await until(
              `a tamper report of ${a.name} (${a.checks.join('/')}) in the access log`,
              async () => {
                const now = await loggedChecks();
                return a.checks.some((c) => (now.get(c) ?? 0) > (logged.get(c) ?? 0));
              },
              REPORT_WITHIN_MS,
            );
            reportMs = Date.now() - began;
          }
          // Still shown a moment later (a restore does not flicker it away).
          const later = await look(page, `${n}-later`);
          assert.ok(visible(later), `the mark went away again after ${a.name}: ${JSON.stringify(later)}`);
          lines.push(
            `${a.name}: first shot mark ${first.mark.toFixed(2)}, shown after ${visibleMs} ms` +
              (a.checks.length ? `, in the log after ${reportMs} ms` : ', prevented (nothing to report)'),
          );
          if (a.undo) await inPage(page, a.undo);
        }
        console.log(`# ${lines.join('\n# ')}`);

        // Fullscreen of another element (the body, holding the player): the mark stays above it.
        const cdp = await page.context().newCDPSession(page);
        await cdp.send('Runtime.evaluate', {
          expression: 'document.body.requestFullscreen()',
          userGesture: true,
          awaitPromise: true,
        });
        await until(
          'fullscreen',
          () => page.evaluate(() => document.fullscreenElement === document.body),
          10_000,
        );
        await until(
          'the mark over the fullscreen body',
          async () => visible(await look(page, 'fullscreen')),
          VISIBLE_WITHIN_MS,
        );
        await cdp.send('Runtime.evaluate', {
          expression: 'document.exitFullscreen()',
          userGesture: true,
          awaitPromise: true,
        });
        await until(
          'fullscreen to end',
          () => page.evaluate(() => document.fullscreenElement === null),
          10_000,
        );

        const after = await debugOf(page);
        assert.equal(after.stopped, false);
        assert.ok(after.layered);

        // The stop policy, picked up from a heartbeat: the overlay now stops playback.
        await rig.setWatermark({ tamperPolicy: 'stop' });
        await until(
          'the stop policy to arrive',
          async () => (await debugOf(page)).directive.tamperPolicy === 'stop',
          30_000,
        );
        const logged = await loggedChecks();
        await inPage(page, ATTACKS[0]!.apply);
        const stopped = await until(
          'playback to stop',
          async () => {
            const s = await debugOf(page);
            return s.stopped ? s : undefined;
          },
          REPORT_WITHIN_MS,
        );
        assert.equal(stopped.stopReason, 'tamper');
        assert.equal(stopped.message, TAMPER_MESSAGE);
        const state = await videoState(page);
        assert.equal(state.paused, true);
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(
          (await videoState(page)).currentTime,
          state.currentTime,
          'the video went on after the stop',
        );
        await until(
          'the report of the attack that stopped playback',
          async () => ((await loggedChecks()).get('covered') ?? 0) > (logged.get('covered') ?? 0),
          REPORT_WITHIN_MS,
        );
        await player.close();
      } catch (err) {
        if (!player) throw err;
        const diagnostics = await player.diagnostics();
        const debug = await debugOf(player.page).catch((e: Error) => e.message);
        await player.close();
        throw new Error(`${(err as Error).message}\nvigil: ${JSON.stringify(debug)}\n${diagnostics}`, {
          cause: err,
        });
      } finally {
        await rig.setWatermark({ tamperPolicy: 'report' });
      }
    },
  );

  it(
    "ordinary playback with the player's controls over the moving mark is not taken for tampering",
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const sessionId = 'ordinary-viewer-1';
      let player: PlayerPage | undefined;
      // Under the stop policy a false alarm would stop playback.
      await rig.setWatermark({ mode: 'text', textIntervalSeconds: 0.5, tamperPolicy: 'stop' });
      try {
        player = await rig.play('cenc/manifest.mpd', sessionId);
        const { page } = player;
        await waitForMediaTime(player, 0.3, START_TIMEOUT_MS);
        await until('text mode', async () => (await debugOf(page)).mode === 'text', 30_000);
        await page.evaluate(() => (window as Untyped).player.controls(true));
        const began = await debugOf(page);
        for (let i = 0; i < 12; i++) {
          await page.evaluate(() => (window as Untyped).player.userActive(true));
          await new Promise((r) => setTimeout(r, 500));
        }
        const d = await debugOf(page);
        assert.ok(d.moves - began.moves >= 4, `the mark moved only ${d.moves - began.moves} times`);
        assert.equal(d.stopped, false, `playback stopped: ${d.stopReason}`);
        assert.equal(d.reports, 0);
        assert.equal(d.restores, 0);
        assert.deepEqual([...(await loggedChecks(sessionId))], []);
        await player.close();
      } catch (err) {
        if (!player) throw err;
        const diagnostics = await player.diagnostics();
        const debug = await debugOf(player.page).catch((e: Error) => e.message);
        await player.close();
        throw new Error(`${(err as Error).message}\nvigil: ${JSON.stringify(debug)}\n${diagnostics}`, {
          cause: err,
        });
      } finally {
        await rig.setWatermark({ mode: 'color', tamperPolicy: 'report' });
      }
    },
  );
});
