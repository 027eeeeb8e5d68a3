/**
 * The detection queue survives a crash: a `vigil serve` process is killed (SIGKILL) while it runs a
 * detection; the next server on the same store takes the job over once its lease has run out, runs it
 * again (its second attempt) and answers the session.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  copyRecordingStore,
  playerRecording,
  type Recording,
} from '../../../test/support/player-recording.ts';
import {
  type ChildServer,
  call,
  spawnVigil,
  startVigil,
  type TestServer,
  waitFor,
} from '../../../test/support/vigil.ts';

const SESSION = 'pirate-7';
const API_KEY = 'vk_crash_test_0123456789abcdef';

describe('detection queue across a crash', () => {
  let rec: Recording;
  let dataDir: string;
  let files: Server;
  let base: string;
  let slow = true;
  let child: ChildServer | undefined;
  let vigil: TestServer | undefined;

  before(async () => {
    rec = await playerRecording({ mode: 'color', sessionId: SESSION, seconds: 20 });
    dataDir = copyRecordingStore(rec);
    const clip = readFileSync(rec.path);
    // The clip, trickled while `slow` (the first server is killed meanwhile), then at full speed.
    files = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.length });
      if (!slow) {
        res.end(clip);
        return;
      }
      let at = 0;
      const timer = setInterval(() => {
        if (res.destroyed || at >= clip.length) {
          clearInterval(timer);
          res.end();
          return;
        }
        res.write(clip.subarray(at, at + 8192));
        at += 8192;
      }, 200);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });

  after(async () => {
    await child?.kill();
    await vigil?.close();
    files?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs a job interrupted by a crash again on the next server', async () => {
    child = await spawnVigil(['--data', dataDir], {
      VIGIL_MASTER_KEY: rec.masterKey,
      VIGIL_API_KEY: API_KEY,
      VIGIL_DETECT_ALLOW_PRIVATE: '1',
      VIGIL_LIVE: '0',
    });
    const created = await call(`${child.url}/v1/detections`, {
      token: API_KEY,
      body: { url: `${base}/clip.mp4`, mode: 'color' },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const id = created.body.id as string;
    await waitFor('the job to run', 30_000, async () => {
      const d = await call(`${child!.url}/v1/detections/${id}`, { token: API_KEY });
      return d.body.status === 'running' ? true : undefined;
    });
    await child.kill();
    child = undefined;
    slow = false;

    const killed = Date.now();
    vigil = await startVigil({
      dataDir,
      masterKey: rec.masterKey,
      config: { detectOutbound: { allowPrivate: true } },
    });
    const done = await waitFor('the job to be run again', 120_000, async () => {
      const d = await call(`${vigil!.url}/v1/detections/${id}`, { token: vigil!.apiKey });
      assert.equal(d.status, 200, JSON.stringify(d.body));
      return d.body.status === 'done' || d.body.status === 'failed' ? d.body : undefined;
    });
    console.log(`# taken over and done ${((Date.now() - killed) / 1000).toFixed(1)} s after the crash`);
    assert.equal(done.status, 'done', JSON.stringify(done));
    assert.equal(done.attempts, 2);
    assert.equal(done.result.found, true, JSON.stringify(done.result));
    assert.equal(done.result.sessionId, SESSION);
  });
});
