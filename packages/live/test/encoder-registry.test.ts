/**
 * The sweep of stale encoders never kills the wrong process: a record is acted on only when its pid is
 * still the process recorded (start time, arguments, leader of its own group) and the server that
 * started it is gone. Processes here are `sleep`s this test starts and stops itself.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../../test/support/vigil.ts';
import { EncoderRegistry } from '../src/index.ts';

const startTime = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

describe('EncoderRegistry.sweep', () => {
  const dir = tempDir('vigil-registry-');
  const children: ChildProcess[] = [];
  const sleeper = (marker: string, detached: boolean) => {
    // `sleep 300 <n>`: the second interval tells the sleepers apart in their command lines.
    const child = spawn('sleep', ['300', marker], { detached, stdio: 'ignore' });
    children.push(child);
    return child;
  };
  /** A server that has exited, as the owner of a record. */
  const goneOwner = () => {
    const gone = spawn('true');
    return new Promise<{ pid: number; startTime: string }>((done) =>
      gone.once('exit', () => done({ pid: gone.pid!, startTime: '1' })),
    );
  };
  const write = (pid: number, rec: Record<string, unknown>) =>
    writeFileSync(join(dir, `${pid}.json`), JSON.stringify({ pid, ...rec }));

  after(() => {
    for (const c of children) if (alive(c)) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('kills a recorded encoder whose server is gone, and nothing that merely has its pid', async () => {
    const owner = await goneOwner();
    const stale = sleeper('1', true);
    const reused = sleeper('2', true);
    const otherArgs = sleeper('3', true);
    const notLeader = sleeper('4', false);
    const liveOwner = sleeper('5', true);
    write(stale.pid!, { startTime: startTime(stale.pid!), args: '300\u00001', owner });
    // Same pid, another process: the recorded start time is not its own.
    write(reused.pid!, { startTime: '12345', args: '300\u00002', owner });
    write(otherArgs.pid!, { startTime: startTime(otherArgs.pid!), args: '300\u00009', owner });
    write(notLeader.pid!, { startTime: startTime(notLeader.pid!), args: '300\u00004', owner });
    // Its server (this test process) still runs it.
    write(liveOwner.pid!, {
      startTime: startTime(liveOwner.pid!),
      args: '300\u00005',
      owner: { pid: process.pid, startTime: startTime(process.pid) },
    });
    writeFileSync(join(dir, '999999.json'), 'not json');

    const registry = new EncoderRegistry(dir);
    assert.deepEqual(await registry.sweep(), [stale.pid]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(alive(stale), false);
    for (const c of [reused, otherArgs, notLeader, liveOwner]) assert.equal(alive(c), true);
    // Records it acted on or found wrong are gone; the live owner's stays.
    const left = new EncoderRegistry(dir);
    assert.deepEqual(await left.sweep(), []);
    assert.equal(existsSync(join(dir, `${liveOwner.pid}.json`)), true);
  });

  it('records and forgets a pid with its start time and arguments', () => {
    const child = sleeper('6', true);
    const registry = new EncoderRegistry(join(dir, 'own'));
    registry.record(child.pid!, ['300', '6']);
    const rec = JSON.parse(readFileSync(join(dir, 'own', `${child.pid}.json`), 'utf8'));
    assert.equal(rec.startTime, startTime(child.pid!));
    assert.equal(rec.args, '300\u00006');
    assert.equal(rec.owner.pid, process.pid);
    registry.forget(child.pid!);
    assert.throws(() => readFileSync(join(dir, 'own', `${child.pid}.json`)));
  });
});
