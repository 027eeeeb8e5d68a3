/**
 * A live channel's DASH in the three players Vigil supports, in headless Chromium: dash.js, Shaka Player
 * and video.js with Vigil's plugin each play it for three key periods, with a license request granted for
 * each new key period (keys rotate every 4 s), and show a picture (screenshot, not a black frame).
 * dash.js and Shaka get the license URL and the viewer token through their ordinary ClearKey
 * configuration, and the delivery token on origin requests as a CDN-signed URL would carry it; the plugin
 * does both itself. One server, one channel, one browser for the file.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  ensurePlayerBundle,
  launchBrowser,
  openPlayerPage,
  type PlayerPage,
  type StaticServer,
  startDashjs,
  startShaka,
  startStaticServer,
  startVideojs,
  videoScreenshot,
  videoState,
} from '../../../test/support/browser.ts';
import {
  call,
  startVigil,
  type TestServer,
  tempDir,
  viewerToken,
  waitFor,
} from '../../../test/support/vigil.ts';

const CHANNEL = 'players';
const RESOURCE = 'players-live';
const SEGMENT = 2;
/** Keys rotate every 4 s (the shortest key period for 2 s segments is one segment; two keep it realistic). */
const KEY_PERIOD = 4;
const PERIODS = 3;
const CASE_TIMEOUT_MS = 240_000;

// biome-ignore lint/suspicious/noExplicitAny: the pages' players and the API answers are untyped here.
type Untyped = any;

