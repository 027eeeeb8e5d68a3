/**
 * `vigil serve --no-demo` after a start with the demo: the demo channel stored then (set to run) does not
 * run again. It is set to stopped, its keys are withdrawn and no encoder runs for it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ensurePlayerBundle } from '../../../test/support/browser.ts';
import { type ChildServer, call, runCli, spawnVigil, tempDir } from '../../../test/support/vigil.ts';

const env = { VIGIL_MASTER_KEY: '5c'.repeat(32), VIGIL_JWT_SECRET: 'no-demo-test-secret-0123456789abcdef' };

/** Pids of the ffmpeg processes with `dir` in their command line. */
function encoders(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (/(^|\/)ffmpeg$/.test(argv[0] ?? '') && argv.some((a) => a.includes(dir))) pids.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('vigil serve --no-demo', { timeout: 180_000 }, () => {
  const dir = tempDir('vigil-no-demo-');
  let server: ChildServer | undefined;
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops the demo channel an earlier start stored', async () => {
    ensurePlayerBundle();
    server = await spawnVigil(['--data', dir], { ...env, VIGIL_DEMO: '1' });
    await until('the demo encoder', () => encoders(dir).length === 1, 60_000);
    const keysOf = async () =>
      (await runCli(['keys', 'list', '--resource', 'vigil-demo', '--data', dir], env)).stdout.trim();
    await until('the demo keys', async () => (await keysOf()) !== '', 60_000);
    await server.stop();
    server = undefined;
    const stored = await runCli(['live', 'status', 'demo', '--data', dir], env);
    assert.match(stored.stdout, /desired running/);
    assert.notEqual(await keysOf(), '', 'the demo keys outlive a clean stop');

    // The flag wins over VIGIL_DEMO=1.
    server = await spawnVigil(['--data', dir, '--no-demo'], { ...env, VIGIL_DEMO: '1' });
    const running = server;
    await until(
      'the line saying so',
      () => /demo: off; the demo live channel .* is stopped/.test(running.output()),
      10_000,
    );
    const status = await runCli(['live', 'status', 'demo', '--data', dir], env);
    assert.match(status.stdout, /desired stopped/);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.deepEqual(encoders(dir), [], 'no encoder runs for the demo');
    assert.equal((await call(`${server.url}/demo`)).status, 404);
    assert.equal(await keysOf(), '', 'its keys are withdrawn');
  });
});
