/**
 * A signed master playlist URL alone plays, on demand and live, in headless Chromium with hls.js given
 * nothing else: no `xhrSetup`, no viewer token, no header. The origin writes the delivery token into the
 * URIs the playlists list and a key grant into the AES-128 key URIs. Judged by media time advancing
 * through key rotations and a non-black screenshot; every key request carried a grant and no token.
 * After a ban of the live session, its next key and segment requests are refused. One server, one
 * package, one live channel and one browser for the file.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageMedia, storeKeySource } from '@vigil/packager';
import type { Browser, Page } from 'playwright-core';
import {
  launchBrowser,
  openPlayerPage,
  type PlayerPage,
  type StaticServer,
  startStaticServer,
  testClip,
  videoScreenshot,
  videoState,
  waitForMediaTime,
} from '../../../test/support/browser.ts';
import { call, startVigil, type TestServer, tempDir, waitFor } from '../../../test/support/vigil.ts';

const VOD = 'native-vod-clip';
const LIVE = 'native-live';
const CHANNEL = 'native';
const SEGMENT = 2;
/** On demand: a new key every 2 segments (4 s of media). */
const VOD_KEY_PERIOD = 2;
/** Live: a new key every 4 s. */
const LIVE_KEY_PERIOD = 4;
const PLAY_TIMEOUT_MS = 150_000;
const CASE_TIMEOUT_MS = 300_000;

// biome-ignore lint/suspicious/noExplicitAny: the page's hls.js objects are untyped here.
type Untyped = any;

