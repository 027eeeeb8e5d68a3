import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { abortError, PackagerError } from './errors.ts';

/** The ffmpeg and ffprobe binaries: FFMPEG / FFPROBE from the environment, else the ones on PATH. */
export function ffmpegBin(): string {
  return process.env.FFMPEG || 'ffmpeg';
}
export function ffprobeBin(): string {
  return process.env.FFPROBE || 'ffprobe';
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
  /** Called with ffmpeg's `out_time` in seconds, from `-progress pipe:1` on stdout. */
  onTime?: ((seconds: number) => void) | undefined;
  /**
   * Bytes written to the tool's stdin, then closed; an async iterable is streamed with backpressure, and
   * if it throws, the tool is killed and the run fails with that error.
   */
  input?: Buffer | AsyncIterable<Buffer> | undefined;
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  /** The tail of stderr (the last 16 KiB). */
  stderr: string;
}

const STDERR_TAIL = 16 * 1024;

/**
 * Runs ffmpeg or ffprobe to completion. Aborting the signal kills the process (SIGKILL: it holds no state
 * worth a clean shutdown, the caller removes its output) and rejects with an `aborted` error.
 */
export function runTool(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const { signal, onTime, input } = opts;
  if (signal?.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    let settled = false;
    let inputError: unknown;
    const onAbort = () => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    if (onTime) {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        // out_time_us (and out_time_ms, which ffmpeg 5 also gives in microseconds).
        const m = /^out_time_us=(\d+)/.exec(line);
        if (m) onTime(Number(m[1]) / 1e6);
      });
    } else {
      child.stdout!.on('data', (d: Buffer) => chunks.push(d));
    }
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (stderr.length > 2 * STDERR_TAIL) stderr = stderr.slice(-STDERR_TAIL);
    });
    if (input && child.stdin) {
      child.stdin.on('error', () => {});
      if (Buffer.isBuffer(input)) {
        child.stdin.end(input);
      } else {
        pipeline(Readable.from(input), child.stdin).catch((err: unknown) => {
          // The tool closing its input early (EPIPE) is its own business; an error of the source is ours.
          if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
          inputError = err;
          child.kill('SIGKILL');
        });
      }
    }
    child.once('error', (err: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          err.code === 'ENOENT'
            ? new PackagerError('tool_missing', `${bin} is not installed (or not on PATH)`)
            : err,
        ),
      );
    });
    child.once('close', (code) => {
      finish(() => {
        if (signal?.aborted) return reject(abortError());
        if (inputError !== undefined) return reject(inputError);
        resolve({ code: code ?? 1, stdout: Buffer.concat(chunks), stderr: stderr.slice(-STDERR_TAIL) });
      });
    });
  });
}

/** The most telling line of ffmpeg's stderr: the first error-looking one (the cause), else the last one. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errorish = lines.filter((l) => /error|invalid|could not|no such|failed|unknown|not found/i.test(l));
  return (errorish[0] ?? lines.at(-1) ?? 'no output').replace(/^\[[^\]]*@ 0x[0-9a-f]+\] /, '').slice(0, 300);
}

/** Runs ffmpeg and fails with one line if it exits non-zero. */
export async function ffmpeg(args: string[], what: string, opts: RunOptions = {}): Promise<RunResult> {
  const result = await runTool(ffmpegBin(), ['-hide_banner', '-nostdin', '-y', ...args], opts);
  if (result.code !== 0) {
    throw new PackagerError('ffmpeg_failed', `ffmpeg failed while ${what}: ${lastErrorLine(result.stderr)}`);
  }
  return result;
}
