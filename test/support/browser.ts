/**
 * Playing packages in a real browser for tests: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), one per test file; a small static file server for a package folder and the player
 * bundles (pages come from http://127.0.0.1:<port>, a secure context, as EME requires); and page helpers
 * that record key requests, console and page errors, and wait for media time to advance. The `videojs`
 * page is video.js 8 with Vigil's own plugin (@vigil/player's script bundle, built when missing or stale).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { REPO } from './vigil.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

/** Launches the system Chromium headless; the caller closes it in `after`. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 120_000 });
}

export type PlayerLib = 'shaka' | 'dashjs' | 'hlsjs' | 'videojs';

/** The browser bundles of the players, from the root node_modules. */
export const PLAYER_BUNDLES: Record<PlayerLib, string> = {
  shaka: join(REPO, 'node_modules/shaka-player/dist/shaka-player.compiled.js'),
  dashjs: join(REPO, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
  hlsjs: join(REPO, 'node_modules/hls.js/dist/hls.min.js'),
  videojs: join(REPO, 'node_modules/video.js/dist/video.min.js'),
};

/** Other files the pages load: video.js's stylesheet and @vigil/player's script bundle. */
const PAGE_ASSETS: Record<string, string> = {
  'video-js.css': join(REPO, 'node_modules/video.js/dist/video-js.min.css'),
  'vigil-player.js': join(REPO, 'packages/player/dist/vigil-player.js'),
};

const PLAYER_PACKAGE = join(REPO, 'packages/player');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds @vigil/player's script bundle (dist/ is not committed) when it is missing or older than its
 * sources (its own and the colour codec's), with the package's own build script.
 */
export function ensurePlayerBundle(): string {
  const bundle = PAGE_ASSETS['vigil-player.js']!;
  const sources = Math.max(
    newestMtime(join(PLAYER_PACKAGE, 'src')),
    newestMtime(join(REPO, 'packages/watermark-codec/src')),
    statSync(join(PLAYER_PACKAGE, 'scripts/build.mjs')).mtimeMs,
  );
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= sources) return bundle;
  const res = spawnSync(process.execPath, [join(PLAYER_PACKAGE, 'scripts/build.mjs')], {
    cwd: PLAYER_PACKAGE,
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`building the player bundle failed:\n${res.stdout}${res.stderr}`);
  return bundle;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.mpd': 'application/dash+xml',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.m4a': 'audio/mp4',
  '.ts': 'video/mp2t',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
};

export interface StaticServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Where the served folder's files are: `${mediaUrl}/manifest.mpd`. */
  mediaUrl: string;
  /** The page that loads one player bundle and holds `<video id="video">`. */
  pageUrl(lib: PlayerLib): string;
  close(): Promise<void>;
}

function playerPage(lib: PlayerLib): string {
  if (lib === 'videojs') {
    // video.js wraps the <video>: the player element takes the id "video", the element inside it is
    // the media element (videoState finds it).
    return `<!doctype html>
<html><head><meta charset="utf-8"><title>videojs</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/lib/video-js.css">
<style>html,body{margin:0;background:#000}</style>
<script src="/lib/videojs.js"></script><script src="/lib/vigil-player.js"></script></head>
<body><video id="video" class="video-js" muted playsinline width="640" height="360"></video></body></html>
`;
  }
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${lib}</title><link rel="icon" href="data:,">
<style>html,body{margin:0;background:#000}video{width:640px;height:360px;display:block}</style>
<script src="/lib/${lib}.js"></script></head>
<body><video id="video" muted playsinline width="640" height="360"></video></body></html>
`;
}

/**
 * Serves `root` under /media/, the player bundles under /lib/<lib>.js and player pages under
 * /<lib>.html, on 127.0.0.1 and a random port. Files only, no directory listings, nothing outside `root`.
 */
export async function startStaticServer(root: string): Promise<StaticServer> {
  const base = resolve(root);
  const server: Server = createServer((req, res) => {
    const headers: Record<string, string> = {
      'access-control-allow-origin': '*',
      'cache-control': 'no-store',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...headers,
        'access-control-allow-methods': 'GET, HEAD',
        'access-control-allow-headers': '*',
      });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, headers).end();
      return;
    }
    const page = /^\/(shaka|dashjs|hlsjs|videojs)\.html$/.exec(path);
    if (page) {
      res.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES['.html']! });
      res.end(req.method === 'HEAD' ? undefined : playerPage(page[1] as PlayerLib));
      return;
    }
    let file: string | undefined;
    const lib = /^\/lib\/(shaka|dashjs|hlsjs|videojs)\.js$/.exec(path);
    const asset = /^\/lib\/([\w.-]+)$/.exec(path);
    if (lib) file = PLAYER_BUNDLES[lib[1] as PlayerLib];
    else if (asset && Object.hasOwn(PAGE_ASSETS, asset[1]!)) file = PAGE_ASSETS[asset[1]!];
    else if (path.startsWith('/media/')) {
      const candidate = normalize(join(base, path.slice('/media/'.length)));
      if (candidate.startsWith(base + sep)) file = candidate;
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': String(statSync(file).size),
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    mediaUrl: `${url}/media`,
    pageUrl: (lib) => `${url}/${lib}.html`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** A key request the page made to the key server, as the page saw it. */
export interface KeyRequest {
  kind: 'clearkey' | 'hls';
  url: string;
  /** The kids asked for, 32 lowercase hex digits each. */
  kids: string[];
  /** The answer's status; undefined while pending or when the request failed. */
  status?: number;
  /** Whether the request carried a viewer token (header or `?token=`). */
  withToken: boolean;
  at: number;
}

export interface PlayerPage {
  page: Page;
  keyRequests: KeyRequest[];
  /** Console errors and warnings, page errors, failed requests, non-2xx answers; for failure messages. */
  log: string[];
  /** Distinct kids of key requests the key server granted. */
  grantedKids(): Set<string>;
  /** The page log, key requests and the video element's state, for failure messages. */
  diagnostics(): Promise<string>;
  close(): Promise<void>;
}

/**
 * tsx compiles with esbuild's keepNames, which wraps named inner functions of the callbacks given to
 * `page.evaluate` in `__name(fn, "name")`, a helper that exists only in Node: the page gets a stand-in.
 */
const NAME_SHIM = 'globalThis.__name ??= (fn) => fn;';

/** A URL for the log: the viewer token in `?token=` shortened. */
const loggable = (url: string) => url.replace(/([?&]token=)[^&]+/, '$1…');

const b64urlToHex = (s: string) => Buffer.from(s, 'base64url').toString('hex');

/**
 * Opens a page of `lib`'s player in its own context, recording key requests sent to `keyServerUrl`
 * (ClearKey license POSTs and HLS key GETs) and everything that went wrong.
 */
export async function openPlayerPage(
  browser: Browser,
  statics: StaticServer,
  lib: PlayerLib,
  keyServerUrl: string,
): Promise<PlayerPage> {
  const context = await browser.newContext({ viewport: { width: 640, height: 360 } });
  await context.addInitScript(NAME_SHIM);
  const page = await context.newPage();
  const started = Date.now();
  const log: string[] = [];
  const keyRequests: KeyRequest[] = [];
  const byRequest = new Map<object, KeyRequest>();
  const stamp = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning')
      log.push(`${stamp()} console.${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => log.push(`${stamp()} pageerror: ${err.stack ?? err.message}`));
  page.on('requestfailed', (req) =>
    log.push(
      `${stamp()} request failed: ${req.method()} ${loggable(req.url())} ${req.failure()?.errorText ?? ''}`,
    ),
  );
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(`${keyServerUrl}/v1/license/`) || req.method() === 'OPTIONS') return;
    const path = new URL(url).pathname;
    const withToken =
      /^Bearer \S+/.test(req.headers().authorization ?? '') || new URL(url).searchParams.has('token');
    let entry: KeyRequest | undefined;
    if (path === '/v1/license/clearkey') {
      let kids: string[] = [];
      try {
        kids = (JSON.parse(req.postData() ?? '{}').kids ?? []).map(b64urlToHex);
      } catch {
        log.push(`${stamp()} license request with a body that is not JSON: ${req.postData()}`);
      }
      entry = { kind: 'clearkey', url, kids, withToken, at: Date.now() - started };
    } else if (path.startsWith('/v1/license/hls/')) {
      entry = {
        kind: 'hls',
        url,
        kids: [path.slice('/v1/license/hls/'.length)],
        withToken,
        at: Date.now() - started,
      };
    }
    if (entry) {
      keyRequests.push(entry);
      byRequest.set(req, entry);
    }
  });
  page.on('response', (res) => {
    const entry = byRequest.get(res.request());
    if (entry) entry.status = res.status();
    if (res.status() >= 400)
      log.push(`${stamp()} HTTP ${res.status()} ${res.request().method()} ${loggable(res.url())}`);
  });

  await page.goto(statics.pageUrl(lib), { waitUntil: 'domcontentloaded' });

  return {
    page,
    keyRequests,
    log,
    grantedKids: () =>
      new Set(keyRequests.filter((r) => r.status !== undefined && r.status < 300).flatMap((r) => r.kids)),
    async diagnostics() {
      const video = await videoState(page).catch((err: Error) => ({ unavailable: err.message }));
      const requests = keyRequests.map(
        (r) => `  ${(r.at / 1000).toFixed(1)}s ${r.kind} ${r.status ?? 'pending'} kids=${r.kids.join(',')}`,
      );
      return [
        `video: ${JSON.stringify(video)}`,
        `key requests (${keyRequests.length}):`,
        ...requests,
        `page log (${log.length}):`,
        ...log.slice(-60).map((l) => `  ${l}`),
      ].join('\n');
    },
    close: () => context.close(),
  };
}

