/**
 * The media pipeline end to end, as a client would drive it: a 200 MB generated video uploaded in 5 MiB
 * chunks out of order to a real `vigil serve`, the server SIGKILLed mid-upload and restarted, the upload
 * resumed from `status` and completed; the asset reaches `ready` with variants, and its `stream-url`
 * (signed origin URL + viewer token) plays in headless Chromium with video.js and the Vigil plugin.
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
  startVideojs,
  waitForMediaTime,
} from '../../../test/support/browser.ts';
import {
  bigVideo,
  complete,
  fileSha256,
  initiate,
  putChunk,
  readChunk,
  shuffled,
  status,
} from '../../../test/support/media.ts';
import { type ChildServer, call, spawnVigil, tempDir, waitFor } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_play_key_0123456789abcdef';
const ENV = {
  VIGIL_MASTER_KEY: '44'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'media-play-viewer-secret-0123456789abcdef',
  DATABASE_URL: '',
  VIGIL_PG_SCHEMA: '',
  VIGIL_LIVE: '0',
  VIGIL_MEDIA_LADDER: '360:600000,240:300000',
  VIGIL_MEDIA_PRESET: 'ultrafast',
  VIGIL_MEDIA_POLL_MS: '200',
};
const MB = 1024 * 1024;

describe('media: 200 MB upload, killed and resumed, processed, played', { timeout: 170_000 }, () => {
  const data = tempDir('vigil-media-play-');
  const pages = tempDir('vigil-media-pages-');
  let server: ChildServer | undefined;
  let statics: StaticServer | undefined;
  let browser: Browser | undefined;
  let video = '';
  let url = '';
  const start = async () => {
    server = await spawnVigil(['--data', data], ENV);
    url = server.url;
  };

  before(async () => {
    const launching = launchBrowser();
    launching.catch(() => {});
    video = bigVideo(200);
    ensurePlayerBundle();
    statics = await startStaticServer(pages);
    await start();
    browser = await launching;
  });
  after(async () => {
    await browser?.close();
    await statics?.close();
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
    rmSync(pages, { recursive: true, force: true });
  });

  it('uploads out of order across a SIGKILL, completes, reaches ready and plays from stream-url', async () => {
    const size = statSync(video).size;
    assert.ok(size >= 200 * MB, `the test video is ${size} bytes`);
    const up = await initiate(url, API_KEY, {
      filename: 'noise-720p.mp4',
      fileSize: size,
      mimeType: 'video/mp4',
      metadata: { title: 'Noise', description: 'generated', tags: ['test'] },
    });
    assert.equal(up.chunkSize, 5 * MB);
    assert.equal(up.totalChunks, Math.ceil(size / (5 * MB)));
    const order = shuffled(up.totalChunks, 3);
    const cut = Math.floor(order.length * 0.45);
    const began = Date.now();
    // Three chunks in flight at a time; the server is killed with some of them still on the wire.
    let next = 0;
    let killed = false;
    const sender = async () => {
      while (next < cut && !killed) {
        const i = order[next++]!;
        const res = await putChunk(
          url,
          API_KEY,
          up.uploadId,
          i,
          await readChunk(video, up.chunkSize, i),
        ).catch(() => undefined);
        if (!killed) assert.equal(res?.status, 200, JSON.stringify(res?.body));
      }
    };
    const senders = [sender(), sender(), sender()];
    await waitFor(
      'a third of the chunks',
      60_000,
      async () => next >= Math.floor(order.length / 3) || undefined,
    );
    killed = true;
    await server!.kill();
    await Promise.allSettled(senders);
    await start();
    const st = (await status(url, API_KEY, up.uploadId)).body;
    assert.equal(st.status, 'uploading');
    assert.ok(
      st.receivedChunks.length >= Math.floor(order.length / 3) - 3,
      `${st.receivedChunks.length} kept`,
    );
    assert.equal(st.receivedChunks.length + st.missingChunks.length, up.totalChunks);
    // Resume: only what status says is missing, out of order again.
    for (const i of shuffled(st.missingChunks.length, 5).map((k) => st.missingChunks[k]!)) {
      const res = await putChunk(url, API_KEY, up.uploadId, i, await readChunk(video, up.chunkSize, i));
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const uploadSeconds = (Date.now() - began) / 1000;
    const done = await complete(url, API_KEY, up.uploadId, await fileSha256(video));
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const { assetId } = done.body;
    const completedAt = Date.now();
    const states: string[] = [];
    await waitFor('the asset to be ready', 120_000, async () => {
      const res = await call(`${url}/v1/media/process/${assetId}/status`, { token: API_KEY });
      if (states.at(-1) !== res.body.status) states.push(res.body.status);
      if (res.body.status === 'failed') throw new Error(`processing failed: ${JSON.stringify(res.body)}`);
      return res.body.status === 'ready' || undefined;
    });
    process.stderr.write(
      `media: ${(size / MB).toFixed(0)} MB in ${up.totalChunks} chunks uploaded in ${uploadSeconds.toFixed(1)} s (with a restart); ready ${((Date.now() - completedAt) / 1000).toFixed(1)} s after complete; states ${states.join(' → ')}\n`,
    );
    const variants = (await call(`${url}/v1/media/${assetId}/variants`, { token: API_KEY })).body.variants;
    assert.deepEqual(
      variants.map((v: { quality: string }) => v.quality),
      ['360p', '240p'],
    );

    const notReady = await call(`${url}/v1/media/asset_${'1'.repeat(24)}/stream-url?userId=u&sessionId=s`, {
      token: API_KEY,
    });
    assert.equal(notReady.status, 404);
    const stream = await call(
      `${url}/v1/media/${assetId}/stream-url?userId=user-7&sessionId=media-viewer-1&quality=360p&ip=127.0.0.1`,
      { token: API_KEY },
    );
    assert.equal(stream.status, 200, JSON.stringify(stream.body));
    const s = stream.body;
    assert.match(s.streamUrl, new RegExp(`^${url}/origin/default/${assetId}/.+\\.mpd\\?vd=`));
    assert.equal(s.licenseUrl, `${url}/v1/license/clearkey`);
    assert.equal(s.drmType, 'clearkey');
    assert.match(s.watermarkId, /^watermark_[0-9a-f]{24}$/);
    assert.ok(Date.parse(s.expiresAt) > Date.now());
    // The URL is bound to the viewer's address: from elsewhere it is refused.
    const elsewhere = await call(
      `${url}/v1/media/${assetId}/stream-url?userId=user-7&sessionId=media-viewer-2&ip=10.1.2.3`,
      { token: API_KEY },
    );
    const foreign = await fetch(elsewhere.body.streamUrl);
    assert.equal(foreign.status, 403);
    assert.equal(((await foreign.json()) as { code: string }).code, 'delivery_ip');
    const unsigned = await fetch(s.streamUrl.split('?')[0]);
    assert.equal(unsigned.status, 403);

    const player = await openPlayerPage(browser!, statics!, 'videojs', url);
    try {
      await startVideojs(player.page, { manifestUrl: s.streamUrl, token: s.viewerToken, server: url });
      const state = await waitForMediaTime(player, 1.5, 90_000);
      assert.ok(state.currentTime > 1.5);
      assert.ok(player.keyRequests.length >= 1, 'a license was requested');
    } catch (err) {
      process.stderr.write(`${player.log.join('\n')}\n`);
      throw err;
    } finally {
      await player.close();
    }
  });
});
