/**
 * A live channel end to end, in headless Chromium with video.js and Vigil's plugin: the test-pattern
 * channel's live DASH and live HLS play for three key periods with a license or key request at each
 * rotation; killing ffmpeg mid-stream is recovered by the channel and the playing client carries on
 * without a reload; a ban stops a live session within one key period and a new session plays after the
 * unban. One server, one channel, one browser for the file.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  ensurePlayerBundle,
  launchBrowser,
  openPlayerPage,
  type PlayerPage,
  type StaticServer,
  startStaticServer,
  startVideojs,
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

const CHANNEL = 'e2e';
const RESOURCE = 'e2e-live';
const SEGMENT = 2;
/** A key every 4 s, so three key periods take 12 s of real time. */
const KEY_PERIOD = 4;
const CASE_TIMEOUT_MS = 240_000;

// biome-ignore lint/suspicious/noExplicitAny: the page's video.js player is untyped here.
type Untyped = any;

/**
 * The player's position and its distance to the live edge: the channel's media time is seconds since
 * its availabilityStartTime, so the edge is the wall clock's distance from it.
 */
async function edge(
  player: PlayerPage,
  availabilityStartTime: number,
): Promise<{ current: number; distance: number }> {
  const current: number = await player.page.evaluate(() => (window as Untyped).player.currentTime());
  return { current, distance: (Date.now() - availabilityStartTime) / 1000 - current };
}

