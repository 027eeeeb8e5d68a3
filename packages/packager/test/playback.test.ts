/**
 * Packaged content plays in a real browser (Debian's headless Chromium) with Vigil as its key server:
 * the multi-period CENC DASH with Shaka Player and with dash.js (ClearKey, license URL of the started
 * server, viewer token as a bearer header), and the HLS AES-128 set with hls.js (token as `?token=`),
 * each through at least two key rotations. One clip, one package, one browser for the file.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  launchBrowser,
  openPlayerPage,
  type PlayerLib,
  type PlayerPage,
  type PlayerStart,
  type StaticServer,
  startDashjs,
  startHlsjs,
  startShaka,
  startStaticServer,
  testClip,
  videoScreenshot,
  waitForMediaTime,
} from '../../../test/support/browser.ts';
import { startVigil, type TestServer, tempDir, viewerToken } from '../../../test/support/vigil.ts';
import { type PackageSummary, packageMedia, storeKeySource } from '../src/index.ts';

const CLIP_SECONDS = 24;
const SEGMENT = 2;
/** Segments per key period: a new kid every 4 s of media. */
const KEY_PERIOD = 2;
const KEY_PERIOD_SECONDS = SEGMENT * KEY_PERIOD;
const ROTATIONS = 2;
/** Seconds of media that lie past two key rotations (at 4 s and 8 s). */
const PAST_ROTATIONS = ROTATIONS * KEY_PERIOD_SECONDS + 1;
/** Wall time a player gets to get there: playback ran at 0.1–0.25× real time on this machine. */
const PLAY_TIMEOUT_MS = 150_000;
/** All three players keep up at double speed; it halves the wall time when the machine is quiet. */
const PLAYBACK_RATE = 2;
const CASE_TIMEOUT_MS = PLAY_TIMEOUT_MS + 60_000;
const RESOURCE = 'playback-clip';

