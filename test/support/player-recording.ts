/**
 * Recordings of the real player for the leak detector's tests and benchmark: one Vigil (embedded store),
 * headless Chromium playing a packaged colourful clip (testsrc2, CENC DASH) through video.js and Vigil's
 * plugin for one viewer session, in colour or text mode; the page is captured with periodic screenshots,
 * each stamped with its wall time, and the screenshots are assembled by ffmpeg into a constant-frame-rate
 * MP4 that keeps the wall-time spacing (the watermark runs on wall time, not on media time).
 *
 * A recording is cached in the OS temporary folder, keyed by its parameters, together with the store the
 * server used (the session's access log and its colour tag → session row) and that store's master key
 * (`<dataDir>/master.key`), so `vigil detect --data <copy of dataDir>` finds the session as a real
 * deployment would. Copy `dataDir` before writing to it: the cache is shared.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WatermarkConfig } from '@vigil/core';
import type { Page } from 'playwright-core';
import { packageMedia, storeKeySource } from '../../packages/packager/src/index.ts';
import {
  ensurePlayerBundle,
  launchBrowser,
  openPlayerPage,
  startStaticServer,
  startVideojs,
  testClip,
  waitForMediaTime,
} from './browser.ts';
import { call, startVigil, tempDir, viewerToken } from './vigil.ts';

/** Bump when the way recordings are made changes: old cache entries are then ignored. */
const RECORDING_VERSION = 1;
/** The master key of the recording's store (startVigil's default), also written to `master.key`. */
export const RECORDING_MASTER_KEY = '11'.repeat(32);
const RESOURCE_ID = 'recorded-clip';

export interface RecordingOptions {
  mode: 'color' | 'text';
  sessionId: string;
  /** Wall seconds captured. */
  seconds: number;
  /** The output's frame rate; default 25. */
  fps?: number;
  /** Colour mode: seconds a symbol (default 0.5) and the box (default the tenant default's). */
  symbolSeconds?: number;
  box?: { x: number; y: number; width: number; height: number };
  /** Text mode: seconds between jumps of the id (default 5) and its opacity (default 0.6). */
  textIntervalSeconds?: number;
  textOpacity?: number;
  /**
   * `player`: the 640×360 player is the whole capture. `page`: a 1024×640 page in which the player is
   * one element among a header, a sidebar and other colourful content.
   */
  layout?: 'player' | 'page';
}

export interface Recording {
  /** The MP4 (H.264, yuv420p, constant frame rate). */
  path: string;
  /** The store the serving Vigil used (SQLite), with `master.key`. Copy before writing. */
  dataDir: string;
  masterKey: string;
  tenantId: string;
  sessionId: string;
  /** The session's colour tag (what colour mode shows), as the server gave it to the player. */
  colorTag: number;
  /** The tenant's watermark config while recording. */
  watermark: WatermarkConfig;
  /** The output's duration (s) and frame rate. */
  seconds: number;
  fps: number;
  /** Screenshots taken, and their median spacing (ms). */
  captures: number;
  medianCaptureMs: number;
  layout: 'player' | 'page';
  /** Where the video picture was in the capture (px), from the plugin's own geometry. */
  picture: { x: number; y: number; width: number; height: number };
}

// biome-ignore lint/suspicious/noExplicitAny: the page's video.js player is untyped here.
type Untyped = any;

function cacheKey(opts: RecordingOptions): string {
  const norm = {
    v: RECORDING_VERSION,
    mode: opts.mode,
    sessionId: opts.sessionId,
    seconds: opts.seconds,
    fps: opts.fps ?? 25,
    symbolSeconds: opts.symbolSeconds ?? 0.5,
    box: opts.box ?? null,
    textIntervalSeconds: opts.textIntervalSeconds ?? 5,
    textOpacity: opts.textOpacity ?? 0.6,
    layout: opts.layout ?? 'player',
  };
  return createHash('sha256').update(JSON.stringify(norm)).digest('hex').slice(0, 16);
}

export const RECORDINGS_DIR = join(tmpdir(), 'vigil-recordings');