export interface VideoState {
  currentTime: number;
  readyState: number;
  paused: boolean;
  ended: boolean;
  playbackRate: number;
  buffered: [number, number][];
  /** `video.error`: MediaError code and message. */
  error: { code: number; message: string } | null;
  /** What the page's player script stored in `window.playerError`. */
  playerError: unknown;
}

/**
 * The `<video id="video">` element's state (or that of the video inside `#video`, video.js's player
 * element) and any error the page's player recorded.
 */
export function videoState(page: Page): Promise<VideoState> {
  return page.evaluate(() => {
    const el = document.getElementById('video')!;
    const v = (el instanceof HTMLVideoElement ? el : el.querySelector('video')) as HTMLVideoElement;
    const buffered: [number, number][] = [];
    for (let i = 0; i < v.buffered.length; i++) buffered.push([v.buffered.start(i), v.buffered.end(i)]);
    return {
      currentTime: v.currentTime,
      readyState: v.readyState,
      paused: v.paused,
      ended: v.ended,
      playbackRate: v.playbackRate,
      buffered,
      error: v.error ? { code: v.error.code, message: v.error.message } : null,
      playerError: (window as unknown as { playerError?: unknown }).playerError ?? null,
    };
  });
}

/**
 * Waits until the video has played past `seconds` of media, failing early on a video or player error,
 * and after `timeoutMs` of wall time. Returns the final state. Failure messages are short: add
 * `player.diagnostics()`.
 */