/** Granted key requests per endpoint, from the server's Prometheus counter. */
async function grantedCount(server: TestServer, endpoint: 'clearkey' | 'hls'): Promise<number> {
  const text = await (
    await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.apiKey}` } })
  ).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('vigil_license_requests_total{') &&
        l.includes(`endpoint="${endpoint}"`) &&
        l.includes('outcome="granted"'),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('playback in headless Chromium with Vigil as the key server', () => {
  const root = tempDir('vigil-playback-');
  let server: TestServer;
  let statics: StaticServer;
  let launching: Promise<Browser> | undefined;
  let browser: Browser;
  let summary: PackageSummary;
  let sessions = 0;

  before(
    async () => {
      server = await startVigil();
      // The browser starts while the clip is packaged: both are slow here.
      launching = launchBrowser();
      launching.catch(() => {});
      summary = await packageMedia({
        input: await testClip(CLIP_SECONDS),
        out: join(root, 'package'),
        resourceId: RESOURCE,
        scheme: 'cenc',
        segmentDuration: SEGMENT,
        keyPeriod: KEY_PERIOD,
        hlsAes128: true,
        keys: storeKeySource({ store: server.store, tenantId: 'default' }),
        licenseUrlBase: server.url,
        ladder: [{ height: 360, bitrate: 800_000 }],
      });
      statics = await startStaticServer(summary.out);
      browser = await launching;
    },
    { timeout: 600_000 },
  );

  after(async () => {
    // Also a browser whose launch was still under way when `before` failed.
    await (await launching?.catch(() => undefined))?.close();
    await statics?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** The kids of the key periods playback must have passed through, per track kind. */
  function rotationKids(kind: 'video' | 'audio', use: 'cmaf' | 'hls-aes128'): string[] {
    return summary.keys
      .filter((k) => k.use === use && (kind === 'audio') === (k.trackType === 'audio'))
      .filter((k) => k.keyPeriod <= ROTATIONS)
      .map((k) => k.kid);
  }

  async function play(
    lib: PlayerLib,
    manifest: string,
    start: (player: PlayerPage, opts: PlayerStart) => Promise<void>,
    opts: Omit<PlayerStart, 'manifestUrl' | 'token'>,
  ): Promise<PlayerPage> {
    const token = await viewerToken(server.secret, {
      resourceId: RESOURCE,
      sessionId: `playback-${lib}-${++sessions}`,
      ip: '127.0.0.1',
    });
    const player = await openPlayerPage(browser, statics, lib, server.url);
    const began = Date.now();
    try {
      await start(player, {
        manifestUrl: `${statics.mediaUrl}/${manifest}`,
        token,
        playbackRate: PLAYBACK_RATE,
        ...opts,
      });
      const state = await waitForMediaTime(player, PAST_ROTATIONS, PLAY_TIMEOUT_MS);
      const seconds = (Date.now() - began) / 1000;
      console.log(
        `# ${lib}: ${state.currentTime.toFixed(1)} s of media in ${seconds.toFixed(1)} s, ` +
          `${player.keyRequests.length} key requests`,
      );
      assert.equal(state.error, null);
      assert.equal(state.playerError, null);
      // A real, decrypted picture: ClearKey does not hide it from screenshots.
      const shot = join(tmpdir(), `vigil-playback-${lib}.png`);
      const picture = await videoScreenshot(player.page, shot);
      assert.ok(picture.stdev > 20, `the video shows no picture (${shot}): ${JSON.stringify(picture)}`);
    } catch (err) {
      const diagnostics = await player.diagnostics();
      await player.close();
      throw new Error(`${lib}: ${(err as Error).message}\n${diagnostics}`, { cause: err });
    }
    return player;
  }

  /** Every key request carried the token and was granted, and those of the passed key periods were made. */
  async function assertKeyRequests(player: PlayerPage, expectedKids: string[]) {
    const context = await player.diagnostics();
    assert.ok(player.keyRequests.length >= ROTATIONS + 1, `too few key requests\n${context}`);
    for (const r of player.keyRequests) {
      assert.ok(r.withToken, `a key request without the viewer token: ${r.url}`);
      if (r.status !== undefined) assert.equal(r.status, 200, `a key request was refused\n${context}`);
    }
    const granted = player.grantedKids();
    for (const kid of expectedKids)
      assert.ok(granted.has(kid), `no granted key request for kid ${kid}\n${context}`);
  }

  const dashCase =
    (lib: 'shaka' | 'dashjs', start: (player: PlayerPage, opts: PlayerStart) => Promise<void>) =>
    async () => {
      const mpd = await readFile(join(summary.out, 'manifest.mpd'), 'utf8');
      const laurls = [...mpd.matchAll(/<dashif:Laurl[^>]*>([^<]+)</g)].map((m) => m[1]);
      assert.ok(laurls.length > ROTATIONS, 'a license URL per key period');
      for (const url of laurls) assert.equal(url, `${server.url}/v1/license/clearkey`);
      const before = await grantedCount(server, 'clearkey');
      const player = await play(lib, 'manifest.mpd', start, {
        licenseUrl: `${server.url}/v1/license/clearkey`,
      });
      try {
        const video = rotationKids('video', 'cmaf');
        assert.equal(video.length, ROTATIONS + 1);
        await assertKeyRequests(player, [...video, ...rotationKids('audio', 'cmaf')]);
        const granted = (await grantedCount(server, 'clearkey')) - before;
        assert.ok(granted >= ROTATIONS + 1, `the key server granted only ${granted} licenses`);
      } finally {
        await player.close();
      }
    };

  it(
    'Shaka Player plays the multi-period CENC DASH through two key rotations',
    { timeout: CASE_TIMEOUT_MS },
    dashCase('shaka', (p, o) => startShaka(p.page, o)),
  );

  it(
    'dash.js plays the multi-period CENC DASH through two key rotations',
    { timeout: CASE_TIMEOUT_MS },
    dashCase('dashjs', (p, o) => startDashjs(p.page, o)),
  );

  it('hls.js plays the AES-128 HLS through two key rotations', { timeout: CASE_TIMEOUT_MS }, async () => {
    const master = await readFile(join(summary.out, 'master.m3u8'), 'utf8');
    assert.match(master, /hls-aes\//, 'master.m3u8 is the AES-128 set');
    const variant = await readFile(
      join(summary.out, master.split('\n').find((l) => l.endsWith('.m3u8'))!),
      'utf8',
    );
    const keyUris = [...variant.matchAll(/#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(keyUris.length > ROTATIONS, 'a key URI per key period');
    for (const uri of keyUris) assert.match(uri!, new RegExp(`^${server.url}/v1/license/hls/[0-9a-f]{32}$`));
    const before = await grantedCount(server, 'hls');
    const player = await play('hlsjs', 'master.m3u8', (p, o) => startHlsjs(p.page, o), {});
    try {
      const kids = rotationKids('video', 'hls-aes128');
      assert.equal(kids.length, ROTATIONS + 1);
      await assertKeyRequests(player, kids);
      const granted = (await grantedCount(server, 'hls')) - before;
      assert.ok(granted >= ROTATIONS + 1, `the key server granted only ${granted} keys`);
    } finally {
      await player.close();
    }
  });
});
