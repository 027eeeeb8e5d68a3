/**
 * The built console in headless Chromium against a real Vigil (one server with live channels, one
 * browser), found by role and accessible name as an operator's assistive technology would: sign in
 * (a wrong password first), the watermark switched off and on and moved in colour mode as an open player
 * picks it up, a playing session banned (it stops) and unbanned, a live channel created, stopped and
 * started, an API key created (shown once, working) and revoked, a readonly operator's refusal, an
 * ended session and a server that went away. Screenshots of every page at desktop and phone width go to
 * test-artifacts/console/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { PlayerPage } from '../../../test/support/browser.ts';
import { playerRecording, type Recording } from '../../../test/support/player-recording.ts';
import { type PlayerRig, startPlayerRig } from '../../../test/support/player-rig.ts';
import { call, REPO, waitFor } from '../../../test/support/vigil.ts';
import { ensureConsoleBuild } from './build.ts';

const ARTIFACTS = join(REPO, 'test-artifacts/console');
const ADMIN = { name: 'alice', password: 'correct horse battery 9' };
const READONLY = { name: 'rita', password: 'readonly staple 42 x' };
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

// biome-ignore lint/suspicious/noExplicitAny: the plugin's debug object is read as the page gives it
type Untyped = any;

describe('console in the browser', { timeout: 300_000 }, () => {
  let rig: PlayerRig;
  let context: BrowserContext;
  let page: Page;
  let player: PlayerPage | undefined;
  let url = '';
  let rec: Recording;

  before(
    async () => {
      ensureConsoleBuild();
      mkdirSync(ARTIFACTS, { recursive: true });
      // A recording of the real player in colour mode for session leaker-7 (cached, shared with the
      // detections test). This server has the recording server's master key (startVigil's default), so
      // leaker-7's colour tag is the same here once it has played (the leak tracing test plays it).
      rec = await playerRecording({ mode: 'color', sessionId: 'leaker-7', seconds: 20 });
      rig = await startPlayerRig({
        prefix: 'vigil-console-e2e-',
        resourceId: 'match',
        clipSeconds: 12,
        segmentDuration: 2,
        keyPeriod: 3,
        vigil: {
          masterKey: rec.masterKey,
          live: { minBackoffMs: 500 },
          // The watched restream is served from 127.0.0.1 here.
          config: { detectOutbound: { allowPrivate: true } },
        },
      });
      url = rig.server.url;
      for (const op of [
        { ...ADMIN, role: 'admin' },
        { ...READONLY, role: 'readonly' },
      ]) {
        const res = await call(`${url}/v1/operators`, { token: rig.server.apiKey, body: op });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      await rig.setWatermark({ enabled: true, mode: 'text', heartbeatSeconds: 2 });
      context = await rig.browser.newContext({ viewport: DESKTOP });
      page = await context.newPage();
      page.on('dialog', (d) => void d.accept());
    },
    { timeout: 240_000 },
  );

  after(async () => {
    await player?.close().catch(() => {});
    await context?.close().catch(() => {});
    await rig?.close();
  });

  const shot = (p: Page, name: string) =>
    p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const go = async (title: string) => {
    await page
      .getByRole('navigation', { name: 'Console pages' })
      .getByRole('link', { name: title, exact: true })
      .click();
    await page.getByRole('heading', { level: 1, name: title }).waitFor();
  };
  const signIn = async (p: Page, who: { name: string; password: string }) => {
    await p.getByRole('textbox', { name: 'User name' }).fill(who.name);
    await p.getByLabel('Password').fill(who.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };
  const debug = (): Promise<Untyped> => player!.page.evaluate(() => (window as Untyped).player.vigil.debug());

  test('a wrong password is told so; the right one opens the overview', async () => {
    await page.goto(`${url}/admin/`, { waitUntil: 'domcontentloaded' });
    await page.getByRole('heading', { name: 'Sign in to Vigil' }).waitFor();
    await shot(page, 'signin-desktop');
    await signIn(page, { name: ADMIN.name, password: 'not the password' });
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password' }).waitFor();
    await signIn(page, ADMIN);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByText('alice · admin').waitFor();
    // The session cookie is HttpOnly: the page's script never sees it.
    assert.equal(await page.evaluate(() => document.cookie.includes('vigil_console')), false);
  });

  test('the watermark switched off and on, then colour mode with the box moved: the player follows', async () => {
    player = await rig.play('cenc/manifest.mpd', 'viewer-1');
    await waitFor(
      'the player to get its directive',
      60_000,
      async () => (await debug().catch(() => undefined))?.licenses > 0,
    );
    await go('Watermark');
    const sw = page.getByRole('switch', { name: 'Watermark on' });
    await sw.waitFor();
    assert.equal(await sw.isChecked(), true);
    await sw.uncheck();
    await page.getByRole('status').filter({ hasText: 'Watermark off' }).waitFor();
    await waitFor(
      'the player to drop the mark',
      30_000,
      async () => (await debug()).directive.enabled === false,
    );
    await sw.check();
    await waitFor(
      'the player to draw it again',
      30_000,
      async () => (await debug()).directive.enabled === true,
    );

    await page.getByRole('radio', { name: /^Colour/ }).check();
    const box = page.getByRole('slider', { name: /Colour box position/ });
    await box.focus();
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Shift+ArrowDown');
    assert.equal(await page.getByRole('spinbutton', { name: 'Left (%)' }).inputValue(), '5');
    await page.getByRole('button', { name: 'Save watermark settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Watermark settings saved.' }).waitFor();
    const saved = await call(`${url}/v1/watermark`, { token: rig.server.apiKey });
    assert.equal(saved.body.mode, 'color');
    assert.deepEqual([saved.body.box.x, saved.body.box.y], [5, 7]);
    const d = await waitFor('the player to switch to colour', 30_000, async () => {
      const v = await debug();
      return v.directive.mode === 'color' && v.directive.box.x === 5 ? v : undefined;
    });
    assert.equal(d.directive.box.y, 7);
    await shot(page, 'watermark-desktop');
  });

  test('a playing session banned from the console stops; lifting the ban lists it no more', async () => {
    await go('Bans');
    await page.getByText('No bans. Nobody is banned right now.').waitFor();
    await page.getByRole('radio', { name: 'A session' }).check();
    await page.getByRole('textbox', { name: 'Session id' }).fill('viewer-1');
    await page.getByRole('textbox', { name: 'Reason' }).fill('restreaming the match');
    await page.getByRole('button', { name: 'Ban', exact: true }).click();
    await page.getByRole('button', { name: 'Lift the ban on session viewer-1' }).waitFor();
    await waitFor('the banned player to stop', 45_000, async () => (await debug()).stopped === true);
    // Its address, seen by its last calls, is offered for a one-click IP ban.
    await waitFor('the sighting', 20_000, async () => {
      await page.getByRole('link', { name: 'Bans', exact: true }).click();
      return page.getByRole('button', { name: 'Ban IP 127.0.0.1' }).isVisible();
    });
    await shot(page, 'bans-desktop');
    await page.getByRole('button', { name: 'Lift the ban on session viewer-1' }).click();
    await page.getByText('No bans. Nobody is banned right now.').waitFor();
    assert.equal((await call(`${url}/v1/bans`, { token: rig.server.apiKey })).body.bans.length, 0);
    await player?.close();
    player = undefined;
    // The session's access log, found by searching for it.
    await go('Sessions');
    await page.getByRole('searchbox', { name: 'Session id, user or IP' }).fill('viewer');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: 'Open the log of session viewer-1' }).click();
    await page.getByRole('heading', { name: 'Session viewer-1' }).waitFor();
    await page.getByRole('cell', { name: 'heartbeat' }).first().waitFor();
    await shot(page, 'session-log-desktop');
  });

  test('a live channel created, stopped and started again', async () => {
    await go('Live channels');
    await page.getByText('No live channels yet.').waitFor();
    await page.getByRole('textbox', { name: 'Channel id' }).fill('cam1');
    await page.getByRole('button', { name: 'Create channel' }).click();
    await page.getByRole('button', { name: 'Stop channel cam1' }).click();
    await page.getByRole('button', { name: 'Start channel cam1' }).waitFor();
    const channel = async () =>
      (await call(`${url}/v1/live/channels/cam1`, { token: rig.server.apiKey })).body;
    assert.equal((await channel()).desired, 'stopped');
    await page.getByRole('button', { name: 'Start channel cam1' }).click();
    await page.getByRole('button', { name: 'Stop channel cam1' }).waitFor();
    assert.equal((await channel()).desired, 'running');
    await shot(page, 'live-desktop');
    await page.getByRole('button', { name: 'Stop channel cam1' }).click();
    await page.getByRole('button', { name: 'Start channel cam1' }).waitFor();
  });

  test('a recording traced to its session, banned with its addresses from the result', async () => {
    // leaker-7 watches for a moment here (its colour tag and access log are recorded), then leaks.
    player = await rig.play('cenc/manifest.mpd', 'leaker-7');
    await waitFor(
      'leaker-7 to get a key',
      60_000,
      async () => (await debug().catch(() => undefined))?.licenses > 0,
    );
    await player.close();
    player = undefined;
    await go('Leak tracing');
    await page.getByLabel('Choose a recording').setInputFiles(rec.path);
    await page
      .getByRole('progressbar', { name: 'Detection progress' })
      .or(page.getByText('Found session'))
      .first()
      .waitFor();
    await page.getByText('Found session leaker-7').waitFor({ timeout: 120_000 });
    await page
      .getByRole('img', { name: /^Evidence frame at/ })
      .first()
      .waitFor();
    await page.getByRole('button', { name: 'Ban session and its IPs' }).click();
    await page.getByRole('status').filter({ hasText: 'Session leaker-7 and its IPs banned.' }).waitFor();
    const bans = (await call(`${url}/v1/bans`, { token: rig.server.apiKey })).body.bans;
    assert.ok(
      bans.some((b: { kind: string; value: string }) => b.kind === 'session' && b.value === 'leaker-7'),
    );
    assert.ok(
      bans.some((b: { kind: string }) => b.kind === 'ip'),
      'its addresses are banned too',
    );
    await shot(page, 'leak-tracing-result-desktop');
  });

  test('a watch of a restream started, its events shown, and stopped', async () => {
    const restream = `${rig.statics.mediaUrl}/cenc/manifest.mpd`;
    await page.getByRole('textbox', { name: 'Restream URL to watch' }).fill(restream);
    await page.getByRole('button', { name: 'Start watching' }).click();
    await page.getByRole('status').filter({ hasText: 'Watch started.' }).waitFor();
    await page.getByRole('button', { name: `Show events of the watch of ${restream}` }).click();
    await page.getByRole('list', { name: 'Watch events' }).waitFor();
    const listed = (await call(`${url}/v1/watches`, { token: rig.server.apiKey })).body.watches;
    assert.deepEqual(
      listed.map((w: { url: string }) => w.url),
      [restream],
    );
    await page.getByRole('button', { name: `Stop watching ${restream}` }).click();
    await page.getByText('No watches running.').waitFor();
    assert.equal((await call(`${url}/v1/watches`, { token: rig.server.apiKey })).body.watches.length, 0);
  });

  test('an API key created is shown once and works; revoked, it no longer does', async () => {
    await go('Settings');
    await page.getByRole('textbox', { name: 'Key name' }).fill('ci-key');
    await page.getByRole('combobox', { name: 'Key role' }).selectOption('readonly');
    await page.getByRole('button', { name: 'Create API key' }).click();
    const key = await page.getByRole('textbox', { name: 'The new API key' }).inputValue();
    assert.match(key, /^vk_/);
    assert.equal((await call(`${url}/v1/watermark`, { token: key })).status, 200);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.equal(await page.getByRole('textbox', { name: 'The new API key' }).count(), 0, 'shown only once');
    await page.getByRole('button', { name: 'Revoke API key ci-key' }).click();
    await page.getByRole('status').filter({ hasText: 'API key ci-key revoked.' }).waitFor();
    assert.equal((await call(`${url}/v1/watermark`, { token: key })).status, 401);
  });

  test('a readonly operator is told their role cannot do it', async () => {
    const ro = await rig.browser.newContext({ viewport: DESKTOP });
    try {
      const p = await ro.newPage();
      await p.goto(`${url}/admin/watermark`, { waitUntil: 'domcontentloaded' });
      // By keyboard only: Tab reaches the name field first, with a visible focus ring; Enter submits.
      await p.getByRole('heading', { name: 'Sign in to Vigil' }).waitFor();
      await p.keyboard.press('Tab');
      const focused = await p.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        return { id: el.id, outline: getComputedStyle(el).outlineStyle };
      });
      assert.deepEqual(focused, { id: 'signin-user', outline: 'solid' });
      await p.keyboard.type(READONLY.name);
      await p.keyboard.press('Tab');
      await p.keyboard.type(READONLY.password);
      await p.keyboard.press('Enter');
      await p.getByRole('heading', { level: 1, name: 'Watermark' }).waitFor();
      await p.getByRole('switch', { name: 'Watermark on' }).click();
      await p.getByRole('alert').filter({ hasText: "your role (readonly) can't do this" }).waitFor();
      assert.equal((await call(`${url}/v1/watermark`, { token: rig.server.apiKey })).body.enabled, true);
    } finally {
      await ro.close();
    }
  });

  test('without the CSRF token a change made with the session cookie is refused', async () => {
    const res = await page.evaluate(async () => {
      const r = await fetch('/v1/bans', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sessionId: 'csrf-victim' }),
      });
      return { status: r.status, body: await r.json() };
    });
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'csrf_missing');
  });

  test('wrong passwords in a row are slowed down, and the page says how long to wait', async () => {
    const res = await call(`${url}/v1/operators`, {
      token: rig.server.apiKey,
      body: { name: 'mallory', role: 'operator', password: 'mallory password 77' },
    });
    assert.equal(res.status, 201);
    const other = await rig.browser.newContext({ viewport: PHONE });
    try {
      const p = await other.newPage();
      await p.goto(`${url}/admin/`, { waitUntil: 'domcontentloaded' });
      let attempts = 0;
      const throttled = p.getByRole('alert').filter({ hasText: /too many attempts\. Wait \d+ seconds?/ });
      while (attempts < 10 && !(await throttled.isVisible())) {
        attempts++;
        await signIn(p, { name: 'mallory', password: `guess number ${attempts}` });
        await p.getByRole('alert').waitFor();
        await p.getByRole('button', { name: 'Sign in' }).waitFor();
      }
      assert.ok(await throttled.isVisible(), `still not slowed down after ${attempts} wrong passwords`);
      assert.ok(attempts <= 8, `slowed down only after ${attempts} attempts`);
      await shot(p, 'signin-throttled-phone');
    } finally {
      await other.close();
    }
  });

  test('screenshots of every page, desktop and phone width', async () => {
    const pages = ['Overview', 'Watermark', 'Bans', 'Sessions', 'Leak tracing', 'Live channels', 'Settings'];
    for (const title of pages) {
      await go(title);
      await page
        .waitForFunction(
          () =>
            ![...document.querySelectorAll('[role="status"]')].some((e) =>
              e.textContent?.startsWith('Loading'),
            ),
          undefined,
          { timeout: 15_000 },
        )
        .catch(async (err) => {
          await shot(page, 'still-loading');
          const status = await page.locator('[role="status"]').allTextContents();
          throw new Error(`${title} is still loading: ${status.join(' | ')}`, { cause: err });
        });
      const alerts = await page.getByRole('alert').allTextContents();
      assert.deepEqual(alerts, [], `${title} shows a failure`);
      const name = title.toLowerCase().replace(/ /g, '-');
      await shot(page, `${name}-desktop`);
      await page.setViewportSize(PHONE);
      await shot(page, `${name}-phone`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
      assert.ok(overflow <= 1, `${title} is wider than the phone by ${overflow} px`);
      await page.setViewportSize(DESKTOP);
    }
  });

  test('an ended session sends the operator back to sign in, with a message', async () => {
    await go('Overview');
    const cookie = (await context.cookies(url)).find((c) => c.name === 'vigil_console');
    assert.ok(cookie, 'signed in with the session cookie');
    const headers = { cookie: `vigil_console=${cookie.value}` };
    const s = await call(`${url}/v1/console/session`, { headers });
    const out = await call(`${url}/v1/console/session`, {
      method: 'DELETE',
      headers: { ...headers, 'x-csrf-token': s.body.csrfToken },
    });
    assert.equal(out.status, 204);
    // The overview's next refresh (every 5 s) finds the session gone.
    await page.getByRole('heading', { name: 'Sign in to Vigil' }).waitFor({ timeout: 20_000 });
    await page.getByText('Your session has expired. Sign in again to continue.').waitFor();
    await shot(page, 'signin-expired-phone');
    await signIn(page, ADMIN);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  });

  test('the server going away shows "Vigil is not reachable"', async () => {
    const server = rig.server;
    await server.close();
    server.close = async () => {};
    await page
      .getByRole('alert')
      .filter({ hasText: 'Vigil is not reachable' })
      .first()
      .waitFor({ timeout: 20_000 });
    await shot(page, 'unreachable-desktop');
  });
});
