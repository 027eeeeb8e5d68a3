/**
 * A client of Vigil's chunked upload API for tests and benchmarks: initiate, send chunks (in any order,
 * with their SHA-256), status, complete; and generated test media cached in the OS temp dir.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, waitFor } from './vigil.ts';

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The keys of a `/v1/drm/license` answer's `license` (base64 ClearKey JSON): hex kid → hex key. */
export function clearKeysOf(license: string): Record<string, string> {
  const keys = JSON.parse(Buffer.from(license, 'base64').toString('utf8')).keys as {
    kid: string;
    k: string;
  }[];
  return Object.fromEntries(
    keys.map((k) => [
      Buffer.from(k.kid, 'base64url').toString('hex'),
      Buffer.from(k.k, 'base64url').toString('hex'),
    ]),
  );
}

export interface Initiated {
  uploadId: string;
  uploadUrl: string;
  chunkSize: number;
  totalChunks: number;
  expiresAt: string;
}

export async function initiate(
  url: string,
  apiKey: string,
  body: { filename: string; fileSize: number; mimeType: string; metadata?: Record<string, unknown> },
): Promise<Initiated> {
  const res = await call(`${url}/v1/media/upload/initiate`, { token: apiKey, body });
  if (res.status !== 201) throw new Error(`initiate: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Reads chunk `index` of a file (chunkSize bytes, the last shorter). */
export async function readChunk(path: string, chunkSize: number, index: number): Promise<Buffer> {
  const size = statSync(path).size;
  const start = index * chunkSize;
  const length = Math.min(chunkSize, size - start);
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, start);
    return buf;
  } finally {
    await handle.close();
  }
}

export async function putChunk(
  url: string,
  apiKey: string,
  uploadId: string,
  index: number,
  bytes: Buffer,
  checksum = sha256(bytes),
) {
  return call(`${url}/v1/media/upload/chunk?uploadId=${uploadId}&index=${index}`, {
    method: 'PUT',
    token: apiKey,
    rawBody: bytes,
    headers: { 'content-type': 'application/octet-stream', 'x-chunk-sha256': checksum },
  });
}

export async function status(url: string, apiKey: string, uploadId: string) {
  return call(`${url}/v1/media/upload/status/${uploadId}`, { token: apiKey });
}

export async function complete(url: string, apiKey: string, uploadId: string, sha?: string) {
  return call(`${url}/v1/media/upload/complete`, {
    token: apiKey,
    body: sha === undefined ? { uploadId } : { uploadId, sha256: sha },
  });
}

/** Shuffled 0..n-1, deterministic for a seed. */
export function shuffled(n: number, seed = 7): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    for await (const b of handle.createReadStream()) hash.update(b as Buffer);
  } finally {
    await handle.close().catch(() => {});
  }
  return hash.digest('hex');
}

/**
 * A large video made cheaply: 1280×720 noise, lossless H.264 (ultrafast), so a few seconds weigh
 * about `minMegabytes`; with a sine tone. Cached in the OS temp dir.
 */
export function bigVideo(minMegabytes: number): string {
  const dir = join(tmpdir(), 'vigil-media-test');
  const path = join(dir, `noise-720p-lossless-${minMegabytes}mb-v1.mp4`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  for (const seconds of [4, 5, 7, 10]) {
    const partial = `${path}.${process.pid}.partial.mp4`;
    const res = spawnSync(
      'ffmpeg',
      [
        ...['-hide_banner', '-v', 'error', '-y'],
        ...['-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30,noise=alls=60:allf=t`],
        ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
        ...[
          '-t',
          String(seconds),
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-qp',
          '0',
          '-pix_fmt',
          'yuv420p',
        ],
        ...['-c:a', 'aac', partial],
      ],
      { encoding: 'utf8' },
    );
    if (res.status !== 0) throw new Error(`ffmpeg failed to make the big test video: ${res.stderr}`);
    if (statSync(partial).size >= minMegabytes * 1024 * 1024) {
      renameSync(partial, path);
      return path;
    }
  }
  throw new Error(`could not make a video of ${minMegabytes} MB`);
}

/** A short 1280×720 test clip (testsrc2 + tone), for ladders with an HD rendition. Cached. */
export function hdClip(seconds: number): string {
  const dir = join(tmpdir(), 'vigil-media-test');
  const path = join(dir, `testsrc2-1280x720-${seconds}s-v1.mp4`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.${process.pid}.partial.mp4`;
  const res = spawnSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-y'],
      ...['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ...['-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', partial],
    ],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`ffmpeg failed to make the HD clip: ${res.stderr}`);
  renameSync(partial, path);
  return path;
}

/** Uploads a file in chunks and waits until its asset is ready; answers the asset id and its variants. */
export async function uploadReadyAsset(
  url: string,
  apiKey: string,
  path: string,
  timeoutMs = 90_000,
): Promise<{ assetId: string; variants: { quality: string; encryptionKeyId: string }[] }> {
  const size = statSync(path).size;
  const up = await initiate(url, apiKey, { filename: 'clip.mp4', fileSize: size, mimeType: 'video/mp4' });
  for (let i = 0; i < up.totalChunks; i++) {
    const res = await putChunk(url, apiKey, up.uploadId, i, await readChunk(path, up.chunkSize, i));
    if (res.status !== 200) throw new Error(`chunk ${i}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const assetId = (await complete(url, apiKey, up.uploadId)).body.assetId as string;
  await waitFor('the asset to be ready', timeoutMs, async () => {
    const res = await call(`${url}/v1/media/process/${assetId}/status`, { token: apiKey });
    if (res.body.status === 'failed') throw new Error(JSON.stringify(res.body));
    return res.body.status === 'ready' || undefined;
  });
  const variants = (await call(`${url}/v1/media/${assetId}/variants`, { token: apiKey })).body.variants;
  return { assetId, variants };
}

/** The environment of a `vigil serve` that processes fast into a 720p (HD key) and a 240p (SD key) rendition. */
export const HD_SD_MEDIA_ENV = {
  DATABASE_URL: '',
  VIGIL_PG_SCHEMA: '',
  VIGIL_LIVE: '0',
  VIGIL_MEDIA_LADDER: '720:1200000,240:300000',
  VIGIL_MEDIA_PRESET: 'ultrafast',
  VIGIL_MEDIA_POLL_MS: '200',
};
