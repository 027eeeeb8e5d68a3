/**
 * tus 1.0 at /v1/media/tus/ with the reference client (tus-js-client) against a real `vigil serve`: a
 * 200 MB upload in 5 MiB PATCHes, the server SIGKILLed mid-upload and restarted on the same port, the
 * client resuming by itself (HEAD → offset), the finished upload becoming an asset that reaches `ready`,
 * found through `GET /v1/media/upload/status/{id}`. Also the checksum extension (460 on a mismatch),
 * termination, metadata validation and tenant isolation.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as tus from 'tus-js-client';
import { bigVideo, status } from '../../../test/support/media.ts';
import { type ChildServer, call, spawnVigil, tempDir, waitFor } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_tus_key_0123456789abcdef';
const ENV = {
  VIGIL_MASTER_KEY: '66'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'media-tus-viewer-secret-0123456789abcdef',
  DATABASE_URL: '',
  VIGIL_PG_SCHEMA: '',
  VIGIL_LIVE: '0',
  VIGIL_MEDIA_LADDER: '240:300000',
  VIGIL_MEDIA_PRESET: 'ultrafast',
  VIGIL_MEDIA_POLL_MS: '200',
};
const MB = 1024 * 1024;

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

const tusHeaders = (extra: Record<string, string> = {}) => ({
  'tus-resumable': '1.0.0',
  authorization: `Bearer ${API_KEY}`,
  ...extra,
});

describe('tus uploads', { timeout: 170_000 }, () => {
  const data = tempDir('vigil-media-tus-');
  let server: ChildServer | undefined;
  let url = '';
  let port = 0;
  const start = async () => {
    server = await spawnVigil(['--data', data, '--port', String(port)], ENV);
    url = server.url;
  };
  before(async () => {
    port = await freePort();
    await start();
  });
  after(async () => {
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it('answers OPTIONS with the extensions, checksum included', async () => {
    const res = await fetch(`${url}/v1/media/tus/`, { method: 'OPTIONS' });
    assert.ok(res.status === 204 || res.status === 200, String(res.status));
    const ext = res.headers.get('tus-extension') ?? '';
    for (const e of ['creation', 'termination', 'expiration', 'checksum']) assert.ok(ext.includes(e), ext);
    assert.match(res.headers.get('tus-checksum-algorithm') ?? '', /sha1/);
  });

  it('refuses bad metadata, unknown keys and other tenants; checks checksums; terminates', async () => {
    const meta = (o: Record<string, string>) =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
        .join(',');
    const create = (headers: Record<string, string>, token = API_KEY) =>
      fetch(`${url}/v1/media/tus/`, {
        method: 'POST',
        headers: { ...tusHeaders(), authorization: `Bearer ${token}`, ...headers },
      });
    const noName = await create({
      'upload-length': '1000',
      'upload-metadata': meta({ filetype: 'video/mp4' }),
    });
    assert.equal(noName.status, 400);
    assert.equal(((await noName.json()) as { code: string }).code, 'upload_invalid_filename');
    const image = await create({
      'upload-length': '1000',
      'upload-metadata': meta({ filename: 'a.png', filetype: 'image/png' }),
    });
    assert.equal(image.status, 415);
    const noKey = await fetch(`${url}/v1/media/tus/`, {
      method: 'POST',
      headers: { 'tus-resumable': '1.0.0', 'upload-length': '10' },
    });
    assert.equal(noKey.status, 401);

    const bytes = readFileSync(bigVideo(200)).subarray(0, 2 * MB);
    const made = await create({
      'upload-length': String(bytes.length),
      'upload-metadata': meta({ filename: 'part.mp4', filetype: 'video/mp4' }),
    });
    assert.equal(made.status, 201, await made.clone().text());
    const location = made.headers.get('location')!;
    const id = location.split('/').pop()!;
    assert.match(id, /^upload_[0-9a-f]{24}$/);
    assert.ok(made.headers.get('upload-expires'));
    const target = location.startsWith('http') ? location : `${url}${location}`;
    const first = bytes.subarray(0, MB);
    const patch = (body: Buffer, offset: number, checksum?: string) =>
      fetch(target, {
        method: 'PATCH',
        headers: tusHeaders({
          'content-type': 'application/offset+octet-stream',
          'upload-offset': String(offset),
          ...(checksum ? { 'upload-checksum': checksum } : {}),
        }),
        body: body as unknown as BodyInit,
      });
    const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('base64');
    const wrong = await patch(first, 0, `sha1 ${sha1(Buffer.from('x'))}`);
    assert.equal(wrong.status, 460);
    const head = await fetch(target, { method: 'HEAD', headers: tusHeaders() });
    assert.equal(head.headers.get('upload-offset'), '0', 'nothing of the refused PATCH was kept');
    const right = await patch(first, 0, `sha1 ${sha1(first)}`);
    assert.equal(right.status, 204);
    assert.equal(right.headers.get('upload-offset'), String(MB));
    const bogus = await patch(first, MB, 'crc99 abc');
    assert.equal(bogus.status, 400);
    // Another tenant sees nothing.
    const tenant = await call(`${url}/v1/tenants`, {
      token: API_KEY,
      body: { id: 'tus-other', name: 'Other' },
    });
    const other = tenant.body.apiKey as string;
    const foreign = await fetch(target, {
      method: 'HEAD',
      headers: { ...tusHeaders(), authorization: `Bearer ${other}` },
    });
    assert.equal(foreign.status, 404);
    const gone = await fetch(target, { method: 'DELETE', headers: tusHeaders() });
    assert.equal(gone.status, 204);
    assert.equal((await status(url, API_KEY, id)).body.status, 'aborted');
    assert.equal((await fetch(target, { method: 'HEAD', headers: tusHeaders() })).status, 404);
  });

  it('tus-js-client uploads 200 MB across a SIGKILL and resumes; the asset reaches ready', async () => {
    const file = readFileSync(bigVideo(200));
    let uploaded = 0;
    let restarted = false;
    let killing: Promise<void> | undefined;
    const finished = new Promise<string>((done, fail) => {
      const upload = new tus.Upload(file, {
        endpoint: `${url}/v1/media/tus/`,
        headers: { authorization: `Bearer ${API_KEY}` },
        chunkSize: 5 * MB,
        metadata: { filename: 'noise.mp4', filetype: 'video/mp4', title: 'tus noise' },
        retryDelays: [300, 600, 1000, 1500, 2000, 3000, 3000, 5000, 5000, 5000],
        onProgress(sent) {
          uploaded = sent;
          if (!killing && sent > file.length * 0.3) {
            killing = (async () => {
              await server!.kill();
              await start();
              restarted = true;
            })();
          }
        },
        onError: fail,
        onSuccess: () => done(upload.url!),
      });
      upload.start();
    });
    const uploadUrl = await finished;
    await killing;
    assert.ok(restarted, 'the server was killed and restarted mid-upload');
    assert.equal(uploaded, file.length);
    const id = uploadUrl.split('/').pop()!;
    const st = (await status(url, API_KEY, id)).body;
    assert.equal(st.status, 'completed');
    assert.match(st.assetId, /^asset_/);
    await waitFor('the tus asset to be ready', 120_000, async () => {
      const res = await call(`${url}/v1/media/process/${st.assetId}/status`, { token: API_KEY });
      if (res.body.status === 'failed') throw new Error(JSON.stringify(res.body));
      return res.body.status === 'ready' || undefined;
    });
    const meta = (await call(`${url}/v1/media/${st.assetId}/metadata`, { token: API_KEY })).body;
    assert.equal(meta.size, file.length);
    assert.equal(meta.fingerprint, `sha256:${createHash('sha256').update(file).digest('hex')}`);
  });
});
