/**
 * Chunked uploads against a real `vigil serve`: chunks in any order, idempotent, refused when their
 * checksum or size is wrong; initiation refusals (size limit, name, MIME type); completion that assembles,
 * verifies and validates (non-video, truncated, corrupt and wrong-checksum files are refused and leave
 * nothing behind); abort; tenant isolation; an upload that survives SIGKILL and resumes from `status`;
 * and processing on the embedded queue up to `ready`, with metadata and variants.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testClip } from '../../../test/support/browser.ts';
import {
  complete,
  fileSha256,
  initiate,
  putChunk,
  readChunk,
  sha256,
  shuffled,
  status,
} from '../../../test/support/media.ts';
import { type ChildServer, call, spawnVigil, tempDir, waitFor } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_test_key_0123456789abcdef';
const CHUNK = 64 * 1024;
const ENV = {
  VIGIL_MASTER_KEY: '33'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'media-test-viewer-secret-0123456789abcdef',
  DATABASE_URL: '',
  VIGIL_PG_SCHEMA: '',
  VIGIL_LIVE: '0',
  VIGIL_MEDIA_CHUNK_BYTES: String(CHUNK),
  VIGIL_MEDIA_MAX_UPLOAD_BYTES: String(50 * 1024 * 1024),
  VIGIL_MEDIA_LADDER: '240:300000',
  VIGIL_MEDIA_PRESET: 'ultrafast',
  VIGIL_MEDIA_POLL_MS: '200',
};

/** Every file under a folder (relative paths). */
function files(dir: string, prefix = ''): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p, `${prefix}${e}/`) : [`${prefix}${e}`];
  });
}

