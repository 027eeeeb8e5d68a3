/**
 * `vigil watch --ban` (issue 12) on a live HLS restream: a 36 s recording of the real player (colour mode),
 * re-encoded at 360p / 300 kbit/s and cut into 2 s segments, is published by a small HTTP server as a
 * live sliding-window playlist that gains a segment every 2 s of wall time. The watcher identifies the
 * session in one window, again in a second, disjoint one, and then bans it in the store, naming the
 * detection in the ban's reason; one JSON line per event.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { openStore } from '@vigil/server';
import {
  copyRecordingStore,
  playerRecording,
  type Recording,
} from '../../../test/support/player-recording.ts';
import { tempDir, VIGIL_BIN } from '../../../test/support/vigil.ts';
import { attacked, attackNamed } from '../../detector/test/support/attacks.ts';

const SEGMENT_SECONDS = 2;
/** Live playlists list this many segments. */
const WINDOW = 4;

describe('vigil watch --ban on a live HLS restream', () => {
  let rec: Recording;
  let data: string;
  let work: string;
  let server: Server;
  let url: string;

  before(
    async () => {
      rec = await playerRecording({ mode: 'color', sessionId: 'pirate-live', seconds: 36 });
      data = copyRecordingStore(rec);
      work = tempDir('vigil-watch-cli-');
      const clip = attacked(rec.path, attackNamed('360p-300k'));
      const cut = spawnSync('ffmpeg', [
        ...['-hide_banner', '-v', 'error', '-y', '-i', clip, '-c:v', 'libx264', '-preset', 'veryfast'],
        ...['-b:v', '300k', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-an'],
        ...['-f', 'hls', '-hls_time', String(SEGMENT_SECONDS), '-hls_playlist_type', 'vod'],
        ...['-hls_segment_filename', join(work, 'seg%03d.ts'), join(work, 'vod.m3u8')],
      ]);
      assert.equal(cut.status, 0, cut.stderr?.toString());
      const segments = readdirSync(work)
        .filter((f) => f.endsWith('.ts'))
        .sort();
      const durations = [...readFileSync(join(work, 'vod.m3u8'), 'utf8').matchAll(/#EXTINF:([\d.]+)/g)].map(
        (m) => m[1],
      );
      const began = Date.now();
      // Three segments at the start, then one more every SEGMENT_SECONDS of wall time.
      const available = () =>
        Math.min(segments.length, 3 + Math.floor((Date.now() - began) / (SEGMENT_SECONDS * 1000)));
      server = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (path === '/live.m3u8') {
          const n = available();
          const first = Math.max(0, n - WINDOW);
          const lines = [
            '#EXTM3U',
            '#EXT-X-VERSION:3',
            `#EXT-X-TARGETDURATION:${SEGMENT_SECONDS}`,
            `#EXT-X-MEDIA-SEQUENCE:${first}`,
          ];
          for (let i = first; i < n; i++) lines.push(`#EXTINF:${durations[i]},`, segments[i]!);
          if (n === segments.length) lines.push('#EXT-X-ENDLIST');
          res
            .writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' })
            .end(`${lines.join('\n')}\n`);
          return;
        }
        const i = segments.indexOf(path.slice(1));
        if (i < 0 || i >= available()) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'video/mp2t' }).end(readFileSync(join(work, segments[i]!)));
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/live.m3u8`;
    },
    { timeout: 300_000 },
  );

  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
    for (const dir of [data, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('identifies the session in two disjoint windows, then bans it', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [VIGIL_BIN, 'watch', url, '--json', '--ban', '--data', data], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VIGIL_DEMO: '0' },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    const events: Record<string, unknown>[] = [];
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await new Promise<void>((done, fail) => {
        const timer = setTimeout(
          () => fail(new Error(`no ban within 150 s: ${JSON.stringify(events)} ${stderr}`)),
          150_000,
        );
        createInterface({ input: child.stdout! }).on('line', (line) => {
          events.push(JSON.parse(line));
          if (events.at(-1)!.event === 'banned') {
            clearTimeout(timer);
            done();
          }
        });
        child.once('exit', () => {
          clearTimeout(timer);
          fail(new Error(`vigil watch exited before a ban: ${JSON.stringify(events)} ${stderr}`));
        });
      });
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
    // Lines after the ban (a later window, `lost`) may have arrived meanwhile: look at those up to it.
    const upTo = events.slice(0, events.findIndex((e) => e.event === 'banned') + 1);
    const identified = upTo.filter((e) => e.event === 'identified');
    assert.ok(identified.length >= 2, JSON.stringify(events));
    for (const e of identified) {
      assert.equal(e.sessionId, rec.sessionId);
      assert.equal(e.mode, 'color');
      assert.ok((e.falseMatchProbability as number) <= 1e-4, JSON.stringify(e));
    }
    const [a, b] = identified.slice(-2).map((e) => e.window as [number, number]);
    assert.ok(a![1] <= b![0], `disjoint windows: ${JSON.stringify([a, b])}`);
    const banned = upTo.at(-1)!;
    assert.equal(banned.sessionId, rec.sessionId);
    assert.ok((banned.atSeconds as number) < 60, `banned at ${banned.atSeconds} s of the stream`);
    assert.match(banned.reason as string, /leak detection: vigil watch/);

    const store = await openStore({ dataDir: data, masterKey: rec.masterKey });
    try {
      const bans = await store.activeBans('default', Date.now());
      const ban = bans.find((x) => x.kind === 'session' && x.value === rec.sessionId);
      assert.ok(ban, JSON.stringify(bans));
      assert.equal(ban.id, banned.banId);
      assert.match(ban.reason, /leak detection/);
    } finally {
      await store.close();
    }
  });
});
