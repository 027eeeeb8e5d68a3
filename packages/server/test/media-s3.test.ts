/**
 * The media storage on S3-compatible object storage (the AWS SDK against s3rver, an S3 REST server on
 * local disk): chunks, the assembled source and its removal go through the bucket; an upload completes,
 * is validated (from a downloaded copy) and processed to `ready`, its package published to the bucket
 * and served from it by the origin (the stream URL's manifest, an init and a segment that ffmpeg
 * decrypts with the license's key, a Range request); aborted and refused uploads leave no object behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { readInitTracks } from '@vigil/packager';
import S3rver from 's3rver';
import { testClip } from '../../../test/support/browser.ts';
import {
  clearKeysOf,
  complete,
  fileSha256,
  initiate,
  putChunk,
  readChunk,
  shuffled,
} from '../../../test/support/media.ts';
import { type ChildServer, call, spawnVigil, tempDir, waitFor } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_s3_key_0123456789abcdef';
const BUCKET = 'vigil-media';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

describe('media storage on S3', { timeout: 150_000 }, () => {
  const data = tempDir('vigil-media-s3-');
  const s3dir = tempDir('vigil-s3rver-');
  let s3: { close(): Promise<void> } | undefined;
  let endpoint = '';
  let server: ChildServer | undefined;
  let url = '';
  let client: S3Client;
  const keys = async () =>
    ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key!);

  before(async () => {
    const instance = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: s3dir,
      configureBuckets: [{ name: BUCKET }],
    });
    const address = (await instance.run()) as { port: number };
    s3 = { close: () => instance.close() as Promise<void> };
    endpoint = `http://127.0.0.1:${address.port}`;
    client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: CREDENTIALS });
    server = await spawnVigil(['--data', data], {
      VIGIL_MASTER_KEY: '99'.repeat(32),
      VIGIL_API_KEY: API_KEY,
      DATABASE_URL: '',
      VIGIL_PG_SCHEMA: '',
      VIGIL_LIVE: '0',
      VIGIL_MEDIA_CHUNK_BYTES: String(64 * 1024),
      VIGIL_MEDIA_LADDER: '240:300000',
      VIGIL_MEDIA_PRESET: 'ultrafast',
      VIGIL_MEDIA_POLL_MS: '200',
      VIGIL_MEDIA_S3_BUCKET: BUCKET,
      VIGIL_MEDIA_S3_ENDPOINT: endpoint,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    });
    url = server.url;
  });
  after(async () => {
    await server?.stop();
    await s3?.close();
    rmSync(data, { recursive: true, force: true });
    rmSync(s3dir, { recursive: true, force: true });
  });

  it('uploads through the bucket, completes and processes to ready; nothing local', async () => {
    const clip = await testClip(3);
    const size = statSync(clip).size;
    const up = await initiate(url, API_KEY, { filename: 'clip.mp4', fileSize: size, mimeType: 'video/mp4' });
    for (const i of shuffled(up.totalChunks))
      assert.equal(
        (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(clip, up.chunkSize, i))).status,
        200,
      );
    const chunkKeys = (await keys()).filter((k) => k.startsWith(`uploads/default/${up.uploadId}/`));
    assert.equal(chunkKeys.length, up.totalChunks);
    const done = await complete(url, API_KEY, up.uploadId, await fileSha256(clip));
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const assetId = done.body.assetId as string;
    assert.deepEqual(await keys(), [`sources/default/${assetId}`]);
    await waitFor('ready', 90_000, async () => {
      const s = (await call(`${url}/v1/media/process/${assetId}/status`, { token: API_KEY })).body;
      if (s.status === 'failed') throw new Error(JSON.stringify(s));
      return s.status === 'ready' || undefined;
    });
    const meta = (await call(`${url}/v1/media/${assetId}/metadata`, { token: API_KEY })).body;
    assert.equal(meta.size, size);
    // The package is in the bucket, not on local disk.
    const packaged = (await keys()).filter((k) => k.startsWith(`packages/default/${assetId}/`));
    assert.ok(packaged.includes(`packages/default/${assetId}/manifest.mpd`), packaged.join(', '));
    assert.ok(packaged.some((k) => k.endsWith('.m4s')));
    const originDir = join(data, 'origin');
    assert.ok(!existsSync(originDir) || readdirSync(originDir, { recursive: true }).length === 0);
    await playsFromBucket(assetId);
    // tus keeps files on local disk: not offered on S3.
    assert.equal((await fetch(`${url}/v1/media/tus/`, { method: 'OPTIONS' })).status, 404);
  });

  /** The stream URL's manifest, an init and a segment through the origin, decrypted by ffmpeg. */
  async function playsFromBucket(assetId: string): Promise<void> {
    const stream = await call(
      `${url}/v1/media/${assetId}/stream-url?userId=user-s3&sessionId=s3-viewer&ip=127.0.0.1`,
      { token: API_KEY },
    );
    assert.equal(stream.status, 200, JSON.stringify(stream.body));
    const manifestUrl = new URL(stream.body.streamUrl as string);
    const mpd = await fetch(manifestUrl);
    assert.equal(mpd.status, 200);
    assert.equal(mpd.headers.get('content-type'), 'application/dash+xml');
    const text = await mpd.text();
    const init = /initialization="([^"]+)"/.exec(text)?.[1];
    const media = /media="([^"]+)"/.exec(text)?.[1];
    assert.ok(init && media, text);
    const signed = (name: string) => {
      const u = new URL(name, manifestUrl);
      u.search = manifestUrl.search;
      return u;
    };
    const initBytes = Buffer.from(await (await fetch(signed(init))).arrayBuffer());
    const segUrl = signed(media.replace(/\$Number%05d\$/, '00001'));
    const seg = await fetch(segUrl);
    assert.equal(seg.status, 200);
    const segBytes = Buffer.from(await seg.arrayBuffer());
    assert.equal(Number(seg.headers.get('content-length')), segBytes.length);
    // Range, streamed from the bucket.
    const part = await fetch(segUrl, { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${segBytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), segBytes.subarray(100, 200));
    // Unsigned: refused, as on local disk.
    assert.equal((await fetch(new URL(segUrl.pathname, url))).status, 403);

    const license = await call(`${url}/v1/drm/license`, {
      token: API_KEY,
      body: { assetId, drmType: 'clearkey', userId: 'user-s3', deviceId: 'device-s3' },
    });
    assert.equal(license.status, 200, JSON.stringify(license.body));
    const keysByKid = clearKeysOf(license.body.license);
    const kid = readInitTracks(initBytes)[0]?.protection?.kid;
    const key = kid && keysByKid[kid];
    assert.ok(key, `a key for ${kid}`);
    const dir = tempDir('vigil-s3-play-');
    try {
      const file = join(dir, 'fragment.mp4');
      writeFileSync(file, Buffer.concat([initBytes, segBytes]));
      const decode = (k: string) =>
        spawnSync('ffmpeg', ['-v', 'error', '-decryption_key', k, '-i', file, '-f', 'framemd5', '-'], {
          encoding: 'utf8',
        });
      const good = decode(key);
      assert.equal(good.status, 0, good.stderr);
      assert.equal(good.stderr.trim(), '', 'decodes cleanly with the license key');
      assert.ok(good.stdout.split('\n').filter((l) => /^\d+,/.test(l)).length > 10, 'frames decoded');
      const wrong = decode('00'.repeat(16));
      assert.ok(wrong.status !== 0 || wrong.stderr.trim() !== '', 'a wrong key does not decode cleanly');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a refused upload and an aborted one leave no object', async () => {
    const dir = tempDir('vigil-s3-bad-');
    try {
      const text = join(dir, 'notes.mp4');
      writeFileSync(text, 'not a video\n'.repeat(10_000));
      const size = statSync(text).size;
      const up = await initiate(url, API_KEY, { filename: 'n.mp4', fileSize: size, mimeType: 'video/mp4' });
      for (let i = 0; i < up.totalChunks; i++)
        assert.equal(
          (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(text, up.chunkSize, i))).status,
          200,
        );
      const before = await keys();
      const res = await complete(url, API_KEY, up.uploadId);
      assert.equal(res.status, 422);
      assert.equal(res.body.code, 'upload_not_video');
      const after = await keys();
      assert.ok(before.some((k) => k.includes(up.uploadId)));
      assert.ok(!after.some((k) => k.includes(up.uploadId)), after.join(', '));
      assert.equal(
        after.filter((k) => k.startsWith('sources/')).length,
        1,
        'only the earlier asset’s source',
      );
      const up2 = await initiate(url, API_KEY, { filename: 'a.mp4', fileSize: size, mimeType: 'video/mp4' });
      assert.equal(
        (await putChunk(url, API_KEY, up2.uploadId, 0, await readChunk(text, up2.chunkSize, 0))).status,
        200,
      );
      await call(`${url}/v1/media/upload/abort`, { token: API_KEY, body: { uploadId: up2.uploadId } });
      assert.ok(!(await keys()).some((k) => k.includes(up2.uploadId)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