describe('a live channel in headless Chromium', () => {
  let server: TestServer;
  let statics: StaticServer;
  let browser: Browser;
  const base = () => `/origin/default/${RESOURCE}`;

  const channel = async () => {
    const res = await call(`${server.url}/v1/live/channels/${CHANNEL}`, { token: server.apiKey });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as Untyped;
  };

  const play = async (
    manifest: 'manifest.mpd' | 'master.m3u8',
    sessionId: string,
    options: Record<string, unknown> = {},
  ) => {
    const player = await openPlayerPage(browser, statics, 'videojs', server.url);
    const token = await viewerToken(server.secret, { resourceId: RESOURCE, sessionId, ip: '127.0.0.1' });
    await startVideojs(player.page, {
      manifestUrl: '',
      token,
      server: server.url,
      vigil: {
        ...options,
        src: {
          src: `${base()}/${manifest}`,
          type: manifest.endsWith('.mpd') ? 'application/dash+xml' : 'application/x-mpegURL',
        },
      },
    });
    return player;
  };

  /** Plays until `periods` more key periods have been reached, each with a key request for it. */
  const playThroughRotations = async (player: PlayerPage, periods: number) => {
    const startKids = () => player.grantedKids().size;
    await waitFor('playback to start', 90_000, async () => (await videoState(player.page)).currentTime > 0.5);
    const t0 = (await videoState(player.page)).currentTime;
    const kids0 = startKids();
    const target = t0 + periods * KEY_PERIOD;
    await waitFor(`${periods} key periods of playback`, 90_000 + periods * KEY_PERIOD * 1000, async () => {
      const state = await videoState(player.page);
      if (state.error || state.playerError) throw new Error(`playback failed: ${JSON.stringify(state)}`);
      return state.currentTime >= target;
    });
    return { t0, kids0, kids: startKids() };
  };

  before(async () => {
    const launching = launchBrowser();
    launching.catch(() => {});
    ensurePlayerBundle();
    server = await startVigil({ live: { minBackoffMs: 300 } });
    statics = await startStaticServer(tempDir('vigil-live-page-'));
    const res = await call(`${server.url}/v1/live/channels/${CHANNEL}`, {
      method: 'PUT',
      token: server.apiKey,
      body: {
        resourceId: RESOURCE,
        input: 'test',
        ladder: [
          { height: 270, bitrate: 400_000 },
          { height: 180, bitrate: 200_000 },
        ],
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
      const c = await channel();
      return (c.status?.segmentsPublished ?? 0) >= 2;
    });
  });

  after(async () => {
    await browser?.close();
    await statics?.close();
    await server?.close();
  });

  it(
    'plays the live DASH for three key periods, one license request per rotation',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const player = await play('manifest.mpd', 'live-dash-viewer');
      try {
        const { t0, kids0, kids } = await playThroughRotations(player, 3);
        const e = await edge(player, (await channel()).status.availabilityStartTime);
        console.log(
          `live DASH: played ${(e.current - t0).toFixed(1)} s from ${t0.toFixed(1)} s; ${kids - kids0} new kids granted ` +
            `(${player.keyRequests.length} license requests); distance to the live edge ${e.distance.toFixed(1)} s`,
        );
        // Each of the three rotations passed needed a key the player had not asked for before.
        assert.ok(kids - kids0 >= 3, `new kids after start: ${kids - kids0}\n${await player.diagnostics()}`);
        assert.ok(player.keyRequests.every((r) => r.kind === 'clearkey' && r.withToken));
        assert.ok(e.distance > 0 && e.distance < 30, `the player is ${e.distance} s behind the live edge`);
      } finally {
        await player.close();
      }
    },
  );

  it(
    'plays the live HLS (AES-128) for three key periods, one key request per rotation',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const player = await play('master.m3u8', 'live-hls-viewer');
      try {
        const { t0, kids0, kids } = await playThroughRotations(player, 3);
        const e = await edge(player, (await channel()).status.availabilityStartTime);
        console.log(
          `live HLS: played ${(e.current - t0).toFixed(1)} s from ${t0.toFixed(1)} s; ${kids - kids0} new kids granted ` +
            `(${player.keyRequests.length} key requests); distance to the live edge ${e.distance.toFixed(1)} s`,
        );
        assert.ok(kids - kids0 >= 3, `new kids after start: ${kids - kids0}\n${await player.diagnostics()}`);
        assert.ok(player.keyRequests.every((r) => r.kind === 'hls' && r.withToken));
      } finally {
        await player.close();
      }
    },
  );

  it(
    'recovers from a killed ffmpeg by itself; the playing client carries on without a reload',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const player = await play('manifest.mpd', 'live-crash-viewer');
      try {
        await waitFor(
          'playback to start',
          90_000,
          async () => (await videoState(player.page)).currentTime > 0.5,
        );
        const before = await channel();
        const pid = before.status.encoder.pid as number;
        assert.ok(pid > 0);
        const killedAt = Date.now();
        process.kill(pid, 'SIGKILL');
        const recovered = await waitFor('the channel to publish again', 60_000, async () => {
          const c = await channel();
          return c.status.encoder.restarts >= 1 && c.status.lastSegmentAt > killedAt + 500 ? c : undefined;
        });
        const recoveryMs = recovered.status.lastSegmentAt - killedAt;
        const atRecovery = (await videoState(player.page)).currentTime;
        // The client plays media produced after the restart: past the newest pre-crash segment's end.
        await waitFor('playback to go on past the restart', 90_000, async () => {
          const state = await videoState(player.page);
          if (state.error || state.playerError) throw new Error(`playback failed: ${JSON.stringify(state)}`);
          return state.currentTime > atRecovery + 2 * KEY_PERIOD;
        });
        const e = await edge(player, (await channel()).status.availabilityStartTime);
        console.log(
          `ffmpeg killed: first new segment ${(recoveryMs / 1000).toFixed(1)} s later (encoder run ${recovered.status.encoder.run}); ` +
            `the client went on to ${e.current.toFixed(1)} s, ${e.distance.toFixed(1)} s behind the live edge`,
        );
        assert.ok(recoveryMs < 20_000, `recovery took ${recoveryMs} ms`);
      } finally {
        await player.close();
      }
    },
  );

  it(
    'a ban stops a live session within one key period; after the unban a new session plays',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const session = 'live-banned-viewer';
      // No heartbeat: what stops the session is the origin refusing its next segment or the key server
      // its next key period's license.
      const player = await play('manifest.mpd', session, { heartbeat: false });
      try {
        await waitFor(
          'playback to start',
          90_000,
          async () => (await videoState(player.page)).currentTime > 0.5,
        );
        const ban = await call(`${server.url}/v1/bans`, {
          method: 'POST',
          token: server.apiKey,
          body: { sessionId: session, reason: 'restreaming' },
        });
        assert.equal(ban.status, 201);
        const bannedAt = Date.now();
        const mediaAtBan = (await videoState(player.page)).currentTime;
        // Stopped: the plugin reports the ban (and resets the player); the last media time seen before.
        let lastPlayed = mediaAtBan;
        await waitFor('the plugin to stop the banned session', (KEY_PERIOD + 30) * 1000, async () => {
          const [time, banned] = await player.page.evaluate(() => [
            (window as Untyped).player.currentTime() as number,
            (window as Untyped).vigilEvents.some((e: Untyped) => e.type === 'banned') as boolean,
          ]);
          if (!banned) lastPlayed = Math.max(lastPlayed, time);
          return banned;
        });
        const stoppedAfterMs = Date.now() - bannedAt;
        const t1 = (await videoState(player.page)).currentTime;
        await new Promise((r) => setTimeout(r, 1500));
        const t2 = (await videoState(player.page)).currentTime;
        console.log(
          `ban: playback stopped ${(stoppedAfterMs / 1000).toFixed(1)} s after the ban (key period ${KEY_PERIOD} s), ` +
            `at most ${(lastPlayed - mediaAtBan).toFixed(1)} s of media after it`,
        );
        assert.ok(t2 - t1 < 0.1, `media time still moving after the ban: ${t1} → ${t2}`);
        assert.ok(
          lastPlayed - mediaAtBan <= KEY_PERIOD + 1,
          `played ${lastPlayed - mediaAtBan} s of media after the ban: more than one key period`,
        );
        // Cut off twice over: the origin refuses the session's next segment, the key server its next key.
        const refusedKeys = player.keyRequests.filter((r) => r.status === 403).length;
        const refusedSegments = player.log.filter((l) => /HTTP 403 GET .*\/origin\//.test(l)).length;
        assert.ok(refusedKeys + refusedSegments >= 1, `nothing was refused\n${await player.diagnostics()}`);
        assert.ok(
          stoppedAfterMs < (KEY_PERIOD + 3 * SEGMENT) * 1000 + 5_000,
          `stopped after ${stoppedAfterMs} ms`,
        );
      } finally {
        await player.close();
      }

      const unban = await call(`${server.url}/v1/bans?sessionId=${session}`, { token: server.apiKey });
      const bans = (unban.body as Untyped).bans as Untyped[];
      for (const b of bans.filter((x) => x.value === session)) {
        const del = await call(`${server.url}/v1/bans/${b.id}`, { method: 'DELETE', token: server.apiKey });
        assert.equal(del.status, 204);
      }
      const next = await play('manifest.mpd', `${session}-again`);
      try {
        const { kids0, kids } = await playThroughRotations(next, 1);
        assert.ok(kids >= 1 && kids >= kids0);
      } finally {
        await next.close();
      }
    },
  );

  it('stopping the channel withdraws its keys and its files', { timeout: CASE_TIMEOUT_MS }, async () => {
    const c = await channel();
    // Retention: only the window (24 s) and the retention (10 s) of segments are still on disk.
    const folder = join(server.dataDir!, 'origin', 'default', RESOURCE, 'dash', 'v270');
    const seqs = readdirSync(folder)
      .filter((f) => f.endsWith('.m4s'))
      .map((f) => Number.parseInt(f, 10));
    assert.ok(Math.min(...seqs) > 1, `the first segments are still there: ${seqs.join(',')}`);
    assert.ok(seqs.length <= (24 + 10) / SEGMENT + 3, `${seqs.length} segments on disk`);
    assert.ok(c.status.lastSequence > 24 / SEGMENT + 10 / SEGMENT);
    const kid = await waitFor('a key of the channel', 10_000, async () => {
      const keys = await server.store.listContentKeys('default', RESOURCE);
      return keys[0]?.kid;
    });
    const stop = await call(`${server.url}/v1/live/channels/${CHANNEL}/stop`, {
      method: 'POST',
      token: server.apiKey,
    });
    assert.equal(stop.status, 200);
    assert.equal((stop.body as Untyped).desired, 'stopped');
    assert.equal((await server.store.listContentKeys('default', RESOURCE)).length, 0);
    assert.ok(!existsSync(join(server.dataDir!, 'origin', 'default', RESOURCE)), 'the files are gone');
    const token = await viewerToken(server.secret, {
      resourceId: RESOURCE,
      sessionId: 'after-stop',
      ip: '127.0.0.1',
    });
    const license = await call(`${server.url}/v1/license/clearkey`, {
      method: 'POST',
      token,
      body: { kids: [Buffer.from(kid, 'hex').toString('base64url')], type: 'temporary' },
    });
    assert.ok(license.status >= 400 && license.status < 500, JSON.stringify(license.body));
    assert.ok(c.manifests.dash.endsWith('/manifest.mpd'));
  });
});
