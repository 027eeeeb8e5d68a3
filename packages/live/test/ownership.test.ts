/**
 * A live channel deletes only what it made. An on-demand package is made into its resource's origin
 * folder with `vigil package`, as the README recommends; a channel on that resource is refused (409) —
 * for the folder's files as for the package's keys alone — and, told to take over, runs beside the package
 * in its own live/ subfolder and leaves every file and key of the package as it was when it stops and when
 * it is deleted. A channel owning its folder leaves a file someone else put there, and a channel asked to
 * start on a folder that gained foreign content since it was defined is refused and touches nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testClip } from '../../../test/support/browser.ts';
import { call, runCli, startVigil, type TestServer, waitFor } from '../../../test/support/vigil.ts';

const TIMEOUT = 120_000;
/** Small and quick: one 180p rendition, 1 s segments, a key every 2 s, nothing kept past the window. */
const FAST = {
  input: 'test',
  ladder: [{ height: 180, bitrate: 250_000 }],
  segmentDuration: 1,
  keyPeriodSeconds: 2,
  windowSeconds: 4,
  retentionSeconds: 0,
  preset: 'ultrafast',
};

/** Every file under `dir` with a hash of its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

describe('a live channel owns only what it made', () => {
  let server: TestServer;
  let origin: string;
  const env = { VIGIL_MASTER_KEY: '11'.repeat(32) };

  before(async () => {
    server = await startVigil({ live: { minBackoffMs: 200 } });
    origin = join(server.dataDir!, 'origin', 'default');
  });
  after(async () => {
    await server.close();
  });

  const put = (id: string, body: unknown) =>
    call(`${server.url}/v1/live/channels/${id}`, { method: 'PUT', token: server.apiKey, body });
  const post = (id: string, action: 'start' | 'stop') =>
    call(`${server.url}/v1/live/channels/${id}/${action}`, { method: 'POST', token: server.apiKey });
  const keysOf = async (resourceId: string) =>
    (await server.store.listContentKeys('default', resourceId))
      .map((k) => `${k.kid}:${k.owner ?? ''}`)
      .sort();
  const published = (id: string, n: number) =>
    waitFor(`${n} segments of ${id}`, 60_000, async () => {
      const res = await call(`${server.url}/v1/live/channels/${id}`, { token: server.apiKey });
      return (res.body.status?.segmentsPublished ?? 0) >= n ? res.body : undefined;
    });

  it(
    'refuses a channel on a packaged resource, and with takeover leaves the package whole',
    { timeout: TIMEOUT },
    async () => {
      const vod = join(origin, 'film-1');
      const clip = await testClip(4);
      const packageVod = async () => {
        const pkg = await runCli(
          [
            ...['package', clip, '--data', server.dataDir!, '--out', vod, '--resource', 'film-1'],
            ...['--segment-duration', '2', '--key-period', '1'],
          ],
          env,
        );
        assert.equal(pkg.code, 0, pkg.stderr);
      };
      await packageVod();
      let files = snapshot(vod);
      assert.ok(files['manifest.mpd'] && files['master.m3u8'], Object.keys(files).join(' '));
      let keys = await keysOf('film-1');
      assert.ok(keys.length >= 2, 'the package made keys');

      // Refused: the folder holds the package, and its keys belong to the tenant.
      for (const [id, body] of [
        ['film-1', FAST],
        ['other-name', { ...FAST, resourceId: 'film-1' }],
      ] as const) {
        const res = await put(id, body);
        assert.equal(res.status, 409, JSON.stringify(res.body));
        assert.equal(res.body.code, 'resource_has_content');
        assert.match(res.body.message, /film-1.*takeover/);
      }
      assert.equal(
        (await call(`${server.url}/v1/live/channels/film-1`, { token: server.apiKey })).status,
        404,
      );

      // Taken over: it runs beside the package, in its own subfolder, with keys of its own.
      const taken = await put('film-1', { ...FAST, takeover: true });
      assert.equal(taken.status, 201, JSON.stringify(taken.body));
      assert.equal(taken.body.manifests.dash, '/origin/default/film-1/live/manifest.mpd');
      await published('film-1', 3);
      assert.ok(existsSync(join(vod, 'live', 'manifest.mpd')));
      const during = await keysOf('film-1');
      assert.ok(
        during.some((k) => k.endsWith(':live:film-1')),
        'the channel made keys',
      );
      for (const k of keys)
        assert.ok(during.includes(k), 'the package keeps its keys while the channel runs');
      const signed = await call(`${server.url}/v1/delivery/sign`, {
        token: server.apiKey,
        body: { resourceId: 'film-1', path: 'live/manifest.mpd' },
      });
      assert.equal(signed.status, 200, JSON.stringify(signed.body));
      assert.equal((await fetch(signed.body.url)).status, 200, 'its manifest is served');

      // The package made again in its folder replaces itself, not the channel's subfolder.
      await packageVod();
      assert.ok(existsSync(join(vod, 'live', 'manifest.mpd')), 'the channel still publishes');
      await published('film-1', 5);
      files = Object.fromEntries(Object.entries(snapshot(vod)).filter(([f]) => !f.startsWith('live/')));
      keys = (await keysOf('film-1')).filter((k) => !k.endsWith(':live:film-1'));

      // Stopped: only the channel's files and keys are gone.
      assert.equal((await post('film-1', 'stop')).status, 200);
      assert.deepEqual(snapshot(vod), files, 'every file of the package as it was');
      assert.deepEqual(await keysOf('film-1'), keys, 'every key of the package, none of the channel');
      assert.ok(!existsSync(join(vod, 'live')));

      // Started again and deleted: the same.
      assert.equal((await post('film-1', 'start')).status, 200);
      await published('film-1', 2);
      const del = await call(`${server.url}/v1/live/channels/film-1`, {
        method: 'DELETE',
        token: server.apiKey,
      });
      assert.equal(del.status, 204);
      assert.deepEqual(snapshot(vod), files);
      assert.deepEqual(await keysOf('film-1'), keys);
    },
  );

  it('refuses a resource whose only other content is keys', { timeout: TIMEOUT }, async () => {
    const made = await runCli(
      ['keys', 'create', '--data', server.dataDir!, '--resource', 'keys-only', '--periods', '2'],
      env,
    );
    assert.equal(made.code, 0, made.stderr);
    const keys = await keysOf('keys-only');
    const res = await put('keys-only', FAST);
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.code, 'resource_has_content');
    assert.match(res.body.message, /content key/);
    // The CLI says the same, and stores nothing.
    const cli = await runCli(['live', 'start', 'keys-only', '--data', server.dataDir!], env);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /keys-only.*content key.*--takeover/);
    assert.equal(await server.store.getLiveChannel('default', 'keys-only'), undefined);
    assert.deepEqual(await keysOf('keys-only'), keys);
  });

  it('removes only its own files from a folder it owns', { timeout: TIMEOUT }, async () => {
    const dir = join(origin, 'own-1');
    assert.equal((await put('own-1', FAST)).status, 201);
    await published('own-1', 2);
    // Someone else writes into the channel's folder while it runs.
    writeFileSync(join(dir, 'notes.txt'), 'not the channel’s');
    writeFileSync(join(dir, 'hls', 'extra.m3u8'), '#EXTM3U\n');
    assert.equal((await post('own-1', 'stop')).status, 200);
    assert.deepEqual(Object.keys(snapshot(dir)).sort(), ['.vigil-live.json', 'hls/extra.m3u8', 'notes.txt']);
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'not the channel’s');
    assert.deepEqual(await keysOf('own-1'), [], 'its keys are gone');

    // Its folder now holds what it did not make: starting is refused, by the API and by the running
    // instance (a start that reaches it some other way), and nothing is touched.
    const start = await post('own-1', 'start');
    assert.equal(start.status, 409, JSON.stringify(start.body));
    assert.equal(start.body.code, 'resource_has_content');
    await server.store.setLiveChannelDesired('default', 'own-1', 'running');
    const failed = await waitFor('the refused start', 10_000, async () => {
      const res = await call(`${server.url}/v1/live/channels/own-1`, { token: server.apiKey });
      return res.body.status?.state === 'failed' ? res.body.status : undefined;
    });
    assert.match(failed.lastError, /cannot publish in its folder/);
    assert.deepEqual(Object.keys(snapshot(dir)).sort(), ['.vigil-live.json', 'hls/extra.m3u8', 'notes.txt']);
    assert.deepEqual(await keysOf('own-1'), []);
    await call(`${server.url}/v1/live/channels/own-1`, { method: 'DELETE', token: server.apiKey });
  });
});
