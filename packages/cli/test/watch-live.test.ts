/**
 * The whole loop on a live restream: a Vigil live channel (keys rotating every 4 s) plays in headless
 * Chromium through video.js and Vigil's plugin for one viewer session, colour mode; the page is
 * captured (periodic screenshots at their wall times) and republished live as HLS by ffmpeg, attacked on
 * the way (360p at 300 kbit/s, a brightness and saturation shift). `vigil watch <URL> --ban --json`
 * against the server's store identifies the session in two disjoint windows and bans it: the ban comes
 * under 60 s from the first watched frame, and the banned session's playback stops.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
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
  VIGIL_BIN,
  viewerToken,
  waitFor,
} from '../../../test/support/vigil.ts';

const CHANNEL = 'match';
const RESOURCE = 'match-live';
const SESSION = 'live-pirate';
const MASTER_KEY = '11'.repeat(32);
const CASE_TIMEOUT_MS = 400_000;

// biome-ignore lint/suspicious/noExplicitAny: the page's player is untyped here.
type Untyped = any;

/** ffmpeg reading JPEG screenshots on stdin at their arrival times, republishing HLS into `dir`. */
function republish(dir: string): ChildProcess {
  return spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-use_wallclock_as_timestamps', '1'],
      ...['-f', 'image2pipe', '-c:v', 'mjpeg', '-i', '-'],
      // The attack: a restreamer's 360p at 300 kbit/s, colours shifted.
      ...['-vf', 'scale=-2:360,eq=brightness=0.04:saturation=1.2,fps=25', '-fps_mode', 'cfr'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-b:v', '300k'],
      ...['-maxrate', '300k', '-bufsize', '600k', '-g', '50', '-pix_fmt', 'yuv420p'],
      ...['-f', 'hls', '-hls_time', '2', '-hls_list_size', '8', '-hls_flags', 'delete_segments'],
      join(dir, 'restream.m3u8'),
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
}

async function serveDir(dir: string): Promise<{ server: Server; base: string }> {
  const types: Record<string, string> = { '.m3u8': 'application/vnd.apple.mpegurl', '.ts': 'video/mp2t' };
  const server = createServer((req, res) => {
    const name = (req.url ?? '').split('?')[0]!.replace(/^\//, '');
    const file = join(dir, name);
    if (!/^[\w.-]+$/.test(name) || !existsSync(file)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(name)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('vigil watch --ban on a live restream of a Vigil live channel', () => {
  let server: TestServer;
  let statics: StaticServer;
  let browser: Browser;
  let player: PlayerPage | undefined;
  let ffmpeg: ChildProcess | undefined;
  let watcher: ChildProcess | undefined;
  let hls: { server: Server; base: string } | undefined;
  let capturing = false;
  let capture: Promise<void> | undefined;
  const hlsDir = tempDir('vigil-live-restream-');

  before(async () => {
    const launching = launchBrowser();
    launching.catch(() => {});
    ensurePlayerBundle();
    server = await startVigil({ live: { minBackoffMs: 300 }, masterKey: MASTER_KEY });
    statics = await startStaticServer(tempDir('vigil-watch-live-page-'));
    const wm = await call(`${server.url}/v1/watermark`, {
      method: 'PUT',
      token: server.apiKey,
      body: { enabled: true, mode: 'color', symbolSeconds: 0.5 },
    });
    assert.equal(wm.status, 200, JSON.stringify(wm.body));
    const res = await call(`${server.url}/v1/live/channels/${CHANNEL}`, {
      method: 'PUT',
      token: server.apiKey,
      body: {
        resourceId: RESOURCE,
        input: 'test',
        ladder: [{ height: 360, bitrate: 800_000 }],
        segmentDuration: 2,
        keyPeriodSeconds: 4,
        windowSeconds: 24,
        retentionSeconds: 10,
        preset: 'ultrafast',
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    browser = await launching;
    await waitFor('the channel to publish', 90_000, async () => {
      const c = await call(`${server.url}/v1/live/channels/${CHANNEL}`, { token: server.apiKey });
      return ((c.body as Untyped).status?.segmentsPublished ?? 0) >= 3;
    });
  });

  after(async () => {
    capturing = false;
    await capture?.catch(() => {});
    watcher?.kill('SIGKILL');
    ffmpeg?.kill('SIGKILL');
    hls?.server.close();
    await player?.close().catch(() => {});
    await browser?.close();
    await statics?.close();
    await server?.close();
  });

  it(
    'identifies the viewer, bans within 60 s of watched footage, and playback stops',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      player = await openPlayerPage(browser, statics, 'videojs', server.url);
      const { page } = player;
      const token = await viewerToken(server.secret, {
        resourceId: RESOURCE,
        sessionId: SESSION,
        ip: '127.0.0.1',
      });
      await startVideojs(page, {
        manifestUrl: '',
        token,
        server: server.url,
        vigil: { src: { src: `/origin/default/${RESOURCE}/manifest.mpd`, type: 'application/dash+xml' } },
      });
      await waitFor('the colour mark on a playing video', 120_000, async () => {
        const state = await videoState(page);
        if (state.error || state.playerError)
          throw new Error(`playback failed: ${await player!.diagnostics()}`);
        const d = await page.evaluate(() => (window as Untyped).player?.vigil?.debug?.() ?? null);
        return state.currentTime > 0.5 && d?.enabled && d.mode === 'color' && d.directive ? true : undefined;
      });

      // The pirate's capture: screenshots as fast as they come, into ffmpeg, out as live HLS.
      ffmpeg = republish(hlsDir);
      const sink = ffmpeg.stdin!;
      sink.on('error', () => {});
      capturing = true;
      let shots = 0;
      capture = (async () => {
        while (capturing) {
          const jpeg = await page.screenshot({ type: 'jpeg', quality: 85 }).catch(() => undefined);
          if (!jpeg || !capturing) break;
          shots++;
          if (!sink.write(jpeg)) await new Promise((r) => sink.once('drain', r));
        }
        sink.end();
      })();
      hls = await serveDir(hlsDir);
      await waitFor('the restream playlist', 60_000, async () => existsSync(join(hlsDir, 'restream.m3u8')));

      const started = Date.now();
      watcher = spawn(
        process.execPath,
        [
          VIGIL_BIN,
          'watch',
          `${hls.base}/restream.m3u8`,
          '--json',
          '--ban',
          '--mode',
          'color',
          '--data',
          server.dataDir!,
        ],
        {
          env: { ...process.env, VIGIL_MASTER_KEY: MASTER_KEY, VIGIL_DEMO: '0' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      watcher.stderr!.on('data', (d) => {
        stderr += d;
      });
      const events: Record<string, Untyped>[] = [];
      createInterface({ input: watcher.stdout! }).on('line', (line) => {
        events.push(JSON.parse(line));
      });
      const banned = await waitFor('the banned event', 240_000, async () => {
        if (watcher!.exitCode !== null) throw new Error(`vigil watch exited ${watcher!.exitCode}: ${stderr}`);
        return events.find((e) => e.event === 'banned');
      });
      const wall = (Date.now() - started) / 1000;
      const identified = events.filter((e) => e.event === 'identified');
      console.log(
        `# banned ${banned.sessionId} at ${banned.atSeconds} s of watched footage (${wall.toFixed(1)} s wall after ` +
          `starting vigil watch); ${identified.length} identifications; ${shots} screenshots captured`,
      );
      for (const e of events)
        if (e.event !== 'banned')
          console.log(
            `#   ${e.event} ${e.atSeconds ?? ''} s ${JSON.stringify(e.window ?? '')} p=${e.falseMatchProbability ?? ''}`,
          );
      assert.equal(banned.sessionId, SESSION);
      assert.ok(identified.length >= 2, JSON.stringify(events));
      assert.ok(
        identified.every((e) => e.sessionId === SESSION),
        JSON.stringify(events),
      );
      assert.ok(banned.atSeconds < 60, `banned at ${banned.atSeconds} s of watched footage`);
      const bans = await call(`${server.url}/v1/bans`, { token: server.apiKey });
      assert.ok(
        bans.body.bans.some((b: Untyped) => b.kind === 'session' && b.value === SESSION),
        JSON.stringify(bans.body),
      );

      // The banned session's playback stops: its next license (or heartbeat) is refused.
      const bannedAt = Date.now();
      const stop = await waitFor('playback to stop', 90_000, async () => {
        const ev = await page.evaluate(() => (window as Untyped).vigilEvents);
        return ev.find((e: { type: string }) => e.type === 'banned' || e.type === 'stopped');
      });
      console.log(
        `# playback stopped ${((Date.now() - bannedAt) / 1000).toFixed(1)} s after the ban (${stop.type})`,
      );
      const t1 = (await videoState(page)).currentTime;
      await new Promise((r) => setTimeout(r, 2000));
      const t2 = (await videoState(page)).currentTime;
      assert.ok(t2 - t1 < 0.5, `playback went on: ${t1} → ${t2}`);
    },
  );
});
