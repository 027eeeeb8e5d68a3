/**
 * The processing queue shared through PostgreSQL (pg-boss, in a schema of its own): one `vigil serve
 * --no-worker` takes six uploads and two `vigil worker` processes on the same store and data folder
 * process them. Every job runs to the end exactly once, except the one whose worker is SIGKILLed mid-job:
 * its lease runs out, its pg-boss job is failed and pg-boss hands the retry to the other worker. Also: an
 * upload left open past its expiry is swept, its chunk files with it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { testClip } from '../../../test/support/browser.ts';
import { complete, initiate, putChunk, readChunk, status } from '../../../test/support/media.ts';
import {
  type ChildServer,
  call,
  spawnVigil,
  TEST_DATABASE_URL,
  tempDir,
  uniqueSchema,
  VIGIL_BIN,
  waitFor,
} from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_queue_key_0123456789abcdef';
const schema = uniqueSchema();
const ENV = {
  VIGIL_MASTER_KEY: '55'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'media-queue-viewer-secret-0123456789abcdef',
  DATABASE_URL: TEST_DATABASE_URL,
  VIGIL_PG_SCHEMA: schema,
  VIGIL_LIVE: '0',
  VIGIL_MEDIA_LADDER: '240:300000',
  VIGIL_MEDIA_PRESET: 'ultrafast',
  VIGIL_MEDIA_POLL_MS: '200',
  VIGIL_MEDIA_LEASE_MS: '3000',
  VIGIL_MEDIA_BACKOFF_MS: '3000',
  VIGIL_MEDIA_UPLOAD_TTL_SECONDS: '4',
  VIGIL_MEDIA_SWEEP_MS: '500',
};

interface Worker {
  child: ChildProcess;
  id: string;
  output: () => string;
  exited: Promise<void>;
}

async function startWorker(data: string): Promise<Worker> {
  const child = spawn(process.execPath, [VIGIL_BIN, 'worker', '--data', data], {
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const id = await waitFor('the worker to start', 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`vigil worker exited:\n${output}`);
    return /media worker (\S+) running/.exec(output)?.[1];
  });
  return { child, id, output: () => output, exited };
}

function files(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => statSync(join(dir, f)).isFile());
  } catch {
    return [];
  }
}

describe('media queue on PostgreSQL: two workers, six jobs', { timeout: 150_000 }, () => {
  const data = tempDir('vigil-media-queue-');
  let server: ChildServer | undefined;
  const workers: Worker[] = [];

  before(async () => {
    try {
      server = await spawnVigil(['--data', data, '--no-worker'], ENV);
    } catch (err) {
      throw new Error(`PostgreSQL is required at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    }
  });
  after(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await w.exited;
    }
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS "${schema}_pgboss" CASCADE`);
    await client.end();
  });

  it('runs every job once; a killed worker’s job is retried by the other', async () => {
    const url = server!.url;
    const clip = await testClip(4);
    const size = statSync(clip).size;
    const assets: string[] = [];
    for (let n = 0; n < 6; n++) {
      const up = await initiate(url, API_KEY, {
        filename: `c${n}.mp4`,
        fileSize: size,
        mimeType: 'video/mp4',
      });
      for (let i = 0; i < up.totalChunks; i++)
        assert.equal(
          (await putChunk(url, API_KEY, up.uploadId, i, await readChunk(clip, up.chunkSize, i))).status,
          200,
        );
      const done = await complete(url, API_KEY, up.uploadId);
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assets.push(done.body.assetId);
    }
    // Nothing runs them yet (the server has no worker).
    const queued = await call(`${url}/v1/media/process/${assets[0]}/status`, { token: API_KEY });
    assert.equal(queued.body.job.status, 'queued');
    // The seventh: its source goes missing before it runs, so its first attempt fails and is retried.
    const up7 = await initiate(url, API_KEY, { filename: 'c7.mp4', fileSize: size, mimeType: 'video/mp4' });
    for (let i = 0; i < up7.totalChunks; i++)
      assert.equal(
        (await putChunk(url, API_KEY, up7.uploadId, i, await readChunk(clip, up7.chunkSize, i))).status,
        200,
      );
    const retried = (await complete(url, API_KEY, up7.uploadId)).body.assetId as string;
    const source = join(data, 'media', 'sources', 'default', retried);
    renameSync(source, `${source}.away`);

    workers.push(await startWorker(data), await startWorker(data));
    const statusOf = async (id: string) =>
      (await call(`${url}/v1/media/process/${id}/status`, { token: API_KEY })).body;
    // Kill the first worker seen running a job, mid-job.
    const victim = await waitFor('a job running', 60_000, async () => {
      for (const id of assets) {
        const s = await statusOf(id);
        if (s.job.status === 'running' && s.job.worker) return { id, worker: s.job.worker as string };
      }
      return undefined;
    });
    const killed = workers.find((w) => w.id === victim.worker)!;
    assert.ok(killed, `worker ${victim.worker} is one of ours`);
    killed.child.kill('SIGKILL');
    await killed.exited;
    const survivor = workers.find((w) => w !== killed)!;

    const failedOnce = await waitFor('the first attempt of the seventh to fail', 60_000, async () => {
      const s = await statusOf(retried);
      return s.job.status === 'queued' && s.job.lastError ? s : undefined;
    });
    assert.equal(failedOnce.job.attempts, 1);
    assert.ok(Date.parse(failedOnce.job.runAt) > Date.now() - 1000, 'retried after a backoff');
    copyFileSync(`${source}.away`, source);
    await waitFor('the seventh ready after its retry', 90_000, async () => {
      const s = await statusOf(retried);
      if (s.status === 'failed') throw new Error(JSON.stringify(s));
      return s.status === 'ready' ? s : undefined;
    });
    assert.ok((await statusOf(retried)).job.attempts >= 2);
    const final = await waitFor('all six ready', 120_000, async () => {
      const all = await Promise.all(assets.map(statusOf));
      const failed = all.find((s) => s.status === 'failed');
      if (failed) throw new Error(`failed: ${JSON.stringify(failed)}`);
      return all.every((s) => s.status === 'ready') ? all : undefined;
    });
    const log = killed.output() + survivor.output();
    for (const s of final) {
      const jobId = s.job.id as string;
      const done = log.split('\n').filter((l) => l.includes(`job ${jobId} `) && l.endsWith(' done'));
      assert.equal(done.length, 1, `job ${jobId} finished ${done.length} times:\n${log}`);
      if (s.assetId === victim.id) {
        assert.equal(s.job.attempts, 2, 'the killed job ran again');
        assert.ok(done[0]!.includes(survivor.id), 'the other worker finished it');
      } else {
        assert.ok(s.job.attempts <= 2, `job ${jobId} ran ${s.job.attempts} times`);
      }
    }
    const runs = log.split('\n').filter((l) => / attempt \d+ started$/.test(l)).length;
    // Seven jobs, one more run of the killed one and of the retried one (a job the killed worker had only
    // just taken may add one).
    assert.ok(runs >= 9 && runs <= 10, `${runs} runs:\n${log}`);
    assert.ok(survivor.output().includes(' done'));
    // pg-boss ran them: seven jobs completed in its schema, the killed one and the seventh retried.
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const boss = await client.query(
        `SELECT state, retry_count, data->>'jobId' AS job FROM "${schema}_pgboss".job WHERE name = $1`,
        ['vigil-media-processing'],
      );
      assert.equal(boss.rows.length, 7, JSON.stringify(boss.rows));
      assert.ok(
        boss.rows.every((r) => r.state === 'completed'),
        JSON.stringify(boss.rows),
      );
      const retriedIds = new Set([
        final.find((s) => s.assetId === victim.id)!.job.id,
        (await statusOf(retried)).job.id,
      ]);
      for (const r of boss.rows)
        if (retriedIds.has(r.job)) assert.ok(r.retry_count >= 1, `${r.job} retried by pg-boss`);
    } finally {
      await client.end();
    }
  });

  it('sweeps an upload left open past its expiry, files included', async () => {
    const url = server!.url;
    const clip = await testClip(4);
    const up = await initiate(url, API_KEY, {
      filename: 'late.mp4',
      fileSize: 6 * 1024 * 1024,
      mimeType: 'video/mp4',
    });
    const bytes = await readChunk(clip, 64 * 1024, 0);
    const first = Buffer.alloc(up.chunkSize);
    bytes.copy(first);
    assert.equal((await putChunk(url, API_KEY, up.uploadId, 0, first)).status, 200);
    assert.ok(files(join(data, 'media', 'uploads')).length > 0);
    const st = await waitFor('the upload to expire and be swept', 20_000, async () => {
      const s = (await status(url, API_KEY, up.uploadId)).body;
      return s.status === 'expired' && files(join(data, 'media', 'uploads')).length === 0 ? s : undefined;
    });
    assert.equal(st.status, 'expired');
    assert.equal((await putChunk(url, API_KEY, up.uploadId, 1, first)).body.code, 'upload_expired');
  });
});