describe('media uploads: chunked, verified, resumable', { timeout: 150_000 }, () => {
  const data = tempDir('vigil-media-upload-');
  let server: ChildServer;
  let clip: string;
  let url = '';
  const start = async () => {
    server = await spawnVigil(['--data', data], ENV);
    url = server.url;
  };

  before(async () => {
    clip = await testClip(3);
    await start();
  });
  after(async () => {
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  /** Uploads a whole file's chunks in shuffled order; returns the upload id. */
  const uploadAll = async (path: string, mimeType = 'video/mp4', name = 'clip.mp4') => {
    const size = statSync(path).size;
    const up = await initiate(url, API_KEY, { filename: name, fileSize: size, mimeType });
    for (const i of shuffled(up.totalChunks)) {
      const res = await putChunk(url, API_KEY, up.uploadId, i, await readChunk(path, up.chunkSize, i));
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    return up;
  };

  it('lists every media route in the OpenAPI document', async () => {
    const doc = (await call(`${url}/docs/json`)).body;
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/v1/media/upload/initiate',
      '/v1/media/upload/chunk',
      '/v1/media/upload/complete',
      '/v1/media/upload/abort',
      '/v1/media/upload/status/{uploadId}',
      '/v1/media/process/{assetId}',
      '/v1/media/process/{assetId}/status',
      '/v1/media/process/{assetId}/cancel',
      '/v1/media/{assetId}/metadata',
      '/v1/media/{assetId}/variants',
      '/v1/media/{assetId}/stream-url',
      '/v1/media/{assetId}/protect',
      '/v1/media/{assetId}/protection/status',
      '/v1/drm/license',
      '/v1/media/tus/{id}',
    ])
      assert.ok(paths.includes(p), `${p} is not in the OpenAPI document`);
  });

  it('refuses bad initiations with precise codes', async () => {
    const init = (body: unknown) => call(`${url}/v1/media/upload/initiate`, { token: API_KEY, body });
    const ok = { filename: 'a.mp4', fileSize: 1000, mimeType: 'video/mp4' };
    const cases: [unknown, number, string][] = [
      [{ ...ok, fileSize: 51 * 1024 * 1024 }, 413, 'upload_too_large'],
      [{ ...ok, fileSize: 0 }, 422, 'upload_empty'],
      [{ ...ok, filename: '../etc/passwd' }, 400, 'upload_invalid_filename'],
      [{ ...ok, filename: '.hidden' }, 400, 'upload_invalid_filename'],
      [{ ...ok, mimeType: 'image/png' }, 415, 'upload_invalid_mime'],
      [{ ...ok, fileSize: -5 }, 400, 'upload_invalid_size'],
      [{ filename: 'a.mp4' }, 400, 'invalid_request'],
    ];
    for (const [body, code, name] of cases) {
      const res = await init(body);
      assert.equal(res.status, code, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, name);
    }
    const noKey = await call(`${url}/v1/media/upload/initiate`, { body: ok });
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.code, 'api_key_missing');
  });

  it('takes chunks in any order, idempotently; refuses wrong checksums and sizes', async () => {
    const size = statSync(clip).size;
    const up = await initiate(url, API_KEY, { filename: 'clip.mp4', fileSize: size, mimeType: 'video/mp4' });
    assert.equal(up.chunkSize, CHUNK);
    assert.equal(up.totalChunks, Math.ceil(size / CHUNK));
    assert.match(up.uploadUrl, /\/v1\/media\/upload\/chunk\?uploadId=upload_/);
    const chunk1 = await readChunk(clip, CHUNK, 1);
    const bad = await putChunk(url, API_KEY, up.uploadId, 1, chunk1, sha256(Buffer.from('other')));
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'upload_chunk_checksum');
    const short = await putChunk(url, API_KEY, up.uploadId, 1, chunk1.subarray(0, 100));
    assert.equal(short.status, 400);
    assert.equal(short.body.code, 'upload_chunk_size');
    const outOfRange = await putChunk(url, API_KEY, up.uploadId, up.totalChunks, chunk1);
    assert.equal(outOfRange.body.code, 'upload_chunk_index');
    const noSum = await call(`${url}/v1/media/upload/chunk?uploadId=${up.uploadId}&index=1`, {
      method: 'PUT',
      token: API_KEY,
      rawBody: chunk1,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(noSum.body.code, 'upload_chunk_checksum');
    // Nothing of the refused chunks was kept.
    assert.deepEqual((await status(url, API_KEY, up.uploadId)).body.receivedChunks, []);
    for (const i of shuffled(up.totalChunks)) {
      assert.equal(
        (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(clip, CHUNK, i))).status,
        200,
      );
    }
    // Again: the same answer.
    const again = await putChunk(url, API_KEY, up.uploadId, 1, chunk1);
    assert.equal(again.status, 200);
    assert.equal(again.body.sha256, sha256(chunk1));
    const st = (await status(url, API_KEY, up.uploadId)).body;
    assert.equal(st.receivedChunks.length, up.totalChunks);
    assert.deepEqual(st.missingChunks, []);
    assert.equal(st.receivedBytes, size);
    // A whole-file checksum that is wrong: refused, and the upload leaves nothing behind.
    const wrong = await complete(url, API_KEY, up.uploadId, sha256(Buffer.from('nope')));
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.code, 'upload_checksum_mismatch');
    assert.equal((await status(url, API_KEY, up.uploadId)).body.status, 'aborted');
    assert.deepEqual(files(join(data, 'media')), []);
  });

  it('refuses non-video, truncated and corrupt files at completion, leaving no asset or file', async () => {
    const dir = tempDir('vigil-media-bad-');
    try {
      const text = join(dir, 'notes.mp4');
      writeFileSync(text, 'just some text, not a video at all\n'.repeat(4000));
      const truncated = join(dir, 'cut.mp4');
      const whole = readFileSync(clip);
      writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.6)));
      const corrupt = join(dir, 'corrupt.mp4');
      const junk = Buffer.alloc(200_000, 0x5a);
      Buffer.from([0, 0, 0, 0x18, ...Buffer.from('ftypisom'), 0, 0, 2, 0, ...Buffer.from('isomiso2')]).copy(
        junk,
      );
      writeFileSync(corrupt, junk);
      const png = join(dir, 'image.mp4');
      writeFileSync(
        png,
        Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), junk]),
      );
      for (const [path, code] of [
        [text, 'upload_not_video'],
        [png, 'upload_not_video'],
        [truncated, 'upload_truncated'],
        [corrupt, /^upload_(corrupt|not_video|truncated)$/],
      ] as const) {
        const up = await uploadAll(path);
        const res = await complete(url, API_KEY, up.uploadId, await fileSha256(path));
        assert.equal(res.status, 422, JSON.stringify(res.body));
        if (typeof code === 'string') assert.equal(res.body.code, code, res.body.message);
        else assert.match(res.body.code, code);
        assert.ok(res.body.message.length > 10);
        const st = (await status(url, API_KEY, up.uploadId)).body;
        assert.equal(st.status, 'aborted');
        assert.equal(st.assetId, undefined);
        assert.deepEqual(files(join(data, 'media')), [], `stray files after ${path}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('aborts an upload and deletes its chunks; other tenants cannot see it', async () => {
    const up = await initiate(url, API_KEY, {
      filename: 'x.mp4',
      fileSize: CHUNK * 2,
      mimeType: 'video/mp4',
    });
    const bytes = await readChunk(clip, CHUNK, 0);
    assert.equal((await putChunk(url, API_KEY, up.uploadId, 0, bytes)).status, 200);
    assert.ok(files(join(data, 'media')).length > 0);
    // Another tenant's key.
    const tenant = await call(`${url}/v1/tenants`, {
      token: API_KEY,
      body: { id: 'other-media', name: 'Other' },
    });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    const otherKey: string = tenant.body.apiKey;
    const foreign = await status(url, otherKey, up.uploadId);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.code, 'upload_not_found');
    assert.equal((await putChunk(url, otherKey, up.uploadId, 1, bytes)).body.code, 'upload_not_found');
    assert.equal(
      (await call(`${url}/v1/media/upload/abort`, { token: otherKey, body: { uploadId: up.uploadId } }))
        .status,
      404,
    );
    const res = await call(`${url}/v1/media/upload/abort`, {
      token: API_KEY,
      body: { uploadId: up.uploadId },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'aborted');
    assert.deepEqual(files(join(data, 'media')), []);
    assert.equal((await putChunk(url, API_KEY, up.uploadId, 1, bytes)).body.code, 'upload_aborted');
    assert.equal((await complete(url, API_KEY, up.uploadId)).body.code, 'upload_aborted');
  });

  it('survives SIGKILL mid-upload, resumes from status, completes and processes to ready', async () => {
    const size = statSync(clip).size;
    const up = await initiate(url, API_KEY, {
      filename: 'clip.mp4',
      fileSize: size,
      mimeType: 'video/mp4',
      metadata: { title: 'Test clip', tags: ['t'], userId: 'user-1' },
    });
    const order = shuffled(up.totalChunks, 11);
    const half = order.slice(0, Math.floor(order.length / 2));
    for (const i of half)
      assert.equal(
        (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(clip, CHUNK, i))).status,
        200,
      );
    await server.kill();
    await start();
    const st = (await status(url, API_KEY, up.uploadId)).body;
    assert.deepEqual(
      st.receivedChunks,
      [...half].sort((a, b) => a - b),
    );
    assert.equal(st.missingChunks.length, up.totalChunks - half.length);
    const early = await complete(url, API_KEY, up.uploadId);
    assert.equal(early.status, 409);
    assert.equal(early.body.code, 'upload_incomplete');
    for (const i of st.missingChunks) {
      assert.equal(
        (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(clip, CHUNK, i))).status,
        200,
      );
    }
    const done = await complete(url, API_KEY, up.uploadId, await fileSha256(clip));
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const { assetId } = done.body;
    assert.match(assetId, /^asset_[0-9a-f]{24}$/);
    // Completing again answers the same asset.
    assert.equal((await complete(url, API_KEY, up.uploadId)).body.assetId, assetId);
    assert.equal((await status(url, API_KEY, up.uploadId)).body.assetId, assetId);
    const seen = new Set<string>();
    const ready = await waitFor('the asset to be ready', 90_000, async () => {
      const res = await call(`${url}/v1/media/process/${assetId}/status`, { token: API_KEY });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      seen.add(res.body.status);
      if (res.body.status === 'failed') throw new Error(`processing failed: ${JSON.stringify(res.body)}`);
      return res.body.status === 'ready' ? res.body : undefined;
    });
    assert.equal(ready.progress, 100);
    assert.equal(ready.job.status, 'done');
    const meta = (await call(`${url}/v1/media/${assetId}/metadata`, { token: API_KEY })).body;
    assert.equal(meta.width, 640);
    assert.equal(meta.height, 360);
    assert.equal(meta.size, size);
    assert.ok(Math.abs(meta.duration - 3) < 0.2, String(meta.duration));
    assert.equal(meta.codec, 'h264');
    assert.equal(Math.round(meta.frameRate), 30);
    assert.ok(meta.bitrate > 0);
    assert.equal(meta.fingerprint, `sha256:${await fileSha256(clip)}`);
    assert.equal(meta.thumbnails.length, 3);
    const variants = (await call(`${url}/v1/media/${assetId}/variants`, { token: API_KEY })).body.variants;
    assert.equal(variants.length, 1);
    assert.equal(variants[0].quality, '240p');
    assert.match(variants[0].encryptionKeyId, /^[0-9a-f]{32}$/);
    assert.ok(variants[0].sizeBytes > 0);
    assert.match(variants[0].manifestUrl, new RegExp(`^/origin/default/${assetId}/`));
    // The source and the package are there; the chunks are gone.
    assert.deepEqual(files(join(data, 'media', 'uploads')), []);
    assert.ok(files(join(data, 'origin', 'default', assetId)).some((f) => f.endsWith('.mpd')));
    // Processing again is queued; a cancel ends it failed.
    const again = await call(`${url}/v1/media/process/${assetId}`, {
      method: 'POST',
      token: API_KEY,
      body: {},
    });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    const twice = await call(`${url}/v1/media/process/${assetId}`, {
      method: 'POST',
      token: API_KEY,
      body: {},
    });
    assert.equal(twice.body.code, 'transcoding_in_progress');
    const cancel = await call(`${url}/v1/media/process/${assetId}/cancel`, {
      method: 'POST',
      token: API_KEY,
      body: {},
    });
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.status, 'failed');
    assert.equal(cancel.body.error.code, 'transcoding_cancelled');
    const missing = await call(`${url}/v1/media/asset_${'0'.repeat(24)}/metadata`, { token: API_KEY });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'asset_not_found');
  });
});
