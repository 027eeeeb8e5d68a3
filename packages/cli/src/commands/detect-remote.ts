/**
 * `vigil detect --server URL --api-key KEY`: the same detection run by a Vigil server. A file is
 * uploaded (streamed) to `POST /v1/detections`, a URL passed to it; the job is polled until it ends and
 * its result printed as the local command prints it, evidence frames downloaded into `--evidence`.
 */
import { createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UsageError } from '../usage-error.ts';

export interface RemoteDetectOptions {
  server: string;
  apiKey: string;
  input: string;
  mode: string;
  evidenceDir: string;
  /** Gives up waiting after this long (ms). */
  timeoutMs?: number;
}

/** An API error as one line (`code: message`). */
class ApiError extends Error {}

async function answer(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ApiError(`the server answered HTTP ${res.status}, not JSON`);
  }
  if (!res.ok) throw new ApiError(`${body.code ?? `http_${res.status}`}: ${body.message ?? 'refused'}`);
  return body;
}

function baseUrl(server: string): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new UsageError('--server must be a URL such as http://127.0.0.1:8080');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError('--server must be an http(s) URL');
  return u.href.replace(/\/$/, '');
}

/** Runs the detection on the server; returns the result (found or not) with local evidence files. */
export async function detectRemote(opts: RemoteDetectOptions): Promise<Record<string, unknown>> {
  const base = baseUrl(opts.server);
  const auth = { authorization: `Bearer ${opts.apiKey}` };
  const isUrl = /^https?:\/\//i.test(opts.input);
  let created: Record<string, unknown>;
  try {
    if (isUrl) {
      created = await answer(
        await fetch(`${base}/v1/detections`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ url: opts.input, mode: opts.mode }),
        }),
      );
    } else {
      let size: number;
      try {
        size = statSync(opts.input).size;
      } catch {
        throw new UsageError(`cannot read ${opts.input}`);
      }
      created = await answer(
        await fetch(`${base}/v1/detections?mode=${encodeURIComponent(opts.mode)}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: Readable.toWeb(createReadStream(opts.input)) as ReadableStream,
          duplex: 'half',
        } as RequestInit),
      );
    }
    const id = String(created.id);
    const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
    for (;;) {
      const d = await answer(
        await fetch(`${base}/v1/detections/${encodeURIComponent(id)}`, { headers: auth }),
      );
      if (d.status === 'failed') {
        const e = (d.error ?? {}) as { code?: string; message?: string };
        throw new ApiError(`${e.code ?? 'detection_failed'}: ${e.message ?? 'the detection failed'}`);
      }
      if (d.status === 'done') return await withLocalEvidence(base, auth, d, opts.evidenceDir);
      if (Date.now() > deadline) throw new ApiError(`timeout: detection ${id} is still ${d.status}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (err) {
    if (err instanceof ApiError || err instanceof UsageError) throw err;
    throw new Error(`cannot reach ${base}: ${(err as Error).message}`);
  }
}

async function withLocalEvidence(
  base: string,
  auth: Record<string, string>,
  d: Record<string, unknown>,
  dir: string,
): Promise<Record<string, unknown>> {
  const result = { ...(d.result as Record<string, unknown>) };
  if (result.found !== true || !Array.isArray(result.evidence)) return result;
  mkdirSync(dir, { recursive: true });
  const evidence: { t: number; file: string }[] = [];
  for (const [n, e] of (result.evidence as { t: number; url: string }[]).entries()) {
    const res = await fetch(`${base}${e.url}`, { headers: auth });
    if (!res.ok) continue;
    const ext = (res.headers.get('content-type') ?? '').includes('jpeg') ? 'jpg' : 'png';
    const file = join(dir, `evidence-${n}-${e.t}s.${ext}`);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    evidence.push({ t: e.t, file });
  }
  result.evidence = evidence;
  result.detection = d.id;
  return result;
}
