/**
 * The decoding adapter: ffmpeg turns a local file, or bytes fed on its stdin, into RGB24 pictures at a
 * fixed rate (`image2pipe` PPM on stdout: raw RGB24 with a header per picture, so a resolution change
 * mid-stream is no problem). ffmpeg never opens the network: local inputs are read with the `file`
 * protocol only and everything fetched is piped in by the caller.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Frame } from '../types.ts';
import { PpmSplitter } from './ppm.ts';

/** A region of the picture in fractions 0..1 of its width and height. */
export interface Crop {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Pictures a second (sampled from the source with ffmpeg's fps filter). */
  fps: number;
  /** Scale the (cropped) picture down to at most this width; the aspect ratio is kept. */
  width?: number;
  crop?: Crop;
  /**
   * Decode cheaply, for readers of coarse colour means: one thread, no non-reference pictures (the fps
   * filter takes its samples from the others) and no deblocking. About half of ffmpeg's CPU for H.264.
   */
  quick?: boolean;
  signal?: AbortSignal;
  /** Told ffmpeg's CPU time (user + system, seconds) when it stops (Linux; for benchmarks). */
  onCpuSeconds?(seconds: number): void;
}

/** ffmpeg ran but produced no picture (not a video, truncated before the first picture, ...). */
export class NoVideoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoVideoError';
  }
}

const STDERR_KEEP = 4096;
/** Input options of a quick decode (see DecodeOptions.quick). */
const QUICK_DECODE = ['-threads', '1', '-skip_frame', 'noref', '-skip_loop_filter', 'all'];

export function filterGraph(opts: DecodeOptions): string {
  const parts = [`fps=${opts.fps}`];
  const c = opts.crop;
  if (c) {
    const f = (v: number) => Math.min(1, Math.max(0, v)).toFixed(6);
    parts.push(`crop=w=iw*${f(c.width)}:h=ih*${f(c.height)}:x=iw*${f(c.x)}:y=ih*${f(c.y)}`);
  }
  if (opts.width) parts.push(`scale=w='min(${Math.round(opts.width)},iw)':h=-2:flags=area`);
  return parts.join(',');
}

/**
 * Decodes `source` (a local path, or a byte stream piped to stdin) into frames, t = n / fps seconds from
 * the first picture. Ends when the input ends; stops ffmpeg when the consumer stops or the signal aborts.
 */
export async function* decodeFrames(
  source: { path: string } | { bytes: AsyncIterable<Uint8Array> },
  opts: DecodeOptions,
): AsyncGenerator<Frame> {
  if (!(opts.fps > 0 && opts.fps <= 120)) throw new RangeError('fps must be in (0, 120]');
  const piped = 'bytes' in source;
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...(piped ? [] : ['-protocol_whitelist', 'file']),
    ...(opts.quick ? QUICK_DECODE : []),
    '-i',
    piped ? 'pipe:0' : source.path,
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-vf',
    filterGraph(opts),
    '-f',
    'image2pipe',
    '-vcodec',
    'ppm',
    'pipe:1',
  ];
  if (piped) args.splice(args.indexOf('-nostdin'), 1);
  const child = spawn('ffmpeg', args, { stdio: [piped ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-STDERR_KEEP);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
      resolve(-1);
    });
  });
  let cpuRead = false;
  const readCpu = () => {
    if (cpuRead || !opts.onCpuSeconds || child.pid === undefined) return;
    cpuRead = true;
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      opts.onCpuSeconds((Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // gone already, or not Linux
    }
  };
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) {
      readCpu();
      child.kill('SIGKILL');
    }
  };
  const onAbort = () => kill();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let feeding: Promise<void> | undefined;
  let feedError: Error | undefined;
  if (piped) {
    const stdin = child.stdin!;
    stdin.on('error', () => {}); // EPIPE when ffmpeg stops reading early
    feeding = (async () => {
      try {
        for await (const chunk of source.bytes) {
          if (stdin.destroyed) break;
          if (!stdin.write(chunk)) {
            await new Promise<void>((resolve) => {
              const done = () => {
                stdin.off('drain', done);
                stdin.off('close', done);
                resolve();
              };
              stdin.on('drain', done);
              stdin.on('close', done);
            });
          }
        }
      } catch (err) {
        stderr += `\ninput: ${(err as Error).message}`;
        feedError = err as Error;
      } finally {
        stdin.end();
      }
    })();
  }
  const splitter = new PpmSplitter();
  let n = 0;
  try {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      for (const pic of splitter.push(chunk)) {
        yield { t: n / opts.fps, width: pic.width, height: pic.height, data: pic.data };
        n++;
      }
    }
    readCpu(); // the process may still be a zombie here, its times final
    const code = await exited;
    await feeding;
    if (opts.signal?.aborted) return;
    // An input error (unreachable, refused) before any picture is the answer; after some, the input ended.
    if (n === 0 && feedError && 'code' in feedError) throw feedError;
    if (n === 0) {
      const why = lastLine(stderr) || (code === 0 ? 'no video stream' : `ffmpeg exited with ${code}`);
      throw new NoVideoError(`no picture could be decoded: ${why}`);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    kill();
  }
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 300);
}