export async function waitForMediaTime(
  player: PlayerPage,
  seconds: number,
  timeoutMs: number,
): Promise<VideoState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await videoState(player.page);
    if (state.error || state.playerError) {
      throw new Error(`playback failed at ${state.currentTime.toFixed(2)} s`);
    }
    if (state.currentTime > seconds) return state;
    if (Date.now() > deadline) {
      throw new Error(
        `playback reached only ${state.currentTime.toFixed(2)} s of media, not ${seconds} s, in ${timeoutMs / 1000} s`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface PlayerStart {
  manifestUrl: string;
  /** The viewer token the player sends with every key request. */
  token: string;
  /** ClearKey license server (Shaka, dash.js); absent: the player uses what the manifest names. */
  licenseUrl?: string;
  /** video.playbackRate once playing; 1 if not given. */
  playbackRate?: number;
}

/* The player starters below run in the page (see NAME_SHIM), where the players' globals are untyped. */
// biome-ignore lint/suspicious/noExplicitAny: the UMD players' objects and events carry no types here.
type Untyped = any;

/**
 * Shaka Player: the ClearKey license server from `licenseUrl`, and a request filter adding the viewer
 * token to LICENSE requests. A player error lands in `window.playerError`. Like the other starters it
 * returns once loading has begun.
 */
export async function startShaka(page: Page, opts: PlayerStart): Promise<void> {
  await page.evaluate(async (o) => {
    const w = window as Untyped;
    const shaka = w.shaka;
    const video = document.getElementById('video') as HTMLVideoElement;
    shaka.polyfill.installAll();
    const player = new shaka.Player();
    w.player = player;
    await player.attach(video);
    player.addEventListener('error', (event: Untyped) => {
      const e = event.detail;
      w.playerError = { severity: e.severity, category: e.category, code: e.code, data: String(e.data) };
    });
    if (o.licenseUrl) player.configure({ drm: { servers: { 'org.w3.clearkey': o.licenseUrl } } });
    player.getNetworkingEngine().registerRequestFilter((type: number, request: Untyped) => {
      if (type === shaka.net.NetworkingEngine.RequestType.LICENSE) {
        request.headers.Authorization = `Bearer ${o.token}`;
      }
    });
    // Not awaited: a load that never settles (licenses refused and retried) must not hang the test;
    // waitForMediaTime watches for progress and errors.
    player
      .load(o.manifestUrl)
      .then(() => {
        video.playbackRate = o.playbackRate ?? 1;
        return video.play();
      })
      .catch((caught: unknown) => {
        const err = caught as Untyped;
        w.playerError = { load: true, category: err.category, code: err.code, data: String(err.data ?? err) };
      });
  }, opts);
}

/**
 * dash.js: `setProtectionData` with the license server and the viewer token as a header (dash.js sends
 * license requests with credentials). Events by name: the UMD build has no `MediaPlayer.events`.
 */
export async function startDashjs(page: Page, opts: PlayerStart): Promise<void> {
  await page.evaluate((o) => {
    const w = window as Untyped;
    const video = document.getElementById('video') as HTMLVideoElement;
    const player = w.dashjs.MediaPlayer().create();
    w.player = player;
    w.playerWarnings = [];
    player.on('error', (e: Untyped) => {
      w.playerError = { code: e.error?.code, message: e.error?.message, data: String(e.error?.data ?? '') };
    });
    player.on('playbackError', (e: Untyped) => {
      w.playerError = { playbackError: true, error: String(e.error ?? e) };
    });
    player.on('keyError', (e: Untyped) => {
      w.playerError = { keyError: true, error: String(e.error?.message ?? e.error ?? e) };
    });
    player.on('licenseRequestComplete', (e: Untyped) => {
      if (e.error) w.playerError = { licenseRequest: true, error: String(e.error?.message ?? e.error) };
    });
    player.on('canPlay', () => {
      video.playbackRate = o.playbackRate ?? 1;
    });
    player.initialize(video, null, true);
    player.setProtectionData({
      'org.w3.clearkey': {
        ...(o.licenseUrl ? { serverURL: o.licenseUrl } : {}),
        httpRequestHeaders: { Authorization: `Bearer ${o.token}` },
      },
    });
    player.attachSource(o.manifestUrl);
  }, opts);
}

/**
 * hls.js on an AES-128 HLS: `xhrSetup` adds `?token=` to the key URIs (`/v1/license/hls/<kid>`, which
 * take the token from the query since HLS key URIs cannot carry headers). Fatal errors land in
 * `window.playerError`, others in `window.playerWarnings`.
 */
export async function startHlsjs(page: Page, opts: PlayerStart): Promise<void> {
  await page.evaluate((o) => {
    const w = window as Untyped;
    const Hls = w.Hls;
    const video = document.getElementById('video') as HTMLVideoElement;
    w.playerWarnings = [];
    const hls = new Hls({
      xhrSetup: (xhr: XMLHttpRequest, url: string) => {
        if (url.includes('/v1/license/hls/')) {
          const withToken = new URL(url);
          withToken.searchParams.set('token', o.token);
          xhr.open('GET', withToken.toString(), true);
        }
      },
    });
    w.player = hls;
    hls.on(Hls.Events.ERROR, (_event: string, data: Untyped) => {
      const info = {
        type: data.type,
        details: data.details,
        fatal: data.fatal,
        reason: String(data.reason ?? data.error ?? ''),
      };
      if (data.fatal) w.playerError = info;
      else w.playerWarnings.push(info);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      video.playbackRate = o.playbackRate ?? 1;
      void video.play();
    });
    hls.loadSource(o.manifestUrl);
    hls.attachMedia(video);
  }, opts);
}

export interface VideojsStart extends PlayerStart {
  /** The key server (the plugin derives every endpoint from it). */
  server: string;
  /** Source type; default from the manifest's extension. */
  type?: string;
  /** Further `player.vigil` options (bufferAheadSeconds, checkIntervalMs…). */
  vigil?: Record<string, unknown>;
}

/**
 * video.js 8 (VHS, `overrideNative` since Chromium says "maybe" to native HLS) with Vigil's plugin:
 * `player.vigil({ server, token })` handles EME and the HLS key token. The player is `window.player`;
 * a player error lands in `window.playerError`, the plugin's `vigil:*` events in `window.vigilEvents`.
 */
export async function startVideojs(page: Page, opts: VideojsStart): Promise<void> {
  await page.evaluate((o) => {
    const w = window as Untyped;
    w.vigilEvents = [];
    const player = w.videojs('video', { html5: { vhs: { overrideNative: true } }, muted: true });
    w.player = player;
    player.on('error', () => {
      const e = player.error();
      w.playerError = { code: e?.code, message: e?.message };
    });
    for (const type of ['directive', 'banned', 'tamper', 'stopped', 'error']) {
      player.on(`vigil:${type}`, (_event: unknown, detail: Untyped) => {
        w.vigilEvents.push({ type, at: performance.now(), detail: JSON.parse(JSON.stringify(detail ?? {})) });
      });
    }
    player.vigil({ server: o.server, token: o.token, ...o.vigil });
    const type =
      o.type ??
      (new URL(o.manifestUrl || 'x:', location.href).pathname.endsWith('.mpd')
        ? 'application/dash+xml'
        : 'application/x-mpegURL');
    // No manifest URL: the plugin sets the source (its `src` option).
    if (o.manifestUrl) player.src({ src: o.manifestUrl, type });
    player.one('loadedmetadata', () => player.playbackRate(o.playbackRate ?? 1));
    const played = player.play();
    if (played && typeof played.catch === 'function') played.catch(() => {});
  }, opts);
}

/**
 * A test clip (640×360 testsrc2 with its running clock, and a sine tone), generated once per machine
 * into the temporary folder and reused (the packager's playback test makes the same one).
 */
export async function testClip(seconds: number): Promise<string> {
  const dir = join(tmpdir(), 'vigil-playback-test');
  const path = join(dir, `testsrc2-640x360-${seconds}s-sine-v1.mp4`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.${process.pid}.partial.mp4`;
  const res = spawnSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-y'],
      ...['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ...['-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', partial],
    ],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`ffmpeg failed to make the test clip: ${res.stderr}`);
  renameSync(partial, path);
  return path;
}

/**
 * Takes a screenshot of the video element (`selector`, written to `path`) and returns the mean and
 * standard deviation of its luma: a real picture of testsrc2 has a large spread, a black or blank frame
 * none. (A canvas cannot tell: Chromium draws EME-decrypted video to a canvas as black, while screenshots
 * show it.)
 */
export async function videoScreenshot(
  page: Page,
  path: string,
  selector = '#video',
): Promise<{ mean: number; stdev: number }> {
  const png = PNG.sync.read(await page.locator(selector).screenshot({ path }));
  let sum = 0;
  let sq = 0;
  const n = png.width * png.height;
  for (let i = 0; i < png.data.length; i += 4) {
    const y = 0.299 * png.data[i]! + 0.587 * png.data[i + 1]! + 0.114 * png.data[i + 2]!;
    sum += y;
    sq += y * y;
  }
  const mean = sum / n;
  return { mean, stdev: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}
