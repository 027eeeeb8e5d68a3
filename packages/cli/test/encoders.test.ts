/**
 * A `vigil serve` that dies (SIGKILL, crash) takes its encoders with it: each ffmpeg runs in a process
 * group of its own under a watchdog that kills the group when the server is gone, and a server starting
 * on the same data ends any encoder an earlier one left running (its watchdog killed too) before it starts
 * channels, so their RTMP/SRT ports are free. Checked on /proc: the ffmpeg processes with this data folder
 * in their command line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename } from 'node:path';
import { after, describe, it } from 'node:test';
import { type ChildServer, runCli, spawnVigil, tempDir } from '../../../test/support/vigil.ts';

const env = { VIGIL_MASTER_KEY: '71'.repeat(32), VIGIL_JWT_SECRET: 'encoder-test-secret-0123456789abcdef' };

interface Proc {
  pid: number;
  pgrp: number;
  argv: string[];
}

/** Every live (not zombie) process, from /proc. */
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[0] === 'X') continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(name), pgrp: Number(fields[2]), argv });
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** The ffmpeg processes working for the server on `dir`. */
function encoders(dir: string): Proc[] {
  return processes().filter(
    (p) => basename(p.argv[0] ?? '') === 'ffmpeg' && p.argv.some((a) => a.includes(dir)),
  );
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out (${timeoutMs} ms) waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function untilAsync(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out (${timeoutMs} ms) waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

describe('encoders end with their server', { timeout: 180_000 }, () => {
  const dir = tempDir('vigil-encoders-');
  const data = ['--data', dir];
  let server: ChildServer | undefined;
  after(async () => {
    await server?.stop();
    // Whatever a failed assertion left behind: only processes of this test's data folder.
    for (const p of encoders(dir)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('after kill -9 of the server none is left; a start after a lost watchdog ends the stale one', async () => {
    const port = await freePort();
    for (const [id, input] of [
      ['pattern', 'test'],
      ['ingest', `rtmp://127.0.0.1:${port}/live/k`],
    ] as const) {
      const res = await runCli(['live', 'start', id, '--input', input, '--ladder', '180:200k', ...data], env);
      assert.equal(res.code, 0, res.stderr);
    }
    const twoEncoders = () => {
      const found = encoders(dir);
      return found.length === 2 ? found : undefined;
    };

    // 1. kill -9 of the server process alone: its encoders are gone well within 10 s, the port is free.
    server = await spawnVigil(data, env);
    const first = await until('two encoders', twoEncoders, 30_000);
    assert.ok(
      first.every((p) => p.pgrp === p.pid),
      'each encoder leads a process group of its own',
    );
    await untilAsync('the RTMP input listening', async () => !(await portFree(port)), 15_000);
    await server.kill();
    server = undefined;
    const killedAt = Date.now();
    await until('no encoder left', () => (encoders(dir).length === 0 ? true : undefined), 10_000);
    // An exiting process leaves /proc's list (its memory goes first) a moment before its sockets close.
    await untilAsync(
      'the RTMP port free again',
      () => portFree(port),
      Math.max(0, 10_000 - (Date.now() - killedAt)),
    );
    assert.ok(Date.now() - killedAt < 10_000);

    // 2. The watchdogs killed as well (as on a host without them): the encoders outlive the server...
    server = await spawnVigil(data, env);
    const second = await until('two encoders again', twoEncoders, 30_000);
    assert.ok(second.every((p) => !first.some((f) => f.pid === p.pid)));
    const groups = new Set(second.map((p) => p.pgrp));
    const watchdogs = processes().filter((p) => groups.has(p.pgrp) && !second.some((e) => e.pid === p.pid));
    assert.equal(watchdogs.length, 2, 'one watchdog per encoder, in its group');
    for (const w of watchdogs) process.kill(w.pid, 'SIGKILL');
    await server.kill();
    server = undefined;
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(
      encoders(dir)
        .map((p) => p.pid)
        .sort(),
      second.map((p) => p.pid).sort(),
      'without their watchdogs, the encoders outlived the server',
    );

    // ...and the next start ends them before running the channels: the new RTMP listener gets the port.
    server = await spawnVigil(data, env);
    await until(
      'the stale encoders gone',
      () => {
        const pids = encoders(dir).map((p) => p.pid);
        return second.every((p) => !pids.includes(p.pid)) ? true : undefined;
      },
      10_000,
    );
    const third = await until('two new encoders', twoEncoders, 30_000);
    assert.ok(third.every((p) => !second.some((s) => s.pid === p.pid)));
    assert.match(server.output(), /ended 2 encoder\(s\) left running by an earlier server/);
    const status = await until(
      'the ingest channel listening (not failing on its port)',
      () => {
        const ingest = encoders(dir).find((p) => p.argv.some((a) => a.includes(`:${port}/`)));
        return ingest;
      },
      10_000,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    assert.ok(
      encoders(dir).some((p) => p.pid === status.pid),
      'the new RTMP listener kept running: its port was free',
    );

    // A clean stop leaves nothing either.
    await server.stop();
    server = undefined;
    await until(
      'no encoder after a clean stop',
      () => (encoders(dir).length === 0 ? true : undefined),
      10_000,
    );
  });
});
