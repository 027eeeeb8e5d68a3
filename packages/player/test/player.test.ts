/**
 * The video.js plugin in headless Chromium against a real Vigil: it plays the packager's multi-period
 * CENC DASH (EME handled by the plugin) and its HLS AES-128 (token added to key URIs) through key
 * rotations; draws the session id over real video frames, moving; restores the mark after each way of
 * hiding it and reports the attempt (or stops playback under the `stop` policy); and stops playback with
 * the ban message when the next license is refused. One clip, one package, one browser, one server.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeTag } from '@vigil/watermark-codec';
import type { Browser, Page, Request } from 'playwright-core';
import { PNG } from 'pngjs';
import {
  ensurePlayerBundle,
  launchBrowser,
  openPlayerPage,
  type PlayerPage,
  type StaticServer,
  startStaticServer,
  startVideojs,
  testClip,
  videoScreenshot,
  videoState,
  waitForMediaTime,
} from '../../../test/support/browser.ts';
import { call, startVigil, type TestServer, tempDir, viewerToken } from '../../../test/support/vigil.ts';
import { type PackageSummary, packageMedia, storeKeySource } from '../../packager/src/index.ts';
import { BANNED_MESSAGE, TAMPER_MESSAGE, type VigilDebug } from '../src/index.ts';

const CLIP_SECONDS = 20;
const SEGMENT = 2;
/** Segments per key period: a new key every 4 s of media. */
const KEY_PERIOD = 2;
const KEY_PERIOD_SECONDS = SEGMENT * KEY_PERIOD;
const ROTATIONS = 2;
/** Seconds of media past two key rotations (at 4 s and 8 s). */
const PAST_ROTATIONS = ROTATIONS * KEY_PERIOD_SECONDS + 1;
/** Playback ran at 0.1–0.25× real time on this machine under load. */
const PLAY_TIMEOUT_MS = 90_000;
const PLAYBACK_RATE = 2;
const CASE_TIMEOUT_MS = 150_000;
const RESOURCE = 'player-clip';

// biome-ignore lint/suspicious/noExplicitAny: the page's video.js player is untyped here.
type Untyped = any;

interface Report {
  authorization: string;
  body: { action?: string; detail?: { kind?: string; check?: string } };
  at: number;
}

