/**
 * The seed's DRM license with its usage policy, against a real `vigil serve` and an asset processed from
 * a 720p upload into a 720p (HD key) and a 240p (SD key) rendition: a policy capped at 480p gets no HD
 * key, a user over the concurrent-stream limit is refused, other DRM types are `drm_unsupported`; and the
 * license's keys play the 240p rendition in headless Chromium (Shaka with those ClearKey keys).
 */
import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  ensurePlayerBundle,
  launchBrowser,
  openPlayerPage,
  type StaticServer,
  startStaticServer,
  waitForMediaTime,
} from '../../../test/support/browser.ts';
import {
  clearKeysOf,
  complete,
  HD_SD_MEDIA_ENV,
  hdClip,
  initiate,
  putChunk,
  readChunk,
} from '../../../test/support/media.ts';
import { type ChildServer, call, spawnVigil, tempDir, waitFor } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_drm_key_0123456789abcdef';
const ENV = {
  VIGIL_MASTER_KEY: '77'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'media-drm-viewer-secret-0123456789abcdef',
  ...HD_SD_MEDIA_ENV,
};

describe('DRM license usage policy', { timeout: 150_000 }, () => {
  const data = tempDir('vigil-media-drm-');
  const pages = tempDir('vigil-media-drm-pages-');
  let server: ChildServer | undefined;
  let statics: StaticServer | undefined;
  let browser: Browser | undefined;
  let url = '';
  let assetId = '';
  // biome-ignore lint/suspicious/noExplicitAny: the variants as the API answers them
  let variants: any[] = [];

  before(async () => {
    const launching = launchBrowser();
    launching.catch(() => {});
    const clip = hdClip(4);
    ensurePlayerBundle();
    statics = await startStaticServer(pages);
    server = await spawnVigil(['--data', data], ENV);
    url = server.url;
    const size = statSync(clip).size;
    const up = await initiate(url, API_KEY, { filename: 'hd.mp4', fileSize: size, mimeType: 'video/mp4' });
    for (let i = 0; i < up.totalChunks; i++)
      assert.equal(
        (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(clip, up.chunkSize, i))).status,
        200,
      );
    assetId = (await complete(url, API_KEY, up.uploadId)).body.assetId;
    await waitFor('the asset to be ready', 90_000, async () => {
      const res = await call(`${url}/v1/media/process/${assetId}/status`, { token: API_KEY });
      if (res.body.status === 'failed') throw new Error(JSON.stringify(res.body));
      return res.body.status === 'ready' || undefined;
    });
    variants = (await call(`${url}/v1/media/${assetId}/variants`, { token: API_KEY })).body.variants;
    browser = await launching;
  });
  after(async () => {
    await browser?.close();
    await statics?.close();
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
    rmSync(pages, { recursive: true, force: true });
  });

  const license = (body: Record<string, unknown>) =>
    call(`${url}/v1/drm/license`, {
      token: API_KEY,
      body: { assetId, drmType: 'clearkey', userId: 'user-1', deviceId: 'device-a', ...body },
    });
  const kidsOf = (b64: string) =>
    (JSON.parse(Buffer.from(b64, 'base64').toString('utf8')).keys as { kid: string }[]).map((k) =>
      Buffer.from(k.kid, 'base64url').toString('hex'),
    );

  it('a 480p cap withholds the HD key; without a cap both are given', async () => {
    assert.deepEqual(
      variants.map((v) => v.quality),
      ['720p', '240p'],
    );
    const [hd, sd] = variants;
    assert.notEqual(hd.encryptionKeyId, sd.encryptionKeyId);
    const open = await license({ deviceId: 'device-open' });
    assert.equal(open.status, 200, JSON.stringify(open.body));
    assert.ok(kidsOf(open.body.license).includes(hd.encryptionKeyId));
    const set = await call(`${url}/v1/media/${assetId}/protect`, {
      token: API_KEY,
      body: { usagePolicy: { maxResolution: '480p', playbackDuration: 600, concurrentStreams: 1 } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.usagePolicy.maxResolution, '480p');
    const status = await call(`${url}/v1/media/${assetId}/protection/status`, { token: API_KEY });
    assert.equal(status.body.status, 'protected');
    assert.deepEqual(status.body.encryptionKeyIds.sort(), [hd.encryptionKeyId, sd.encryptionKeyId].sort());
    // device-open's license (a minute ago) counts toward user-1's streams: a second user for this one.
    const capped = await license({ userId: 'user-2', deviceId: 'device-a' });
    assert.equal(capped.status, 200, JSON.stringify(capped.body));
    const kids = kidsOf(capped.body.license);
    assert.ok(kids.includes(sd.encryptionKeyId), 'the SD key is given');
    assert.ok(!kids.includes(hd.encryptionKeyId), 'the HD key is withheld');
    assert.deepEqual(capped.body.withheldTrackTypes, ['hd']);
    assert.equal(capped.body.usagePolicy.maxResolution, '480p');
    assert.equal(capped.body.usagePolicy.concurrentStreams, 1);
    const lifetime = Date.parse(capped.body.expiration) - Date.now();
    assert.ok(lifetime > 590_000 && lifetime <= 600_000, String(lifetime));
  });

  it('refuses a user over the concurrent-stream limit and other DRM types', async () => {
    const again = await license({ userId: 'user-2', deviceId: 'device-a' });
    assert.equal(again.status, 200, 'the same device renews');
    const second = await license({ userId: 'user-2', deviceId: 'device-b' });
    assert.equal(second.status, 403);
    assert.equal(second.body.code, 'drm_concurrent_streams');
    assert.equal((await license({ userId: 'user-3', deviceId: 'device-b' })).status, 200);
    const widevine = await license({ userId: 'user-4', drmType: 'widevine' });
    assert.equal(widevine.status, 400);
    assert.equal(widevine.body.code, 'drm_unsupported');
    const bad = await call(`${url}/v1/media/${assetId}/protect`, {
      token: API_KEY,
      body: { usagePolicy: { maxResolution: 'huge' } },
    });
    assert.equal(bad.status, 400);
  });

  it('the capped license plays the 240p rendition in Chromium', async () => {
    const capped = await license({ userId: 'user-5', deviceId: 'device-p' });
    assert.equal(capped.status, 200);
    const clearKeys = clearKeysOf(capped.body.license);
    const stream = await call(
      `${url}/v1/media/${assetId}/stream-url?userId=user-5&sessionId=drm-viewer&ip=127.0.0.1`,
      { token: API_KEY },
    );
    assert.equal(stream.status, 200, JSON.stringify(stream.body));
    const player = await openPlayerPage(browser!, statics!, 'shaka', url);
    try {
      await player.page.evaluate(
        async ({ manifest, keys }) => {
          // biome-ignore lint/suspicious/noExplicitAny: Shaka's UMD global
          const w = window as any;
          const video = document.getElementById('video') as HTMLVideoElement;
          const p = new w.shaka.Player();
          w.player = p;
          await p.attach(video);
          p.addEventListener('error', (e: { detail: { code: number } }) => {
            w.playerError = {
              code: e.detail.code,
              data: JSON.stringify((e.detail as { data?: unknown }).data)?.slice(0, 300),
            };
          });
          // Delivery tokens on every origin request (the signed URL's query).
          const vd = new URL(manifest).searchParams.get('vd');
          p.getNetworkingEngine().registerRequestFilter((_type: unknown, req: { uris: string[] }) => {
            req.uris = req.uris.map((u) => {
              if (!u.includes('/origin/')) return u;
              const x = new URL(u);
              if (!x.searchParams.has('vd')) x.searchParams.set('vd', vd ?? '');
              return x.toString();
            });
          });
          p.configure({ drm: { clearKeys: keys } });
          await p.load(manifest);
          video.play();
        },
        { manifest: stream.body.streamUrl, keys: clearKeys },
      );
      await waitForMediaTime(player, 1.5, 90_000);
      const height = await player.page.evaluate(
        () => (document.getElementById('video') as HTMLVideoElement).videoHeight,
      );
      assert.equal(height, 240, 'the player plays the rendition it has a key for');
    } catch (err) {
      const detail = await player.page.evaluate(() =>
        JSON.stringify((window as unknown as { playerError: unknown }).playerError),
      );
      process.stderr.write(`${player.log.join('\n')}\nplayer error: ${detail}\n`);
      throw err;
    } finally {
      await player.close();
    }
  });
});
