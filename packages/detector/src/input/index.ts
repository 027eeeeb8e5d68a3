/**
 * The input layer: a local file or an http(s) URL (progressive file, HLS or DASH, on demand or live) as
 * frames at the rate and size a mode asks for. Every network request (playlists, manifests, segments,
 * keys) goes through the caller's fetch in Node; ffmpeg only ever reads a local file or its stdin.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Frame, InputError } from '../types.ts';
import { dashBytes, isDash } from './dash.ts';
import { type Crop, decodeFrames } from './ffmpeg.ts';
import { hlsBytes, isHls } from './hls.ts';
import { type HttpLimits, open, PLAYLIST_MAX_BYTES, readBounded, redact } from './http.ts';

export { type Crop, NoVideoError } from './ffmpeg.ts';

export interface FramesOptions {
  fps: number;
  width?: number;
  crop?: Crop;
  /** Decode cheaply (see DecodeOptions.quick). */
  quick?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Told ffmpeg's CPU seconds when it stops (benchmarks). */
  onCpuSeconds?(seconds: number): void;
}

/** At most this much of a progressive download is read (bytes). */
export const PROGRESSIVE_MAX_BYTES = 2 * 1024 * 1024 * 1024;

export function isUrl(input: string): boolean {
  return /^https?:\/\//i.test(input);
}

/** Throws an InputError for what cannot be read at all: a missing file, a bad URL. */
export function checkInput(input: string): void {
  if (isUrl(input)) {
    try {
      new URL(input);
    } catch {
      throw new InputError('invalid URL', 'input_bad_url');
    }
    return;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    throw new InputError('only local files and http(s) URLs can be read', 'input_bad_url');
  }
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(input);
  } catch {
    throw new InputError(`no such file: ${input}`, 'input_missing');
  }
  if (!st.isFile()) throw new InputError(`not a file: ${input}`, 'input_not_file');
}

export async function* frames(input: string, opts: FramesOptions): AsyncGenerator<Frame> {
  checkInput(input);
  const decode = {
    fps: opts.fps,
    width: opts.width,
    crop: opts.crop,
    quick: opts.quick,
    signal: opts.signal,
    onCpuSeconds: opts.onCpuSeconds,
  };
  if (!isUrl(input)) {
    yield* decodeFrames({ path: input }, decode);
    return;
  }
  const limits: HttpLimits = { fetch: opts.fetch ?? fetch, signal: opts.signal };
  const remote = await openRemote(input, limits);
  if (remote.kind === 'bytes') {
    yield* decodeFrames({ bytes: remote.bytes }, decode);
    return;
  }
  try {
    yield* decodeFrames({ path: remote.path }, decode);
  } finally {
    rmSync(remote.dir, { recursive: true, force: true });
  }
}

type Remote =
  | { kind: 'bytes'; bytes: AsyncIterable<Uint8Array> }
  | { kind: 'file'; path: string; dir: string };

/**
 * What a URL turns out to be: an HLS or DASH manifest (its segments as one byte stream), an MP4 of known
 * length (downloaded to a temporary file first, since its index may sit at the end), or any other
 * progressive stream (TS, WebM, FLV, fragmented MP4, possibly live: piped as it comes).
 */
async function openRemote(url: string, limits: HttpLimits): Promise<Remote> {
  const res = await open(url, limits, true);
  const type = (res.headers.get('content-type') ?? '').toLowerCase();
  const finalUrl = res.url || url;
  const reader = res.body?.getReader();
  if (!reader) throw new InputError(`${redact(url)}: an empty answer`, 'input_empty');
  // Sniff the first bytes: a playlist/manifest is text.
  let head: Buffer = Buffer.alloc(0);
  let done = false;
  while (head.length < 512 && !done) {
    const r = await reader.read();
    if (r.done) done = true;
    else head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  const text = head.toString('utf8');
  if (isHls(text) || isDash(text) || /mpegurl|dash\+xml/.test(type)) {
    const rest = done
      ? Buffer.alloc(0)
      : await readBounded(new Response(readerStream(reader)), PLAYLIST_MAX_BYTES, url);
    const body = Buffer.concat([head, rest]).toString('utf8');
    if (isHls(body)) return { kind: 'bytes', bytes: hlsBytes(finalUrl, body, limits) };
    if (isDash(body)) return { kind: 'bytes', bytes: dashBytes(finalUrl, body, limits) };
    throw new InputError(`${redact(url)}: a playlist of an unknown kind`, 'input_bad_playlist');
  }
  const length = Number(res.headers.get('content-length'));
  const mp4 = head.subarray(4, 8).toString('latin1') === 'ftyp';
  if (mp4 && Number.isFinite(length) && length > 0) {
    if (length > PROGRESSIVE_MAX_BYTES) {
      await reader.cancel().catch(() => {});
      throw new InputError(`${redact(url)} is larger than ${PROGRESSIVE_MAX_BYTES} bytes`, 'input_too_large');
    }
    const dir = mkdtempSync(join(tmpdir(), 'vigil-detect-'));
    const path = join(dir, 'input.mp4');
    try {
      const out = createWriteStream(path);
      const chunks = (async function* () {
        yield head;
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          yield r.value;
        }
      })();
      await pipeline(chunks, out, { signal: limits.signal });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (limits.signal?.aborted) throw err;
      throw new InputError(
        `could not download ${redact(url)}: ${(err as Error).message}`,
        'input_unreachable',
      );
    }
    return { kind: 'file', path, dir };
  }
  return { kind: 'bytes', bytes: progressive(head, done, reader) };
}

async function* progressive(
  head: Buffer,
  done: boolean,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let total = head.length;
  if (head.length) yield head;
  while (!done) {
    const r = await reader.read();
    if (r.done) break;
    total += r.value.byteLength;
    if (total > PROGRESSIVE_MAX_BYTES) {
      await reader.cancel().catch(() => {});
      return;
    }
    yield r.value;
  }
}

function readerStream(reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async pull(controller) {
      const r = await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel: () => reader.cancel(),
  });
}
