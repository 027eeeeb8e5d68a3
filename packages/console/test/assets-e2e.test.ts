/**
 * The console's Assets page in headless Chromium against a real `vigil serve`, found by role and
 * accessible name: an operator signs in, uploads a short 360p clip through the page (tus, with the
 * session cookie and CSRF token; paused while its connection stalls, then resumed), sees the progress
 * bar reach 100 %, the asset processed to ready, its
 * metadata and variants, and the preview playing it with the Vigil plugin (a screenshot of the video
 * that is not blank). `GET /v1/media` lists the asset for its tenant only. Screenshots at desktop and
 * phone width go to test-artifacts/console/.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, testClip, videoScreenshot } from '../../../test/support/browser.ts';
import { type ChildServer, call, REPO, spawnVigil, tempDir } from '../../../test/support/vigil.ts';
import { ensureConsoleBuild } from './build.ts';

const ARTIFACTS = join(REPO, 'test-artifacts/console');
const API_KEY = 'vk_console_assets_0123456789abcdef';
const OPERATOR = { name: 'olga', password: 'uploads many clips 77', role: 'operator' };
const ENV = {
  VIGIL_MASTER_KEY: '77'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'console-assets-viewer-secret-0123456789',
  // The embedded store, no live channels; a two-rung ladder encoded fast, the queue polled often.
  ...{ DATABASE_URL: '', VIGIL_PG_SCHEMA: '', VIGIL_LIVE: '0' },
  ...{
    VIGIL_MEDIA_LADDER: '360:600000,240:300000',
    VIGIL_MEDIA_PRESET: 'ultrafast',
    VIGIL_MEDIA_POLL_MS: '200',
  },
};

describe('console: the Assets page', { timeout: 120_000 }, () => {
  const data = tempDir('vigil-console-assets-');
  let server: ChildServer;
  let browser: Browser;
  let page: Page;
  let clip = '';

  before(async () => {
    ensureConsoleBuild();
    mkdirSync(ARTIFACTS, { recursive: true });
    // The cached 4 s 640×360 test clip, under a name of its own (the page shows the file's name).
    clip = join(data, 'harbour-at-dawn.mp4');
    copyFileSync(await testClip(4), clip);
    [server, browser] = await Promise.all([spawnVigil(['--data', data], ENV), launchBrowser()]);
    const res = await call(`${server.url}/v1/operators`, { token: API_KEY, body: OPERATOR });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  test('upload with progress, processing to ready, variants, and the preview plays', async () => {
    const started = Date.now();
    await page.goto(`${server.url}/admin/assets`, { waitUntil: 'domcontentloaded' });
    await page.getByRole('textbox', { name: 'User name' }).fill(OPERATOR.name);
    await page.getByLabel('Password').fill(OPERATOR.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Assets' }).waitFor();
    await page.getByText('No assets yet. Upload a video above.').waitFor();

    // The first PATCH hangs (a stalled connection) until the upload is paused; resumed, it goes through.
    let release: (() => void) | undefined;
    let stalled: () => void = () => {};
    const isStalled = new Promise<void>((done) => {
      stalled = done;
    });
    await page.route('**/v1/media/tus/*', async (route) => {
      if (route.request().method() !== 'PATCH' || release) return route.continue();
      const released = new Promise<void>((done) => {
        release = done;
      });
      stalled();
      await released;
      await route.abort('connectionreset').catch(() => {});
    });
    await page.getByLabel('Video file').setInputFiles(clip);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const bar = page.getByRole('progressbar', { name: 'Upload of harbour-at-dawn.mp4' });
    await bar.waitFor();
    await isStalled;
    await page.getByRole('button', { name: 'Pause upload' }).click();
    await page.getByText(/harbour-at-dawn\.mp4: .* \(\d+%\), paused\./).waitFor();
    release?.();
    await page.getByRole('button', { name: 'Resume upload' }).click();
    await page.waitForFunction(
      () =>
        document
          .querySelector('[aria-label="Upload of harbour-at-dawn.mp4"]')
          ?.getAttribute('aria-valuenow') === '100',
    );
    await page.getByText('harbour-at-dawn.mp4: uploaded').waitFor();
    await page
      .getByRole('status')
      .filter({ hasText: /Uploaded harbour-at-dawn\.mp4: asset asset_/ })
      .waitFor();

    // The list, then ready (the details of the new asset open by themselves, refreshed while it works).
    const row = page.getByRole('row', { name: /harbour-at-dawn\.mp4/ });
    await row.getByText('Ready').waitFor({ timeout: 60_000 });
    const variants = page.getByRole('table', { name: 'Variants of harbour-at-dawn.mp4' });
    await variants.waitFor({ timeout: 10_000 });
    assert.deepEqual(await variants.getByRole('rowheader').allTextContents(), ['360p', '240p']);
    await page.getByText('640×360 at 30.00 fps').waitFor();
    const readyAt = Date.now();

    await row.getByRole('button', { name: 'Preview harbour-at-dawn.mp4' }).click();
    await page.getByRole('heading', { name: 'Preview: harbour-at-dawn.mp4' }).waitFor();
    await page.getByText(/^Playing 360p as session console-preview-/).waitFor({ timeout: 30_000 });
    await page.waitForFunction(
      () => (document.querySelector('.player video') as HTMLVideoElement)?.currentTime > 1,
      undefined,
      {
        timeout: 30_000,
      },
    );
    const picture = await videoScreenshot(page, join(ARTIFACTS, 'assets-preview.png'), '.player video');
    assert.ok(picture.stdev > 20, `the preview shows a picture (luma spread ${picture.stdev.toFixed(1)})`);
    await page.screenshot({ path: join(ARTIFACTS, 'assets-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'assets-phone.png'), fullPage: true });
    await page.getByRole('button', { name: 'Close the preview' }).click();
    await page.getByRole('heading', { name: 'Preview: harbour-at-dawn.mp4' }).waitFor({ state: 'detached' });
    process.stderr.write(
      `assets page: uploaded and ready in ${((readyAt - started) / 1000).toFixed(1)} s, playing after ${((Date.now() - readyAt) / 1000).toFixed(1)} s more\n`,
    );
  });

  test('GET /v1/media lists the tenant its own assets only, by status, paginated', async () => {
    const all = await call(`${server.url}/v1/media`, { token: API_KEY });
    assert.equal(all.status, 200);
    assert.equal(all.body.assets.length, 1);
    const [a] = all.body.assets;
    assert.equal(a.title, 'harbour-at-dawn.mp4');
    assert.equal(a.status, 'ready');
    assert.equal(a.variantCount, 2);
    assert.equal(all.body.next, null);
    const failed = await call(`${server.url}/v1/media?status=failed`, { token: API_KEY });
    assert.deepEqual(failed.body.assets, []);
    const bad = await call(`${server.url}/v1/media?cursor=nope`, { token: API_KEY });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'invalid_cursor');
    const other = await call(`${server.url}/v1/tenants`, { token: API_KEY, body: { id: 'other' } });
    assert.equal(other.status, 201);
    const theirs = await call(`${server.url}/v1/media`, { token: other.body.apiKey });
    assert.deepEqual(theirs.body.assets, []);
    const unauthenticated = await call(`${server.url}/v1/media`);
    assert.equal(unauthenticated.status, 401);
  });
});