/** hls.js with its defaults: only the URL. Fatal errors land in `window.playerError`. */
async function startPlainHlsjs(page: Page, url: string, playbackRate: number): Promise<void> {
  await page.evaluate(
    ({ url, playbackRate }) => {
      const w = window as Untyped;
      const video = document.getElementById('video') as HTMLVideoElement;
      const hls = new w.Hls();
      w.player = hls;
      w.playerWarnings = [];
      hls.on(w.Hls.Events.ERROR, (_event: string, data: Untyped) => {
        const info = { type: data.type, details: data.details, fatal: data.fatal };
        if (data.fatal) w.playerError = info;
        else w.playerWarnings.push(info);
      });
      hls.on(w.Hls.Events.MANIFEST_PARSED, () => {
        video.playbackRate = playbackRate;
        void video.play();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    },
    { url, playbackRate },
  );
}

describe('native HLS: a signed master URL alone plays in hls.js without hooks', () => {
  let server: TestServer;
  let statics: StaticServer;
  let launching: Promise<Browser> | undefined;
  let browser: Browser;

  /** A signed URL of `path` for one session, bound to the browser's address. */
  const signedUrl = async (resourceId: string, path: string, sessionId: string) => {
    const res = await call(`${server.url}/v1/delivery/sign`, {
      token: server.apiKey,
      body: { resourceId, path, sessionId, ip: '127.0.0.1', ttlSeconds: 900 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.url as string;
  };

  /** Answers of the origin and of the HLS key endpoint to the page: path, credentials, status, time. */
  const responses = (player: PlayerPage) => {
    const seen: { path: string; vd: boolean; kg: boolean; status: number; at: number }[] = [];
    player.page.on('response', (res) => {
      const u = new URL(res.url());
      if (u.pathname.startsWith('/origin/') || u.pathname.startsWith('/v1/license/hls/')) {
        const { searchParams: q } = u;
        seen.push({
          path: u.pathname,
          vd: q.has('vd'),
          kg: q.has('kg'),
          status: res.status(),
          at: Date.now(),
        });
      }
    });
    return seen;
  };
  const fromOrigin = (seen: ReturnType<typeof responses>) =>
    seen.filter((r) => r.path.startsWith('/origin/'));

  const assertKeyRequestsByGrant = async (player: PlayerPage, minimum: number) => {
    const context = await player.diagnostics();
    const granted = player.keyRequests.filter((r) => r.status === 200);
    assert.ok(granted.length >= minimum, `${granted.length} keys granted, not ${minimum}\n${context}`);
    for (const r of player.keyRequests) {
      assert.equal(r.kind, 'hls');
      assert.equal(r.withToken, false, `a key request with a viewer token: ${r.url}`);
      assert.match(new URL(r.url).searchParams.get('kg') ?? '', /^kg1\./, `a key request without a grant`);
    }
  };

  const assertPicture = async (player: PlayerPage, name: string) => {
    const shot = join(tmpdir(), `vigil-native-hls-${name}.png`);
    const picture = await videoScreenshot(player.page, shot);
    assert.ok(picture.stdev > 20, `the video shows no picture (${shot}): ${JSON.stringify(picture)}`);
  };

  before(
    async () => {
      server = await startVigil({ live: { minBackoffMs: 300 } });
      launching = launchBrowser();
      launching.catch(() => {});
      await packageMedia({
        input: await testClip(24),
        out: join(server.dataDir!, 'origin', 'default', VOD),
        resourceId: VOD,
        scheme: 'cenc',
        segmentDuration: SEGMENT,
        keyPeriod: VOD_KEY_PERIOD,
        hlsAes128: true,
        keys: storeKeySource({ store: server.store, tenantId: 'default' }),
        licenseUrlBase: server.url,
        ladder: [{ height: 360, bitrate: 800_000 }],
      });
      const res = await call(`${server.url}/v1/live/channels/${CHANNEL}`, {
        method: 'PUT',
        token: server.apiKey,
        body: {
          resourceId: LIVE,
          input: 'test',
          ladder: [{ height: 270, bitrate: 400_000 }],
          segmentDuration: SEGMENT,
          keyPeriodSeconds: LIVE_KEY_PERIOD,
          windowSeconds: 24,
          retentionSeconds: 10,
          preset: 'ultrafast',
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      statics = await startStaticServer(tempDir('vigil-native-hls-page-'));
      browser = await launching;
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await (await launching?.catch(() => undefined))?.close();
    await statics?.close();
    await server?.close();
  });

  it(
    'on demand: the AES-128 package plays through two key rotations from the signed URL',
    {
      timeout: CASE_TIMEOUT_MS,
    },
    async () => {
      const url = await signedUrl(VOD, 'master.m3u8', 'native-vod-viewer');
      const player = await openPlayerPage(browser, statics, 'hlsjs', server.url);
      const seen = responses(player);
      try {
        const began = Date.now();
        await startPlainHlsjs(player.page, url, 2);
        // Past two rotations (at 4 s and 8 s of media).
        const state = await waitForMediaTime(player, 2 * VOD_KEY_PERIOD * SEGMENT + 1, PLAY_TIMEOUT_MS);
        console.log(
          `# on demand: ${state.currentTime.toFixed(1)} s of media in ${((Date.now() - began) / 1000).toFixed(1)} s, ` +
            `${player.keyRequests.length} key requests, ${fromOrigin(seen).length} origin requests`,
        );
        assert.equal(state.error, null);
        assert.equal(state.playerError, null);
        await assertPicture(player, 'vod');
        await assertKeyRequestsByGrant(player, 3);
        assert.ok(fromOrigin(seen).length >= 4);
        for (const o of fromOrigin(seen)) {
          assert.ok(o.vd, `an origin request without the delivery token: ${o.path}`);
          assert.equal(o.status, 200, `an origin request was refused: ${o.path}`);
        }
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${await player.diagnostics()}`, { cause: err });
      } finally {
        await player.close();
      }
    },
  );

  it(
    'live: the AES-128 channel plays through two key periods from the signed URL; a ban then cuts it off',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      await waitFor('the channel to publish', 90_000, async () => {
        const c = await call(`${server.url}/v1/live/channels/${CHANNEL}`, { token: server.apiKey });
        return (c.body?.status?.segmentsPublished ?? 0) >= 2;
      });
      const session = 'native-live-viewer';
      const url = await signedUrl(LIVE, 'master.m3u8', session);
      const player = await openPlayerPage(browser, statics, 'hlsjs', server.url);
      const seen = responses(player);
      try {
        await startPlainHlsjs(player.page, url, 1);
        await waitFor('playback to start', 90_000, async () => {
          const s = await videoState(player.page);
          if (s.error || s.playerError) throw new Error(`playback failed: ${JSON.stringify(s)}`);
          return s.currentTime > 0.5;
        });
        const t0 = (await videoState(player.page)).currentTime;
        const kids0 = player.grantedKids().size;
        await waitFor('two key periods of playback', 90_000, async () => {
          const s = await videoState(player.page);
          if (s.error || s.playerError) throw new Error(`playback failed: ${JSON.stringify(s)}`);
          return s.currentTime >= t0 + 2 * LIVE_KEY_PERIOD;
        });
        const t1 = (await videoState(player.page)).currentTime;
        console.log(
          `# live: ${(t1 - t0).toFixed(1)} s played from ${t0.toFixed(1)} s, ` +
            `${player.grantedKids().size - kids0} new kids, ${player.keyRequests.length} key requests`,
        );
        await assertPicture(player, 'live');
        assert.ok(player.grantedKids().size - kids0 >= 2, 'a key per key period passed');
        await assertKeyRequestsByGrant(player, 3);
        const origin = fromOrigin(seen);
        assert.ok(
          origin.every((o) => o.vd && o.status === 200),
          JSON.stringify(origin.slice(-5)),
        );

        // Banned: the session's next playlists, segments and keys are refused.
        const ban = await call(`${server.url}/v1/bans`, {
          token: server.apiKey,
          body: { sessionId: session, reason: 'restreaming' },
        });
        assert.equal(ban.status, 201);
        const bannedAt = Date.now();
        await waitFor('a refusal after the ban', 30_000, async () =>
          seen.some((r) => r.at > bannedAt && r.status === 403),
        );
        // hls.js retries for a while: everything it asks for from a second after the ban is refused.
        await new Promise((r) => setTimeout(r, 4000));
        const after = seen.filter((r) => r.at > bannedAt + 1000);
        const served = after.filter((r) => r.status < 400);
        console.log(
          `# ban: ${after.length} requests from 1 s after the ban, all refused: ${served.length === 0}`,
        );
        assert.deepEqual(served, [], 'served after the ban');
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${await player.diagnostics()}`, { cause: err });
      } finally {
        await player.close();
      }
    },
  );
});