describe('live DASH in dash.js, Shaka and video.js with the plugin', () => {
  let server: TestServer;
  let statics: StaticServer;
  let browser: Browser;
  const manifestPath = `/origin/default/${RESOURCE}/manifest.mpd`;
  const shots = tempDir('vigil-live-players-');

  /** kid → key period, of the channel's CENC keys (the store lists them with their period). */
  const keyPeriods = async (): Promise<Map<string, number>> => {
    const keys = await server.store.listContentKeys('default', RESOURCE);
    return new Map(keys.map((k) => [k.kid, k.keyPeriod]));
  };

  /**
   * A page whose requests to the origin carry the session's delivery token (`?vd=`), as a signed URL from
   * the tenant's backend or CDN would: dash.js and Shaka are given only the manifest URL.
   */
  const openWithDelivery = async (lib: 'dashjs' | 'shaka', sessionId: string) => {
    const token = await viewerToken(server.secret, { resourceId: RESOURCE, sessionId, ip: '127.0.0.1' });
    const delivery = await call(`${server.url}/v1/delivery`, { method: 'POST', token });
    assert.equal(delivery.status, 200, JSON.stringify(delivery.body));
    const { token: vd, param } = delivery.body as Untyped;
    const player = await openPlayerPage(browser, statics, lib, server.url);
    await player.page.route(`${server.url}/origin/**`, (route) => {
      const url = new URL(route.request().url());
      url.searchParams.set(param, vd);
      return route.continue({ url: url.toString() });
    });
    return { player, token };
  };

  /** The key periods of the licenses the page was granted. */
  const grantedPeriods = async (player: PlayerPage): Promise<Set<number>> => {
    const periods = await keyPeriods();
    return new Set(
      [...player.grantedKids()].map((kid) => periods.get(kid)).filter((p): p is number => p !== undefined),
    );
  };

  /**
   * Plays PERIODS key periods of media past the start (media time, not wall time: players count it from
   * different origins), and on until a license was granted for PERIODS key periods not licensed at the
   * start (two key periods more at the most); at the end a screenshot shows a picture.
   */
  const playThroughRotations = async (player: PlayerPage, name: string) => {
    const failed = async (state: Awaited<ReturnType<typeof videoState>>) =>
      new Error(`playback failed: ${JSON.stringify(state)}\n${await player.diagnostics()}`);
    await waitFor('playback to start', 90_000, async () => {
      const state = await videoState(player.page);
      if (state.error || state.playerError) throw await failed(state);
      return state.currentTime > 0.5;
    });
    const t0 = (await videoState(player.page)).currentTime;
    const periods0 = await grantedPeriods(player);
    const target = t0 + PERIODS * KEY_PERIOD + 1;
    // A player may hold the next key period's license already at the start (it buffers ahead), so
    // playback goes on, up to two key periods more, until the PERIODS-th new key period is licensed.
    const newPeriods = async () => [...(await grantedPeriods(player))].filter((p) => !periods0.has(p)).length;
    await waitFor(
      `${PERIODS} key periods of playback`,
      90_000 + (PERIODS + 2) * KEY_PERIOD * 1000,
      async () => {
        const state = await videoState(player.page);
        if (state.error || state.playerError) throw await failed(state);
        if (state.currentTime < target) return false;
        return state.currentTime >= target + 2 * KEY_PERIOD || (await newPeriods()) >= PERIODS;
      },
    );
    const t1 = (await videoState(player.page)).currentTime;
    const shot = await videoScreenshot(player.page, join(shots, `${name}.png`));
    const periods = await grantedPeriods(player);
    const added = [...periods].filter((p) => !periods0.has(p)).sort((a, b) => a - b);
    console.log(
      `${name}: played ${t0.toFixed(1)} → ${t1.toFixed(1)} s of media; licensed key periods at the start ` +
        `[${[...periods0].sort((a, b) => a - b)}], then [${added}] (${player.keyRequests.length} license requests); ` +
        `screenshot luma mean ${shot.mean.toFixed(0)}, stdev ${shot.stdev.toFixed(0)}`,
    );
    assert.ok(
      added.length >= PERIODS,
      `new key periods licensed while playing: ${added}\n${await player.diagnostics()}`,
    );
    // One license per key period, consecutively: no key period was skipped.
    const all = [...periods].sort((a, b) => a - b);
    assert.equal(all.at(-1)! - all[0]! + 1, all.length, `licensed key periods: ${all}`);
    assert.ok(
      player.keyRequests.every((r) => r.kind === 'clearkey' && r.withToken),
      await player.diagnostics(),
    );
    assert.ok(shot.stdev > 20, `the picture is blank: luma stdev ${shot.stdev}`);
  };

  before(async () => {
    const launching = launchBrowser();
    launching.catch(() => {});
    ensurePlayerBundle();
    server = await startVigil({ live: { minBackoffMs: 300 } });
    statics = await startStaticServer(tempDir('vigil-live-players-page-'));
    const res = await call(`${server.url}/v1/live/channels/${CHANNEL}`, {
      method: 'PUT',
      token: server.apiKey,
      body: {
        resourceId: RESOURCE,
        input: 'test',
        ladder: [{ height: 180, bitrate: 200_000 }],
        segmentDuration: SEGMENT,
        keyPeriodSeconds: KEY_PERIOD,
        windowSeconds: 24,
        retentionSeconds: 10,
        preset: 'ultrafast',
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    browser = await launching;
    await waitFor('the channel to publish', 60_000, async () => {
      const c = await call(`${server.url}/v1/live/channels/${CHANNEL}`, { token: server.apiKey });
      return ((c.body as Untyped).status?.segmentsPublished ?? 0) >= 3;
    });
  });

  after(async () => {
    await browser?.close();
    await statics?.close();
    await server?.close();
  });

  it('dash.js plays it across rotations', { timeout: CASE_TIMEOUT_MS }, async () => {
    const { player, token } = await openWithDelivery('dashjs', 'dashjs-viewer');
    try {
      await startDashjs(player.page, {
        manifestUrl: `${server.url}${manifestPath}`,
        licenseUrl: `${server.url}/v1/license/clearkey`,
        token,
      });
      await playThroughRotations(player, 'dashjs');
    } finally {
      await player.close();
    }
  });

  it('Shaka Player plays it across rotations', { timeout: CASE_TIMEOUT_MS }, async () => {
    const { player, token } = await openWithDelivery('shaka', 'shaka-viewer');
    try {
      await startShaka(player.page, {
        manifestUrl: `${server.url}${manifestPath}`,
        licenseUrl: `${server.url}/v1/license/clearkey`,
        token,
      });
      await playThroughRotations(player, 'shaka');
    } finally {
      await player.close();
    }
  });

  it('video.js with the plugin plays it across rotations', { timeout: CASE_TIMEOUT_MS }, async () => {
    const player = await openPlayerPage(browser, statics, 'videojs', server.url);
    try {
      const token = await viewerToken(server.secret, {
        resourceId: RESOURCE,
        sessionId: 'videojs-viewer',
        ip: '127.0.0.1',
      });
      await startVideojs(player.page, {
        manifestUrl: '',
        token,
        server: server.url,
        vigil: { src: { src: manifestPath, type: 'application/dash+xml' } },
      });
      await playThroughRotations(player, 'videojs');
    } finally {
      await player.close();
    }
  });
});
