/**
 * `vigil detect` (issue 12): the session a recording of the real player was captured from, found in the
 * store the serving Vigil wrote (`--data`), printed as exactly one JSON object with its access log and
 * evidence; the same from HLS and DASH URLs (fetched by the detector, segments piped to ffmpeg); and bad
 * input — not a video, a truncated file, a missing file, an unreachable URL, bad arguments — answered
 * with `found: false` or one clear line on stderr, never a crash.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type StaticServer, startStaticServer } from '../../../test/support/browser.ts';
import {
  copyRecordingStore,
  playerRecording,
  type Recording,
} from '../../../test/support/player-recording.ts';
import { runCli, tempDir } from '../../../test/support/vigil.ts';
import { attacked, attackNamed } from '../../detector/test/support/attacks.ts';

describe('vigil detect', () => {
  let rec: Recording;
  let clip: string;
  let data: string;
  let work: string;
  let statics: StaticServer;

  before(
    async () => {
      rec = await playerRecording({ mode: 'color', sessionId: 'pirate-7', seconds: 20 });
      clip = attacked(rec.path, attackNamed('360p-300k'));
      data = copyRecordingStore(rec);
      work = tempDir('vigil-detect-cli-');
      // The attacked clip as HLS and as DASH, served over HTTP from 127.0.0.1.
      mkdirSync(`${work}/hls`);
      mkdirSync(`${work}/dash`);
      const ff = (args: string[]) => {
        const r = spawnSync('ffmpeg', [
          '-hide_banner',
          '-v',
          'error',
          '-y',
          '-i',
          clip,
          '-c',
          'copy',
          ...args,
        ]);
        assert.equal(r.status, 0, r.stderr?.toString());
      };
      ff(['-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', `${work}/hls/index.m3u8`]);
      ff([
        '-f',
        'dash',
        '-seg_duration',
        '2',
        '-use_template',
        '1',
        '-use_timeline',
        '1',
        `${work}/dash/manifest.mpd`,
      ]);
      statics = await startStaticServer(work);
      // A progressive MP4 with its index at the end (not faststart): downloaded before decoding.
      copyFileSync(clip, `${work}/clip.mp4`);
      writeFileSync(`${work}/not-a-video.mp4`, 'this is not a video\n'.repeat(100));
      const bytes = readFileSync(clip);
      writeFileSync(`${work}/truncated.mp4`, bytes.subarray(0, Math.floor(bytes.length / 6)));
    },
    { timeout: 300_000 },
  );

  after(async () => {
    await statics?.close();
    for (const dir of [data, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const detectJson = async (input: string, ...extra: string[]) => {
    const res = await runCli(['detect', input, '--json', '--data', data, ...extra]);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `exactly one JSON object: ${res.stdout}`);
    return JSON.parse(lines[0]!);
  };

  it('finds the session, its access log and evidence in a recording file', { timeout: 120_000 }, async () => {
    const evidence = `${work}/evidence`;
    const r = await detectJson(clip, '--mode', 'color', '--evidence', evidence);
    assert.equal(r.found, true, JSON.stringify(r));
    assert.equal(r.sessionId, rec.sessionId);
    assert.equal(r.tenant, 'default');
    assert.equal(r.mode, 'color');
    assert.ok(r.footageSeconds > 0 && r.footageSeconds <= 15, `footage ${r.footageSeconds}`);
    assert.ok(r.falseMatchProbability < 1e-6 && r.confidence > 0.999999);
    assert.ok(r.evidence.length >= 1);
    for (const e of r.evidence) {
      assert.ok(e.file.startsWith(evidence) && existsSync(e.file), e.file);
      assert.equal(typeof e.t, 'number');
    }
    // Who it is: the access log of the session the player played.
    assert.equal(r.access.sessionId, rec.sessionId);
    assert.deepEqual(r.access.ips, ['127.0.0.1']);
    assert.ok(
      r.access.userAgents.some((ua: string) => ua.includes('HeadlessChrome')),
      r.access.userAgents,
    );
    assert.ok(r.access.firstSeen <= r.access.lastSeen);
    assert.equal(r.access.resource, 'recorded-clip');
  });

  it('finds it from an HLS, a DASH and a progressive MP4 URL', { timeout: 240_000 }, async () => {
    const urls = ['hls/index.m3u8', 'dash/manifest.mpd', 'clip.mp4'].map((p) => `${statics.mediaUrl}/${p}`);
    for (const url of urls) {
      const r = await detectJson(url, '--mode', 'color');
      assert.equal(r.found, true, `${url}: ${JSON.stringify(r)}`);
      assert.equal(r.sessionId, rec.sessionId);
    }
  });

  it('another tenant finds no session of its own in the clip', { timeout: 120_000 }, async () => {
    const created = await runCli(['tenant', 'create', 'other', '--data', data]);
    assert.equal(created.code, 0, created.stderr);
    const r = await detectJson(clip, '--mode', 'color', '--tenant', 'other');
    assert.equal(r.found, false);
    assert.match(r.reason, /no session of this tenant/);
  });

  it('not a video and a truncated file: found false with a reason', { timeout: 120_000 }, async () => {
    const bad = await detectJson(`${work}/not-a-video.mp4`);
    assert.equal(bad.found, false);
    assert.match(bad.reason, /not a readable video/);
    const truncated = await detectJson(`${work}/truncated.mp4`, '--mode', 'color');
    assert.equal(truncated.found, false);
    assert.equal(typeof truncated.reason, 'string');
  });

  it(
    'a missing file, an unreachable URL and bad arguments: one line on stderr, non-zero',
    { timeout: 120_000 },
    async () => {
      const cases: [string[], RegExp, number][] = [
        [['detect', `${work}/missing.mp4`, '--json'], /no such file/, 1],
        [['detect', 'http://127.0.0.1:9/none.m3u8', '--json'], /could not fetch/, 1],
        [['detect', `${statics.mediaUrl}/hls/missing.m3u8`, '--json'], /HTTP 404/, 1],
        [['detect', clip, '--json', '--mode', 'smell'], /--mode/, 2],
        [['detect', '--json'], /usage: vigil detect/, 2],
      ];
      for (const [args, message, code] of cases) {
        const res = await runCli([...args, '--data', data]);
        assert.equal(res.code, code, `${args.join(' ')}: ${res.stderr}`);
        assert.equal(res.stdout, '', args.join(' '));
        const lines = res.stderr.trim().split('\n');
        assert.equal(lines.length, 1, res.stderr);
        assert.match(lines[0]!, message);
      }
    },
  );
});
