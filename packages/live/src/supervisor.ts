import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type EncoderRegistry, signalGuarded, spawnGuarded } from './encoder-guard.ts';

export type SupervisorState = 'idle' | 'running' | 'backoff' | 'stopped';

export interface SupervisorOptions {
  command: string;
  /** Arguments of each run; called per run so every run can write to a fresh folder. */
  args: (run: number) => string[];
  /** First restart delay; doubles per consecutive failure up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run that lasted this long resets the backoff. */
  healthyAfterMs?: number;
  /** Grace between SIGTERM and SIGKILL when stopping. */
  killGraceMs?: number;
  /** Where each run's pid is recorded while it runs, for the sweep of encoders that outlived a server. */
  registry?: EncoderRegistry | undefined;
}

export interface RunExit {
  run: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  /** The last lines ffmpeg wrote to stderr. */
  stderr: string;
}

export interface SupervisorStatus {
  state: SupervisorState;
  pid: number | undefined;
  run: number;
  restarts: number;
  runningSince: number | undefined;
  nextRestartAt: number | undefined;
  lastExit: RunExit | undefined;
}

const STDERR_TAIL = 4096;

/**
 * Keeps one child process running: restarts it with exponential backoff when it exits or when asked to
 * (a stalled encoder), until stop(). Each run is spawned guarded (encoder-guard.ts): in a process group
 * of its own that is killed when this process goes. Events: `spawn` (run, pid), `exit` (RunExit).
 */
export class Supervisor extends EventEmitter {
  readonly #opts: Required<Omit<SupervisorOptions, 'registry'>> & Pick<SupervisorOptions, 'registry'>;
  #child: ChildProcess | undefined;
  #state: SupervisorState = 'idle';
  #run = 0;
  #restarts = 0;
  #failures = 0;
  #runningSince: number | undefined;
  #nextRestartAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastExit: RunExit | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(opts: SupervisorOptions) {
    super();
    this.#opts = {
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      healthyAfterMs: 30_000,
      killGraceMs: 3_000,
      ...opts,
    };
  }

  status(): SupervisorStatus {
    return {
      state: this.#state,
      pid: this.#child?.pid,
      run: this.#run,
      restarts: this.#restarts,
      runningSince: this.#runningSince,
      nextRestartAt: this.#nextRestartAt,
      lastExit: this.#lastExit,
    };
  }

  start(): void {
    if (this.#state === 'running' || this.#state === 'backoff') return;
    this.#spawn();
  }

  /** Kills the current run (SIGKILL); the exit handler restarts it with backoff. */
  restart(reason: string): void {
    if (this.#state !== 'running' || !this.#child) return;
    this.emit('restarting', reason);
    signalGuarded(this.#child, 'SIGKILL');
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    this.#nextRestartAt = undefined;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => signalGuarded(child, 'SIGKILL'), this.#opts.killGraceMs);
      await this.#exited;
      clearTimeout(kill);
    }
  }

  #spawn(): void {
    this.#nextRestartAt = undefined;
    const run = ++this.#run;
    let stderr = '';
    let child: ChildProcess;
    let args: string[];
    try {
      args = this.#opts.args(run);
      child = spawnGuarded(this.#opts.command, args);
    } catch (err) {
      this.#onExit(run, null, null, (err as Error).message);
      return;
    }
    this.#child = child;
    this.#state = 'running';
    this.#runningSince = Date.now();
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    this.#exited = new Promise<void>((done) => {
      let finished = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, error?: string) => {
        if (finished) return;
        finished = true;
        this.#onExit(run, code, signal, error ? `${stderr}\n${error}` : stderr);
        done();
      };
      child.once('error', (err) => finish(null, null, err.message));
      child.once('exit', (code, signal) => finish(code, signal));
    });
    const pid = child.pid;
    if (pid !== undefined) {
      this.#opts.registry?.record(pid, args);
      child.once('exit', () => this.#opts.registry?.forget(pid));
      this.emit('spawn', run, pid);
    }
  }

  #onExit(run: number, code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    const at = Date.now();
    const lasted = this.#runningSince === undefined ? 0 : at - this.#runningSince;
    this.#child = undefined;
    this.#runningSince = undefined;
    this.#lastExit = { run, code, signal, at, stderr: stderr.trim() };
    this.emit('exit', this.#lastExit);
    if (this.#state === 'stopped') return;
    this.#failures = lasted >= this.#opts.healthyAfterMs ? 1 : this.#failures + 1;
    const delay = Math.min(this.#opts.maxBackoffMs, this.#opts.minBackoffMs * 2 ** (this.#failures - 1));
    this.#state = 'backoff';
    this.#nextRestartAt = at + delay;
    this.#timer = setTimeout(() => {
      if (this.#state !== 'backoff') return;
      this.#restarts++;
      this.#spawn();
    }, delay);
  }
}
