/** Bounded HTTP reads through the caller's fetch (the API passes one that refuses private addresses). */
import { InputError } from '../types.ts';

export type FetchFn = typeof fetch;

export interface HttpLimits {
  fetch: FetchFn;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export const PLAYLIST_MAX_BYTES = 2 * 1024 * 1024;
export const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 20_000;

function signalFor(limits: HttpLimits): AbortSignal {
  const timeout = AbortSignal.timeout(limits.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return limits.signal ? AbortSignal.any([limits.signal, timeout]) : timeout;
}

/**
 * GET `url`; a clear InputError for a refused, unreachable or failing URL. The timeout covers the whole
 * read, or with `headersOnly` only the wait for the answer's headers (a long or live body).
 */
export async function open(url: string, limits: HttpLimits, headersOnly = false): Promise<Response> {
  let res: Response;
  const controller = new AbortController();
  const timer = headersOnly
    ? setTimeout(
        () => controller.abort(new DOMException('timed out', 'TimeoutError')),
        limits.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      )
    : undefined;
  const signal = headersOnly
    ? limits.signal
      ? AbortSignal.any([limits.signal, controller.signal])
      : controller.signal
    : signalFor(limits);
  try {
    res = await limits.fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    if (limits.signal?.aborted) throw err;
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    // A guard's refusal carries its own code and message; pass those on.
    if (typeof e.code === 'string' && e.code.length > 0 && !e.code.startsWith('ERR_')) {
      throw new InputError(e.message, e.code);
    }
    const why = e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new InputError(`could not fetch ${redact(url)}: ${why}`, 'input_unreachable');
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new InputError(`could not fetch ${redact(url)}: HTTP ${res.status}`, 'input_http_error');
  }
  return res;
}

/** Reads a whole body of at most `maxBytes`. */
export async function readBounded(res: Response, maxBytes: number, url: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length'));
  if (Number.isFinite(length) && length > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new InputError(`${redact(url)} is larger than ${maxBytes} bytes`, 'input_too_large');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await res.body.cancel().catch(() => {});
      throw new InputError(`${redact(url)} is larger than ${maxBytes} bytes`, 'input_too_large');
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export async function getBounded(url: string, maxBytes: number, limits: HttpLimits): Promise<Buffer> {
  return readBounded(await open(url, limits), maxBytes, url);
}

/** A URL without its query (tokens) for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

export function resolveUrl(base: string, ref: string): string {
  return new URL(ref, base).toString();
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