describe('the Vigil video.js plugin in headless Chromium', () => {
  const root = tempDir('vigil-player-');
  let server: TestServer;
  let statics: StaticServer;
  let launching: Promise<Browser> | undefined;
  let browser: Browser;
  let summary: PackageSummary;
  let sessions = 0;

  before(
    async () => {
      // The package is also published on the origin (signed delivery), with short-lived tokens.
      server = await startVigil({ config: { originRoot: join(root, 'origin'), deliveryTtlSeconds: 12 } });
      launching = launchBrowser();
      launching.catch(() => {});
      ensurePlayerBundle();
      summary = await packageMedia({
        input: await testClip(CLIP_SECONDS),
        out: join(root, 'origin', 'default', RESOURCE),
        resourceId: RESOURCE,
        scheme: 'cenc',
        segmentDuration: SEGMENT,
        keyPeriod: KEY_PERIOD,
        hlsAes128: true,
        keys: storeKeySource({ store: server.store, tenantId: 'default' }),
        licenseUrlBase: server.url,
        ladder: [{ height: 360, bitrate: 800_000 }],
        preset: 'ultrafast',
      });
      statics = await startStaticServer(summary.out);
      // Quick marks and heartbeats, so the tests see moves and live directive changes in seconds.
      await setWatermark({
        mode: 'text',
        textIntervalSeconds: 2,
        heartbeatSeconds: 2,
        tamperPolicy: 'report',
      });
      browser = await launching;
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await (await launching?.catch(() => undefined))?.close();
    await statics?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function setWatermark(patch: Record<string, unknown>): Promise<void> {
    const res = await call(`${server.url}/v1/watermark`, {
      method: 'PUT',
      token: server.apiKey,
      body: patch,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  interface Session {
    player: PlayerPage;
    page: Page;
    sessionId: string;
    token: string;
    reports: Report[];
    debug(): Promise<VigilDebug>;
    fail(err: unknown): Promise<never>;
  }

  /**
   * A page playing `manifest` (a file of the package, a full URL, or '' for the plugin's `src` option)
   * with the plugin, its own session and token; tamper reports recorded.
   */
  async function open(
    manifest: string,
    name: string,
    vigil: Record<string, unknown> = {},
    setup?: (page: Page) => Promise<unknown>,
  ): Promise<Session> {
    const sessionId = `${name}-${++sessions}`;
    const token = await viewerToken(server.secret, { resourceId: RESOURCE, sessionId, ip: '127.0.0.1' });
    const player = await openPlayerPage(browser, statics, 'videojs', server.url);
    const { page } = player;
    const reports: Report[] = [];
    const started = Date.now();
    page.on('request', (req: Request) => {
      if (req.url() !== `${server.url}/v1/events` || req.method() !== 'POST') return;
      void req.allHeaders().then((headers) => {
        reports.push({
          authorization: headers.authorization ?? '',
          body: JSON.parse(req.postData() ?? '{}'),
          at: Date.now() - started,
        });
      });
    });
    await setup?.(page);
    const session: Session = {
      player,
      page,
      sessionId,
      token,
      reports,
      debug: () => page.evaluate(() => (window as Untyped).player.vigil.debug()),
      async fail(err: unknown): Promise<never> {
        const diagnostics = await player.diagnostics();
        const debug = await session.debug().catch((e: Error) => e.message);
        throw new Error(`${(err as Error).message}\nvigil: ${JSON.stringify(debug)}\n${diagnostics}`, {
          cause: err,
        });
      },
    };
    await startVideojs(page, {
      // '' leaves the source to the plugin (its `src` option); a full URL is used as it is.
      manifestUrl:
        manifest === '' || /^https?:/.test(manifest) ? manifest : `${statics.mediaUrl}/${manifest}`,
      token,
      server: server.url,
      playbackRate: PLAYBACK_RATE,
      vigil,
    });
    return session;
  }

  /** Polls `probe` until it returns a truthy value. */
  async function until<T>(
    what: string,
    probe: () => Promise<T>,
    timeoutMs = 20_000,
  ): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function kidsOf(use: 'cmaf' | 'hls-aes128', kind: 'video' | 'audio'): string[] {
    return summary.keys
      .filter((k) => k.use === use && (kind === 'audio') === (k.trackType === 'audio'))
      .filter((k) => k.keyPeriod <= ROTATIONS)
      .map((k) => k.kid);
  }

  /**
   * Plays `manifest` past two rotations without heartbeats: the directive (the server's 2-second text
   * interval, not the player's default 5) can then only come from license or key answers.
   */
  async function playsThroughRotations(manifest: string, kids: string[]): Promise<void> {
    const s = await open(manifest, manifest.replace(/\W.*/, ''), { heartbeat: false });
    const began = Date.now();
    try {
      const state = await waitForMediaTime(s.player, PAST_ROTATIONS, PLAY_TIMEOUT_MS);
      console.log(
        `# ${manifest}: ${state.currentTime.toFixed(1)} s of media in ${((Date.now() - began) / 1000).toFixed(1)} s, ` +
          `${s.player.keyRequests.length} key requests`,
      );
      const picture = await videoScreenshot(s.page, join(tmpdir(), `vigil-player-${manifest}.png`));
      assert.ok(picture.stdev > 20, `no picture: ${JSON.stringify(picture)}`);
      for (const r of s.player.keyRequests) {
        assert.ok(r.withToken, `a key request without the token: ${r.url}`);
        if (r.status !== undefined) assert.equal(r.status, 200, `a key request was refused: ${r.url}`);
      }
      const granted = s.player.grantedKids();
      for (const kid of kids) assert.ok(granted.has(kid), `no granted key request for ${kid}`);
      const errors = s.player.log.filter((l) => /pageerror|console\.error|VIDEOJS: ERROR/.test(l));
      assert.deepEqual(errors, []);
      const debug = await s.debug();
      assert.equal(debug.directive.sessionId, s.sessionId);
      assert.equal(debug.directive.textIntervalSeconds, 2, 'the directive came with the keys');
      assert.equal(debug.heartbeats, 0);
      assert.equal(debug.text, s.sessionId, 'the mark shows the session id');
      assert.equal(debug.stopped, false);
      assert.equal(
        await s.page.evaluate(() => (window as Untyped).player.tech(true).el().disablePictureInPicture),
        true,
        'picture-in-picture is refused while the mark is on',
      );
      await s.player.close();
    } catch (err) {
      await s.fail(err).finally(() => s.player.close());
    }
  }

  it(
    'plays the multi-period CENC DASH through two key rotations, EME handled by the plugin',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const kids = [...kidsOf('cmaf', 'video'), ...kidsOf('cmaf', 'audio')];
      assert.equal(kids.length, 2 * (ROTATIONS + 1));
      await playsThroughRotations('manifest.mpd', kids);
    },
  );

  it(
    'plays the HLS AES-128 through two key rotations, the token added to key URIs',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const kids = kidsOf('hls-aes128', 'video');
      assert.equal(kids.length, ROTATIONS + 1);
      await playsThroughRotations('master.m3u8', kids);
    },
  );

  it(
    'signed delivery: the plugin gets a delivery token, puts the newest on every origin request and renews it',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const s = await open('', 'delivery', {
        src: { src: `/origin/default/${RESOURCE}/manifest.mpd`, type: 'application/dash+xml' },
        bufferAheadSeconds: 4,
        heartbeat: false,
      });
      const origin: { url: string; token: string | null; status?: number }[] = [];
      s.page.on('response', (res) => {
        const url = new URL(res.url());
        if (url.pathname.startsWith('/origin/') && res.request().method() === 'GET')
          origin.push({ url: url.pathname, token: url.searchParams.get('vd'), status: res.status() });
      });
      try {
        await waitForMediaTime(s.player, 2, PLAY_TIMEOUT_MS);
        // Tokens live 12 s and are renewed at half that: later segments carry a newer one.
        await until(
          'segments fetched with a renewed delivery token',
          async () => new Set(origin.map((o) => o.token)).size >= 2,
          PLAY_TIMEOUT_MS,
        );
        const renewals = await s.page.evaluate(() => (window as Untyped).player.vigil.delivery.renewals);
        assert.ok(renewals >= 1, `renewals: ${renewals}`);
        assert.ok(origin.length > 3, JSON.stringify(origin));
        for (const o of origin) {
          assert.ok(o.token, `an origin request without a delivery token: ${o.url}`);
          assert.equal(o.status, 200, `an origin request was refused: ${o.url}`);
        }
        assert.equal((await s.debug()).stopped, false);
        await s.player.close();
      } catch (err) {
        await s.fail(err).finally(() => s.player.close());
      }
    },
  );

  it(
    'signed delivery: a source URL that carries a delivery token lends it to every segment request',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const signed = await call(`${server.url}/v1/delivery/sign`, {
        token: server.apiKey,
        body: { resourceId: RESOURCE, path: 'master.m3u8' },
      });
      assert.equal(signed.status, 200, JSON.stringify(signed.body));
      const s = await open(signed.body.url, 'signed-url', { heartbeat: false });
      let refused = 0;
      s.page.on('response', (res) => {
        if (new URL(res.url()).pathname.startsWith('/origin/') && res.status() >= 400) refused++;
      });
      try {
        await waitForMediaTime(s.player, 2, PLAY_TIMEOUT_MS);
        assert.equal(refused, 0);
        await s.player.close();
      } catch (err) {
        await s.fail(err).finally(() => s.player.close());
      }
    },
  );

  /** The screenshot of the player element, decoded. */
  async function shot(page: Page, name: string): Promise<PNG> {
    return PNG.sync.read(
      await page.locator('#video').screenshot({ path: join(tmpdir(), `vigil-player-${name}.png`) }),
    );
  }

  /** Of the pixels inside `r` (player px), how many differ between two screenshots by more than `min`. */
  function changed(a: PNG, b: PNG, r: { x: number; y: number; width: number; height: number }, min = 40) {
    let count = 0;
    let total = 0;
    for (let y = Math.max(0, Math.floor(r.y)); y < Math.min(a.height, Math.ceil(r.y + r.height)); y++) {
      for (let x = Math.max(0, Math.floor(r.x)); x < Math.min(a.width, Math.ceil(r.x + r.width)); x++) {
        const i = (y * a.width + x) * 4;
        const d = Math.max(
          Math.abs(a.data[i]! - b.data[i]!),
          Math.abs(a.data[i + 1]! - b.data[i + 1]!),
          Math.abs(a.data[i + 2]! - b.data[i + 2]!),
        );
        total++;
        if (d > min) count++;
      }
    }
    return { count, total, fraction: total ? count / total : 0 };
  }

  it(
    'text mode: the session id is drawn over real video frames at positions that change',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const s = await open('manifest.mpd', 'text');
      try {
        await waitForMediaTime(s.player, 1, PLAY_TIMEOUT_MS);
        // A still frame: between two screenshots only the mark moves.
        await s.page.evaluate(() => (window as Untyped).player.pause());
        await new Promise((r) => setTimeout(r, 300));
        const origin = await s.page.evaluate(() => {
          const r = (window as Untyped).player.el().getBoundingClientRect();
          return { x: r.left, y: r.top };
        });
        const local = (d: VigilDebug) => {
          assert.ok(d.rect, 'the mark is attached');
          return {
            x: d.rect.x - origin.x,
            y: d.rect.y - origin.y,
            width: d.rect.width,
            height: d.rect.height,
          };
        };
        // A screenshot with the mark known to be at one place all along (it moves every 2 s).
        const stillShot = (name: string, minMoves: number) =>
          until(`a screenshot of the mark after ${minMoves} moves`, async () => {
            const before = await s.debug();
            if (before.moves < minMoves) return undefined;
            const png = await shot(s.page, name);
            const after = await s.debug();
            return after.moves === before.moves ? { debug: before, png } : undefined;
          });
        const { debug: first, png: shot1 } = await stillShot('text-1', 0);
        const { debug: second, png: shot2 } = await stillShot('text-2', first.moves + 1);
        assert.equal(first.text, s.sessionId);
        assert.equal(second.text, s.sessionId);
        const r1 = local(first);
        const r2 = local(second);
        assert.ok(
          Math.abs(r1.x - r2.x) > 8 || Math.abs(r1.y - r2.y) > 8,
          `the mark did not move: ${JSON.stringify([r1, r2])}`,
        );
        // Real frames: testsrc2's picture has a large spread of luma.
        const stats = await videoScreenshot(s.page, join(tmpdir(), 'vigil-player-text-3.png'));
        assert.ok(stats.stdev > 20, `no picture: ${JSON.stringify(stats)}`);
        // The mark changes the picture where it is and was, and nothing else changes.
        const at1 = changed(shot1, shot2, r1);
        const at2 = changed(shot1, shot2, r2);
        assert.ok(at1.fraction > 0.08, `little of the mark at its first place: ${JSON.stringify(at1)}`);
        assert.ok(at2.fraction > 0.08, `little of the mark at its second place: ${JSON.stringify(at2)}`);
        const all = changed(shot1, shot2, { x: 0, y: 0, width: shot1.width, height: shot1.height });
        assert.ok(
          all.count - at1.count - at2.count < 0.002 * all.total,
          `pixels changed away from the mark: ${all.count - at1.count - at2.count}`,
        );
        await s.player.close();
      } catch (err) {
        await s.fail(err).finally(() => s.player.close());
      }
    },
  );

  it(
    'colour mode, switched on live: the box at its place showing the sequence; fullscreen keeps the mark, picture-in-picture is refused',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const s = await open('manifest.mpd', 'color');
      try {
        await waitForMediaTime(s.player, 0.5, PLAY_TIMEOUT_MS);
        await s.page.evaluate(() => (window as Untyped).player.pause());
        const box = { x: 10, y: 15, width: 8, height: 12 };
        await setWatermark({ mode: 'color', box, symbolSeconds: 2 });
        const d = await until(
          'colour mode to arrive with a heartbeat',
          async () => {
            const debug = await s.debug();
            return debug.mode === 'color' && debug.color ? debug : undefined;
          },
          30_000,
        );
        assert.equal(typeof d.directive.colorTag, 'number', 'the server sends the colour tag');
        assert.deepEqual(d.sequence, encodeTag(d.directive.colorTag!), "the codec's sequence of the tag");
        const pic = d.picture!;
        const rect = d.rect!;
        const near = (a: number, b: number) => Math.abs(a - b) <= 1;
        assert.ok(
          near(rect.x, pic.x + (pic.width * box.x) / 100) &&
            near(rect.y, pic.y + (pic.height * box.y) / 100) &&
            near(rect.width, (pic.width * box.width) / 100) &&
            near(rect.height, (pic.height * box.height) / 100),
          `the box is not where the directive puts it: ${JSON.stringify({ rect, pic })}`,
        );
        // The screenshot shows the symbol of the moment in the box (retried across a symbol change).
        const origin = await s.page.evaluate(() => {
          const r = (window as Untyped).player.el().getBoundingClientRect();
          return { x: r.left, y: r.top };
        });
        await until('a screenshot within one symbol', async () => {
          const before = await s.debug();
          const png = await shot(s.page, 'color');
          const after = await s.debug();
          if (before.symbolIndex !== after.symbolIndex) return undefined;
          const x = Math.round(rect.x - origin.x + rect.width / 2);
          const y = Math.round(rect.y - origin.y + rect.height / 2);
          const i = (y * png.width + x) * 4;
          const pixel = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
          const diff = Math.max(...pixel.map((v, k) => Math.abs(v - after.color![k]!)));
          assert.ok(diff <= 8, `the box shows ${pixel}, not ${after.color}`);
          return true;
        });
        // Fullscreen (the player element, as video.js does it) keeps the mark inside and on top.
        const cdp = await s.page.context().newCDPSession(s.page);
        const gesture = async (expression: string) =>
          (await cdp.send('Runtime.evaluate', { expression, userGesture: true, awaitPromise: true })).result
            .value as unknown;
        await gesture('player.requestFullscreen()');
        await until('fullscreen', () =>
          s.page.evaluate(() => document.fullscreenElement === (window as Untyped).player.el()),
        );
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(
          await s.page.evaluate(() => {
            const tag = (window as Untyped).player.vigil.debug().tag;
            return [...document.fullscreenElement!.children].some((c) => c.tagName.toLowerCase() === tag);
          }),
          'the mark is not in the fullscreen element',
        );
        assert.ok(await markOnTop(s.page), 'the mark is not on top in fullscreen');
        assert.equal((await s.debug()).restores, 0, 'fullscreen is not tampering');
        const pip = await gesture(
          'player.tech(true).el().requestPictureInPicture().then(() => "entered", (e) => e.name)',
        );
        // The element refuses (disablePictureInPicture), before any check of PiP support.
        assert.equal(pip, 'InvalidStateError', 'picture-in-picture was not refused while watermarking');
        await gesture('document.exitFullscreen()');
        await s.player.close();
      } catch (err) {
        await s.fail(err).finally(() => s.player.close());
      } finally {
        await setWatermark({ mode: 'text' });
      }
    },
  );

  /** Attacks on the mark through the player element's children (the shadow root itself is closed). */
  const ATTACKS: { name: string; check: string; attack: string }[] = [
    { name: 'removing the element', check: 'attached', attack: 'host.remove()' },
    { name: 'display:none', check: 'display', attack: "host.style.display = 'none'" },
    { name: 'visibility:hidden', check: 'visibility', attack: "host.style.visibility = 'hidden'" },
    { name: 'opacity:0', check: 'opacity', attack: "host.style.opacity = '0'" },
    {
      name: 'transform off-screen',
      check: 'transform',
      attack: "host.style.transform = 'translate(-9999px)'",
    },
    { name: 'clip-path', check: 'clip-path', attack: "host.style.clipPath = 'inset(100%)'" },
    { name: 'filter: opacity(0)', check: 'filter', attack: "host.style.filter = 'opacity(0)'" },
    {
      name: 'a cover with a higher z-index',
      check: 'covered',
      attack: `const cover = document.createElement('div');
        cover.id = 'cover';
        cover.style.cssText = 'position:absolute;inset:0;background:#000;z-index:2147483647';
        el.append(cover)`,
    },
  ];

  /** Runs an attack on the current host in the page; returns the host's tag before it. */
  async function attack(s: Session, code: string): Promise<string> {
    return s.page.evaluate((source) => {
      const player = (window as Untyped).player;
      const el = player.el() as HTMLElement;
      const tag = player.vigil.debug().tag as string;
      const host = [...el.children].find((c) => c.tagName.toLowerCase() === tag) as HTMLElement;
      if (!host) throw new Error('no mark host among the player element children');
      new Function('host', 'el', source)(host, el);
      return tag;
    }, code);
  }

  /** The element hit-testing finds at the centre of the mark is the (current) host. */
  function markOnTop(page: Page): Promise<boolean> {
    return page.evaluate(() => {
      const d = (window as Untyped).player.vigil.debug();
      if (!d.rect) return false;
      const top = document.elementFromPoint(d.rect.x + d.rect.width / 2, d.rect.y + d.rect.height / 2);
      return !!top && top.tagName.toLowerCase() === d.tag && getComputedStyle(top).display !== 'none';
    });
  }

  it(
    'tamper guard: each attack on the mark is undone and reported; under the stop policy playback stops',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const s = await open('manifest.mpd', 'tamper');
      try {
        await waitForMediaTime(s.player, 0.5, PLAY_TIMEOUT_MS);
        await until('the mark', () => markOnTop(s.page));
        const timings: string[] = [];
        for (const a of ATTACKS) {
          const before = await s.debug();
          const began = Date.now();
          const oldTag = await attack(s, a.attack);
          const after = await until(`restoring after ${a.name}`, async () => {
            const d = await s.debug();
            return d.restores > before.restores && d.tag !== oldTag && (await markOnTop(s.page))
              ? d
              : undefined;
          });
          const report = await until(`a report of ${a.name}`, async () =>
            s.reports.find((r) => r.body.detail?.check === a.check),
          );
          timings.push(`${a.check} ${Date.now() - began} ms`);
          assert.equal(report.authorization, `Bearer ${s.token}`);
          assert.deepEqual(report.body, {
            action: 'suspiciousActivity',
            detail: { kind: 'tamper', check: a.check },
          });
          assert.equal(after.stopped, false);
          assert.ok(after.rect && after.rect.width > 0, 'the restored mark has a size');
        }
        console.log(`# restored and reported: ${timings.join(', ')}`);
        // The reports reached the server: the session's access log has each of them.
        const logged = await call(
          `${server.url}/v1/access-logs?sessionId=${s.sessionId}&action=suspiciousActivity&limit=1000`,
          { token: server.apiKey },
        );
        assert.equal(logged.status, 200);
        const checks = new Set(
          logged.body.entries.map((e: { metadata: { check: string } }) => e.metadata.check),
        );
        for (const a of ATTACKS) assert.ok(checks.has(a.check), `the server logged no ${a.check} report`);
        // The mark stays over the cover; the old hosts are gone.
        assert.equal(await s.page.evaluate(() => document.querySelectorAll('#cover').length), 1);
        assert.ok(await markOnTop(s.page));
        // A stylesheet cannot hide it either: the shadow root's important declarations win.
        const tag = (await s.debug()).tag!;
        await s.page.addStyleTag({ content: `${tag} { display: none !important; opacity: 0 !important; }` });
        await new Promise((r) => setTimeout(r, 700));
        assert.ok(await markOnTop(s.page), 'a page stylesheet hid the mark');
        // The same kind again within 5 s: undone, but not reported twice.
        const displayReports = () => s.reports.filter((r) => r.body.detail?.check === 'display').length;
        const before = await s.debug();
        await attack(s, "host.style.display = 'none'");
        await until('restoring again', async () => (await s.debug()).restores > before.restores);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(displayReports(), 1, 'reports of one kind are debounced');

        // Policy `stop`, picked up live from a heartbeat: the next attack stops playback.
        await setWatermark({ tamperPolicy: 'stop' });
        await until(
          'the stop policy to arrive',
          async () => (await s.debug()).directive.tamperPolicy === 'stop',
          PLAY_TIMEOUT_MS,
        );
        await attack(s, "host.style.opacity = '0'");
        const stopped = await until('playback to stop', async () => {
          const d = await s.debug();
          return d.stopped ? d : undefined;
        });
        assert.equal(stopped.stopReason, 'tamper');
        assert.equal(stopped.message, TAMPER_MESSAGE);
        assert.equal(
          await s.page.evaluate(
            () => (window as Untyped).player.el().querySelector('.vigil-message')?.textContent,
          ),
          TAMPER_MESSAGE,
        );
        const state = await videoState(s.page);
        assert.equal(state.paused, true);
        await new Promise((r) => setTimeout(r, 1000));
        const later = await videoState(s.page);
        assert.equal(later.currentTime, state.currentTime, 'the video went on after the stop');
        assert.ok(
          (await s.page.evaluate(() => (window as Untyped).vigilEvents)).some(
            (e: { type: string; detail: { check?: string } }) =>
              e.type === 'tamper' && e.detail.check === 'opacity',
          ),
        );
        await s.player.close();
      } catch (err) {
        await s.fail(err).finally(() => s.player.close());
      } finally {
        await setWatermark({ tamperPolicy: 'report' });
      }
    },
  );

  it(
    'a ban while playing stops playback within one key period when the next license is refused',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      // Heartbeats cannot reach the server: only the license path can tell the player.
      const s = await open('manifest.mpd', 'ban', { bufferAheadSeconds: 3 }, (page) =>
        page.route(`${server.url}/v1/heartbeat`, (route) => route.abort()),
      );
      try {
        await waitForMediaTime(s.player, 2.5, PLAY_TIMEOUT_MS);
        const res = await call(`${server.url}/v1/bans`, {
          token: server.apiKey,
          body: { sessionId: s.sessionId, reason: 'restreaming' },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        // The ban is in force once the call returns: count from the media time then (unless playback
        // already stopped, which resets the player's time).
        const then = await s.page.evaluate(() => ({
          time: (window as Untyped).player.currentTime() as number,
          stopped: (window as Untyped).player.vigil.debug().stopped as boolean,
        }));
        const stopped = await until(
          'playback to stop',
          async () => {
            const events = await s.page.evaluate(() => (window as Untyped).vigilEvents);
            return events.find((e: { type: string }) => e.type === 'banned') as
              | { detail: { mediaTime: number; message: string } }
              | undefined;
          },
          PLAY_TIMEOUT_MS,
        );
        const stoppedAt = stopped.detail.mediaTime;
        const bannedAt = then.stopped ? stoppedAt : then.time;
        console.log(`# banned at ${bannedAt.toFixed(2)} s of media, stopped at ${stoppedAt.toFixed(2)} s`);
        assert.ok(
          stoppedAt - bannedAt <= KEY_PERIOD_SECONDS,
          `playback went on for ${(stoppedAt - bannedAt).toFixed(2)} s of media after the ban`,
        );
        assert.equal(stopped.detail.message, BANNED_MESSAGE);
        const debug = await s.debug();
        assert.equal(debug.stopped, true);
        assert.equal(debug.message, BANNED_MESSAGE);
        assert.equal(
          await s.page.evaluate(
            () => (window as Untyped).player.el().querySelector('.vigil-message')?.textContent,
          ),
          BANNED_MESSAGE,
        );
        // It was a license refusal (heartbeats were blocked), and nothing of the refused key period played.
        const refused = s.player.keyRequests.filter((r) => r.status === 403);
        assert.ok(refused.length >= 1, 'a license request was refused');
        const refusedPeriods = summary.keys
          .filter((k) => refused.some((r) => r.kids.includes(k.kid)))
          .map((k) => k.keyPeriod);
        assert.ok(refusedPeriods.length > 0, "the refused kids are the package's");
        const firstRefused = Math.min(...refusedPeriods) * KEY_PERIOD_SECONDS;
        assert.ok(
          stoppedAt <= firstRefused + 0.1,
          `played ${stoppedAt.toFixed(2)} s, into the refused key period from ${firstRefused} s`,
        );
        const state = await videoState(s.page);
        assert.equal(state.paused, true);
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(
          (await videoState(s.page)).currentTime,
          state.currentTime,
          'the video went on after the ban',
        );
        await s.player.close();
      } catch (err) {
        await s.fail(err).finally(() => s.player.close());
      }
    },
  );
});
