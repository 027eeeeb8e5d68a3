/**
 * The live package's pure parts: channel settings (defaults, one clear error per bad value), the
 * sliding-window manifests (dynamic MPD with SegmentTimeline and rotation-friendly ContentProtection;
 * HLS media playlists with AES-128 key tags where the key changes and a clear init after each encoder
 * restart), and the encoder supervisor's restart with backoff.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildLiveMasterPlaylist,
  buildLiveMediaPlaylist,
  buildLiveMpd,
  inputFromText,
  type LiveManifestInput,
  LiveSettingsError,
  type LiveTrack,
  parseLiveSettings,
  Supervisor,
} from '../src/index.ts';

const video = (segments: LiveTrack['segments']): LiveTrack => ({
  id: 'v360',
  kind: 'video',
  codec: 'avc1.64001e',
  bandwidth: 800_000,
  timescale: 12_800,
  width: 640,
  height: 360,
  frameRate: 25,
  segments,
});

const audio = (segments: LiveTrack['segments']): LiveTrack => ({
  id: 'a',
  kind: 'audio',
  codec: 'mp4a.40.2',
  bandwidth: 96_000,
  timescale: 48_000,
  sampleRate: 48_000,
  segments,
});

function input(tracks: LiveTrack[]): LiveManifestInput {
  return {
    availabilityStartTime: Date.UTC(2026, 10, 23, 12, 0, 0),
    publishTime: Date.UTC(2026, 10, 23, 12, 1, 0),
    segmentDuration: 2,
    windowSeconds: 60,
    licenseUrl: 'https://keys.example/v1/license/clearkey',
    utcTimingUrl: 'https://keys.example/v1/time',
    tracks,
  };
}

// Segments 10-13 of run 1 (4 s key periods), then run 2 after a 4 s outage: 15-16.
const seg = (seq: number, epoch: number) => ({
  seq,
  start: seq * 25_600,
  duration: 25_600,
  period: Math.floor((seq * 2) / 4),
  epoch,
});
const WINDOW = [seg(10, 1), seg(11, 1), seg(12, 1), seg(13, 1), seg(16, 2), seg(17, 2)].map((s, i) => ({
  ...s,
  seq: 10 + i,
}));

describe('live channel settings', () => {
  it('fills in defaults and sorts the ladder highest first', () => {
    const s = parseLiveSettings({
      ladder: [
        { height: 180, bitrate: 200_000 },
        { height: 360, bitrate: 800_000 },
      ],
    });
    assert.deepEqual(s.input, { kind: 'test-pattern' });
    assert.deepEqual(
      s.ladder.map((r) => r.height),
      [360, 180],
    );
    assert.equal(s.segmentDuration, 2);
    assert.equal(s.keyPeriodSeconds, 30);
  });

  it('refuses each bad value with a message naming it', () => {
    const bad: [unknown, RegExp][] = [
      [{ keyPeriodSeconds: 5 }, /multiple of segmentDuration/],
      [{ segmentDuration: 0 }, /segmentDuration/],
      [{ ladder: [] }, /ladder/],
      [{ ladder: [{ height: 361, bitrate: 1e6 }] }, /even/],
      [{ ladder: [{ height: 360 }] }, /height and bitrate/],
      [{ preset: 'warp' }, /preset/],
      [{ input: { kind: 'rtmp', url: 'http://x' } }, /rtmp:\/\//],
      [{ input: { kind: 'smoke' } }, /input.kind/],
      [{ windowSeconds: 2 }, /windowSeconds/],
      [{ frameRate: 'fast' }, /frameRate/],
    ];
    for (const [raw, message] of bad) {
      assert.throws(
        () => parseLiveSettings(raw),
        (err: Error) => err instanceof LiveSettingsError && message.test(err.message),
        JSON.stringify(raw),
      );
    }
  });

  it('reads inputs written the way the CLI takes them', () => {
    assert.deepEqual(inputFromText('test'), { kind: 'test-pattern' });
    assert.deepEqual(inputFromText('rtmp://0.0.0.0:1935/live/key'), {
      kind: 'rtmp',
      url: 'rtmp://0.0.0.0:1935/live/key',
    });
    assert.deepEqual(inputFromText('srt://0.0.0.0:9000'), { kind: 'srt', url: 'srt://0.0.0.0:9000' });
    assert.deepEqual(inputFromText('https://cdn.example/live.m3u8'), {
      kind: 'hls',
      url: 'https://cdn.example/live.m3u8',
      loop: true,
    });
    assert.deepEqual(inputFromText('match.mp4', false), { kind: 'file', path: 'match.mp4', loop: false });
  });
});

describe('live manifests', () => {
  it('DASH: dynamic, UTCTiming, one Period per key period naming its KID, explicit gaps', () => {
    const kidOf = (period: number, kind: string) => (kind === 'a' ? 'a' : 'b') + String(period).repeat(31);
    const withKids = (track: LiveTrack) => ({
      ...track,
      segments: track.segments.map((s) => ({ ...s, kid: kidOf(s.period, track.id[0]!) })),
    });
    // Audio frames miss the video's boundaries by a few ms: audio segment 11 ends 10 ms past period 6.
    const audioSegs = WINDOW.map((s) => ({ ...s, start: s.start * 3.75, duration: 96_000 }));
    audioSegs[1] = { ...audioSegs[1]!, duration: 96_480 };
    const mpd = buildLiveMpd(
      input([withKids(video(WINDOW)), withKids({ ...audio(audioSegs), segments: audioSegs })]),
    );
    assert.match(mpd, /type="dynamic"/);
    assert.match(mpd, /availabilityStartTime="2026-11-23T12:00:00.000Z"/);
    assert.match(mpd, /timeShiftBufferDepth="PT60.000S"/);
    assert.match(
      mpd,
      /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https:\/\/keys.example\/v1\/time"\/>/,
    );
    // Key periods 5, 6 and 8 (7 fell into the restart's outage): one Period each, starting with its first
    // segment, its AdaptationSets naming the period's KID (dash.js asks for it per Period).
    const periods = [...mpd.matchAll(/<Period id="(p\d+)" start="([^"]+)">/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(periods, [
      ['p5', 'PT20.000S'],
      ['p6', 'PT24.000S'],
      ['p8', 'PT32.000S'],
    ]);
    const p6 = mpd.slice(mpd.indexOf('<Period id="p6"'), mpd.indexOf('<Period id="p8"'));
    assert.match(p6, /cenc:default_KID="b6666666-6666-6666-6666-666666666666"/);
    assert.match(p6, /cenc:default_KID="a6666666-6666-6666-6666-666666666666"/);
    assert.match(
      p6,
      /<SupplementalProperty schemeIdUri="urn:mpeg:dash:period-continuity:2015" value="p5"\/>/,
    );
    assert.match(mpd, /<dashif:Laurl>https:\/\/keys.example\/v1\/license\/clearkey<\/dashif:Laurl>/);
    assert.match(
      p6,
      /media="dash\/v360\/\$Number\$.m4s" startNumber="12" presentationTimeOffset="307200"><SegmentTimeline><S t="307200" d="25600" r="1"\/>/,
    );
    // The restart's gap: the next Period starts where its first segment does.
    const p8 = mpd.slice(mpd.indexOf('<Period id="p8"'));
    assert.match(
      p8,
      /startNumber="14" presentationTimeOffset="409600"><SegmentTimeline><S t="409600" d="25600" r="1"\/>/,
    );
    // The audio segment that ran 10 ms into period 6 ends where period 6 begins in the MPD.
    const p5 = mpd.slice(0, mpd.indexOf('<Period id="p6"'));
    assert.match(p5, /<S t="960000" d="96000" r="1"\/>/);
  });

  it('DASH: a Period keeps its start while its first segments leave the window', () => {
    const mpd = buildLiveMpd({
      ...input([video(WINDOW.slice(1))]),
      periodStarts: new Map([[5, 20]]),
    });
    assert.match(mpd, /<Period id="p5" start="PT20.000S">/);
    assert.match(
      mpd,
      /startNumber="11" presentationTimeOffset="256000"><SegmentTimeline><S t="281600" d="25600"\/>/,
    );
    // Without segments carrying a KID, the MPD names none.
    assert.doesNotMatch(mpd, /default_KID/);
  });

  it('HLS: a key tag where the key changes, a clear init after each restart, the discontinuity sequence', () => {
    const kids = new Map([
      [5, 'aa'.repeat(16)],
      [6, 'bb'.repeat(16)],
      [8, 'cc'.repeat(16)],
    ]);
    const track = video(WINDOW);
    const playlist = buildLiveMediaPlaylist(
      input([track]),
      track,
      (kid) => `https://keys.example/v1/license/hls/${kid}`,
      (_t, period) => kids.get(period),
      3,
    );
    const lines = playlist.trim().split('\n');
    assert.equal(lines[0], '#EXTM3U');
    assert.ok(lines.includes('#EXT-X-MEDIA-SEQUENCE:10'));
    assert.ok(lines.includes('#EXT-X-DISCONTINUITY-SEQUENCE:3'));
    const keyTags = lines.filter((l) => l.startsWith('#EXT-X-KEY'));
    assert.deepEqual(keyTags, [
      `#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/v1/license/hls/${'aa'.repeat(16)}"`,
      `#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/v1/license/hls/${'bb'.repeat(16)}"`,
      '#EXT-X-KEY:METHOD=NONE',
      `#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/v1/license/hls/${'cc'.repeat(16)}"`,
    ]);
    // The second run's init comes after METHOD=NONE, so it is read in the clear.
    const map2 = lines.indexOf('#EXT-X-MAP:URI="v360/init-2.mp4"');
    assert.ok(
      map2 > 0 && lines[map2 - 1] === '#EXT-X-KEY:METHOD=NONE' && lines[map2 - 2] === '#EXT-X-DISCONTINUITY',
    );
    assert.equal(lines.filter((l) => l.startsWith('#EXTINF:2.000,')).length, 6);
    assert.ok(lines.includes('v360/15.m4s'));
  });

  it('HLS master: one variant per rendition, audio as its own group', () => {
    const master = buildLiveMasterPlaylist([video(WINDOW), audio(WINDOW)]);
    assert.match(master, /#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio".*URI="hls\/a.m3u8"/);
    assert.match(master, /BANDWIDTH=896000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360/);
    assert.match(master, /\nhls\/v360.m3u8\n/);
  });
});

describe('the encoder supervisor', () => {
  it('restarts a process that dies, with growing delays, and stops it for good', async () => {
    const sup = new Supervisor({
      command: process.execPath,
      args: () => ['-e', 'process.stderr.write("boom\\n"); process.exit(3)'],
      minBackoffMs: 50,
      maxBackoffMs: 400,
    });
    const exits: number[] = [];
    sup.on('exit', (e: { code: number; at: number; stderr: string }) => {
      exits.push(e.at);
      assert.equal(e.code, 3);
      assert.equal(e.stderr, 'boom');
    });
    sup.start();
    while (exits.length < 4) await new Promise((r) => setTimeout(r, 20));
    await sup.stop();
    const status = sup.status();
    assert.equal(status.state, 'stopped');
    assert.ok(status.restarts >= 3);
    const gaps = exits.slice(1).map((t, i) => t - exits[i]!);
    assert.ok(gaps[2]! > gaps[0]!, `delays should grow: ${gaps.join(', ')} ms`);
    const count = exits.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(exits.length, count, 'no restart after stop()');
  });

  it('stop() ends a running process', async () => {
    const sup = new Supervisor({
      command: process.execPath,
      args: () => ['-e', 'setInterval(() => {}, 1000)'],
    });
    let spawned = 0;
    sup.on('spawn', () => spawned++);
    sup.start();
    while (sup.status().pid === undefined) await new Promise((r) => setTimeout(r, 10));
    const pid = sup.status().pid!;
    await sup.stop();
    assert.equal(spawned, 1);
    assert.throws(() => process.kill(pid, 0));
  });
});
