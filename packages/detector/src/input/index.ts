/**
 * The input layer: a local file or an http(s) URL (progressive file, HLS or DASH, on demand or live) as
 * frames at the rate and size a mode asks for. Every network request (playlists, manifests, segments,
 * keys) goes through the caller's fetch in Node; ffmpeg only ever reads a local file or its stdin.
 */
import { statSync } from 'node:fs';
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
    signal: opts.signal,
    onCpuSeconds: opts.onCpuSeconds,
  };
  if (!isUrl(input)) {
    yield* decodeFrames({ path: input }, decode);
    return;
  }
  const limits: HttpLimits = { fetch: opts.fetch ?? fetch, signal: opts.signal };
  yield* decodeFrames({ bytes: remoteBytes(input, limits) }, decode);
}

/** The bytes of a remote input, whatever kind it turns out to be. */
async function* remoteBytes(url: string, limits: HttpLimits): AsyncGenerator<Uint8Array> {
  // No overall timeout on the body: a live progressive stream has none. Each read is bounded instead.
  const res = await open(url, { ...limits, timeoutMs: 20_000 });
  const type = (res.headers.get('content-type') ?? '').toLowerCase();
  const finalUrl = res.url || url;
  const reader = res.body?.getReader();
  if (!reader) return;
  // Sniff the first bytes: a playlist/manifest is text.
  let head: Buffer = Buffer.alloc(0);
  let done = false;
  while (head.length < 512 && !done) {
    const r = await reader.read();
    if (r.done) done = true;
    else head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  const text = head.toString('utf8');
  const manifest = isHls(text) || isDash(text) || /mpegurl|dash\+xml/.test(type);
  if (manifest) {
    const rest = done
      ? Buffer.alloc(0)
      : await readBounded(new Response(readerStream(reader)), PLAYLIST_MAX_BYTES, url);
    const body = Buffer.concat([head, rest]).toString('utf8');
    if (isHls(body)) yield* hlsBytes(finalUrl, body, limits);
    else if (isDash(body)) yield* dashBytes(finalUrl, body, limits);
    else throw new InputError(`${redact(url)}: a playlist of an unknown kind`, 'input_bad_playlist');
    return;
  }
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