/** The cached recording for `opts`, made first if missing (about `seconds` plus a minute or two). */
export async function playerRecording(opts: RecordingOptions): Promise<Recording> {
  const dir = join(RECORDINGS_DIR, `${opts.mode}-${opts.layout ?? 'player'}-${cacheKey(opts)}`);
  const metaFile = join(dir, 'recording.json');
  if (existsSync(metaFile)) return JSON.parse(readFileSync(metaFile, 'utf8')) as Recording;
  mkdirSync(RECORDINGS_DIR, { recursive: true });
  const work = tempDir('vigil-recording-');
  try {
    const meta = await record(opts, work, dir);
    writeFileSync(join(work, 'recording.json'), JSON.stringify(meta, null, 2));
    try {
      renameSync(work, dir);
    } catch (err) {
      // Another process made the same recording meanwhile: use that one.
      if (!existsSync(metaFile)) throw err;
    }
    return JSON.parse(readFileSync(metaFile, 'utf8')) as Recording;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A copy of a recording's store in a new temporary folder, to write to (bans); the caller removes it. */
export function copyRecordingStore(rec: Recording): string {
  const copy = tempDir('vigil-recording-store-');
  cpSync(rec.dataDir, copy, { recursive: true });
  return copy;
}

async function record(opts: RecordingOptions, work: string, finalDir: string): Promise<Recording> {
  const fps = opts.fps ?? 25;
  const layout = opts.layout ?? 'player';
  const dataDir = join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'master.key'), `${RECORDING_MASTER_KEY}\n`, { mode: 0o600 });
  const launching = launchBrowser();
  launching.catch(() => {});
  const server = await startVigil({ dataDir, masterKey: RECORDING_MASTER_KEY });
  let statics: Awaited<ReturnType<typeof startStaticServer>> | undefined;
  try {
    ensurePlayerBundle();
    const input = await testClip(30);
    await packageMedia({
      input,
      resourceId: RESOURCE_ID,
      segmentDuration: 2,
      ladder: [{ height: 360, bitrate: 800_000 }],
      preset: 'ultrafast',
      out: join(work, 'media', 'cenc'),
      scheme: 'cenc',
      keyPeriod: 5,
      keys: storeKeySource({ store: server.store, tenantId: 'default' }),
      licenseUrlBase: server.url,
    });
    statics = await startStaticServer(join(work, 'media'));
    const watermark =
      opts.mode === 'color'
        ? {
            enabled: true,
            mode: 'color',
            symbolSeconds: opts.symbolSeconds ?? 0.5,
            ...(opts.box ? { box: opts.box } : {}),
          }
        : {
            enabled: true,
            mode: 'text',
            textIntervalSeconds: opts.textIntervalSeconds ?? 5,
            textOpacity: opts.textOpacity ?? 0.6,
          };
    const put = await call(`${server.url}/v1/watermark`, {
      method: 'PUT',
      token: server.apiKey,
      body: watermark,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const config = await server.store.getWatermarkConfig('default');

    const browser = await launching;
    const player = await openPlayerPage(browser, statics, 'videojs', server.url);
    try {
      const { page } = player;
      if (layout === 'page') await pageLayout(page);
      const token = await viewerToken(server.secret, {
        resourceId: RESOURCE_ID,
        sessionId: opts.sessionId,
        ip: '127.0.0.1',
      });
      await startVideojs(page, {
        manifestUrl: `${statics.mediaUrl}/cenc/manifest.mpd`,
        token,
        server: server.url,
      });
      await waitForMediaTime(player, 0.1, 120_000);
      const debug = await waitForMark(page, opts.mode);
      const frames = join(work, 'frames');
      mkdirSync(frames, { recursive: true });
      const shots: { file: string; t: number }[] = [];
      const began = Date.now();
      while (Date.now() - began < opts.seconds * 1000 + 500) {
        const t0 = Date.now();
        const file = join(frames, `${String(shots.length).padStart(6, '0')}.jpg`);
        await page.screenshot({ path: file, type: 'jpeg', quality: 92 });
        shots.push({ file, t: (t0 + Date.now()) / 2 });
      }
      const spacing = shots
        .slice(1)
        .map((s, i) => s.t - shots[i]!.t)
        .sort((a, b) => a - b);
      const medianCaptureMs = spacing[Math.floor(spacing.length / 2)] ?? 0;
      const out = join(work, 'recording.mp4');
      assemble(shots, out, fps, opts.seconds, join(work, 'frames.txt'));
      rmSync(frames, { recursive: true, force: true });
      await player.close();
      return {
        path: join(finalDir, 'recording.mp4'),
        dataDir: join(finalDir, 'data'),
        masterKey: RECORDING_MASTER_KEY,
        tenantId: 'default',
        sessionId: opts.sessionId,
        colorTag: debug.directive.colorTag,
        watermark: config,
        seconds: opts.seconds,
        fps,
        captures: shots.length,
        medianCaptureMs,
        layout,
        picture: debug.picture,
      };
    } catch (err) {
      const diagnostics = await player.diagnostics().catch(() => '');
      await player.close().catch(() => {});
      throw new Error(`${(err as Error).message}\n${diagnostics}`, { cause: err });
    }
  } finally {
    await (await launching.catch(() => undefined))?.close();
    await statics?.close();
    await server.close();
    // Only the recording and the store are kept.
    rmSync(join(work, 'media'), { recursive: true, force: true });
    rmSync(join(work, 'frames.txt'), { force: true });
  }
}

interface MarkDebug {
  directive: { colorTag: number };
  picture: { x: number; y: number; width: number; height: number };
}

/** Waits until the plugin shows the mark (the first license answer carried the directive). */
async function waitForMark(page: Page, mode: 'color' | 'text'): Promise<MarkDebug> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const d = await page.evaluate(() => {
      const v = (window as Untyped).player?.vigil;
      return v?.debug ? v.debug() : null;
    });
    if (d?.enabled && d.mode === mode && d.rect && d.directive) return d as MarkDebug;
    if (Date.now() > deadline) throw new Error(`the ${mode} mark did not appear: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A 1024×640 page: header, sidebar, colourful tiles, with the 640×360 player placed among them. */
async function pageLayout(page: Page): Promise<void> {
  await page.setViewportSize({ width: 1024, height: 640 });
  await page.evaluate(() => {
    const style = document.createElement('style');
    style.textContent = [
      'html,body{background:#f4f1ea;font:16px sans-serif;color:#222}',
      '#vigil-rec-header{position:absolute;left:0;top:0;width:1024px;height:90px;background:linear-gradient(90deg,#1d3557,#e63946);color:#fff;font-size:34px;line-height:90px;padding-left:30px;box-sizing:border-box}',
      '#vigil-rec-side{position:absolute;left:700px;top:120px;width:300px;height:480px;display:grid;grid-template-columns:1fr 1fr;gap:10px}',
      '#vigil-rec-side div{border-radius:8px}',
      '#video{position:absolute !important;left:40px;top:150px}',
      '#vigil-rec-caption{position:absolute;left:40px;top:525px;width:640px;font-size:20px}',
    ].join('\n');
    document.head.append(style);
    const header = document.createElement('div');
    header.id = 'vigil-rec-header';
    header.textContent = 'Free sports streams — live now';
    const side = document.createElement('div');
    side.id = 'vigil-rec-side';
    const colours = ['#2a9d8f', '#e9c46a', '#f4a261', '#264653', '#8ecae6', '#ffb703', '#fb8500', '#219ebc'];
    for (const c of colours) {
      const tile = document.createElement('div');
      tile.style.background = c;
      side.append(tile);
    }
    const caption = document.createElement('div');
    caption.id = 'vigil-rec-caption';
    caption.textContent = 'Match of the day · 12,345 watching · chat below';
    document.body.append(header, side, caption);
  });
}

/** Screenshots at their wall times → an MP4 of `seconds` at `fps` (each frame shown until the next). */
function assemble(
  shots: { file: string; t: number }[],
  out: string,
  fps: number,
  seconds: number,
  list: string,
) {
  assert.ok(shots.length >= 2, 'at least two screenshots');
  const lines = ['ffconcat version 1.0'];
  for (let i = 0; i < shots.length; i++) {
    const next = shots[i + 1]?.t ?? shots[i]!.t + 1000 / fps;
    lines.push(`file '${shots[i]!.file}'`, `duration ${((next - shots[i]!.t) / 1000).toFixed(4)}`);
  }
  lines.push(`file '${shots.at(-1)!.file}'`);
  writeFileSync(list, `${lines.join('\n')}\n`);
  const res = spawnSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list],
      ...['-vf', `fps=${fps},format=yuv420p`, '-t', String(seconds)],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-movflags', '+faststart', out],
    ],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`ffmpeg failed to assemble the recording: ${res.stderr}`);
}
