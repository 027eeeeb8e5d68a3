import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Encoders that end with the server. Node has no prctl(PR_SET_PDEATHSIG), so each encoder is started by a
 * POSIX shell that (1) makes itself the leader of a process group of its own (`detached`), (2) forks a
 * watchdog that reads a pipe whose only writer is this process, and (3) execs the encoder in place (same
 * pid: its exit code and signal are the encoder's own). When this process goes, however it goes (SIGKILL,
 * crash), the kernel closes the pipe; the watchdog reads end-of-file and SIGKILLs the whole group: the
 * encoder and itself. The pipe is also closed as soon as the encoder exits, so the watchdog never
 * outlives it.
 */
const WATCHDOG =
  'exec 3<&0 </dev/null; (while read -r _ <&3; do :; done; kill -KILL 0) >/dev/null 2>&1 & exec "$@" 3<&-';

export const GUARDED = process.platform !== 'win32';

/** Spawns `command args` so that it ends with this process (see WATCHDOG); stdout ignored, stderr piped. */
export function spawnGuarded(command: string, args: string[]): ChildProcess {
  if (!GUARDED) return spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'vigil-encoder', command, ...args], {
    detached: true,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  child.stdin!.on('error', () => {});
  child.once('exit', () => child.stdin!.destroy());
  return child;
}

/** Signals the encoder's whole process group (its watchdog included), or the process alone without one. */
export function signalGuarded(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (GUARDED) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    child.kill(signal);
  }
}

interface ProcStat {
  /** R, S, D, Z (exited, not yet reaped), ... */
  state: string;
  pgrp: number;
  /** Clock ticks after boot: with the pid, it names one process for ever. */
  startTime: string;
}

/** /proc/<pid>/stat (Linux); undefined when there is no such process or no /proc. */
function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, pgrp: Number(fields[2]), startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

function procCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

interface EncoderRecord {
  pid: number;
  startTime: string;
  /** The encoder's arguments, NUL-joined, as /proc/<pid>/cmdline shows them. */
  args: string;
  owner: { pid: number; startTime: string | undefined };
}

const OWN_START = procStat(process.pid)?.startTime;

/**
 * Pid files of the encoders this data folder's server started (`<dir>/<pid>.json`), so that the next
 * start can end any that outlived their server (its watchdog killed too, or a non-Linux host). A record is
 * acted on only when its pid is still the very process recorded — same start time, same arguments, leader
 * of its own group — and the server that started it is gone, so a reused pid is never killed.
 */
export class EncoderRegistry {
  constructor(readonly dir: string) {}

  record(pid: number, args: string[]): void {
    const stat = procStat(pid);
    if (!stat) return;
    const rec: EncoderRecord = {
      pid,
      startTime: stat.startTime,
      args: args.join('\0'),
      owner: { pid: process.pid, startTime: OWN_START },
    };
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(join(this.dir, `${pid}.json`), JSON.stringify(rec));
    } catch {
      // Best effort: the watchdog still ends the encoder with the server.
    }
  }

  forget(pid: number): void {
    rmSync(join(this.dir, `${pid}.json`), { force: true });
  }

  /** Kills the recorded encoders whose server is gone; returns their pids. */
  async sweep(): Promise<number[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => /^\d+\.json$/.test(n));
    } catch {
      return [];
    }
    const killed: number[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      let rec: EncoderRecord;
      try {
        rec = JSON.parse(readFileSync(file, 'utf8')) as EncoderRecord;
      } catch {
        rmSync(file, { force: true });
        continue;
      }
      if (rec.owner.pid !== process.pid && isAlive(rec.owner.pid, rec.owner.startTime)) continue;
      if (rec.owner.pid === process.pid && rec.owner.startTime === OWN_START) continue;
      if (isStale(rec)) {
        try {
          process.kill(-rec.pid, 'SIGKILL');
          killed.push(rec.pid);
        } catch {
          // Gone in the meantime.
        }
      }
      rmSync(file, { force: true });
    }
    // Until they are gone they hold their input ports.
    const deadline = Date.now() + 5_000;
    const running = (pid: number) => {
      const state = procStat(pid)?.state;
      return state !== undefined && state !== 'Z' && state !== 'X';
    };
    while (killed.some(running) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return killed;
  }
}

function isAlive(pid: number, startTime: string | undefined): boolean {
  const stat = procStat(pid);
  if (stat) return stat.startTime === startTime;
  if (startTime !== undefined) return false;
  // No /proc: all we can tell is whether the pid is taken.
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(rec: EncoderRecord): boolean {
  const stat = procStat(rec.pid);
  if (!stat || stat.startTime !== rec.startTime || stat.pgrp !== rec.pid) return false;
  const cmdline = procCmdline(rec.pid);
  return cmdline !== undefined && rec.args.length > 0 && cmdline.includes(rec.args);
}
