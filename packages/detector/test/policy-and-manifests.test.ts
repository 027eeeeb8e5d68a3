/**
 * The detector's pure parts: the ban rule of a live watch (threshold and disjoint agreeing windows, never
 * across a disagreement), and the reading of HLS playlists and DASH manifests the input layer follows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { banDecision, type LeakPolicy, type WatchEvent } from '@vigil/detector';
import { parseMpd } from '../src/input/dash.ts';
import { chooseVariant, parseMaster, parseMedia } from '../src/input/hls.ts';
import { PpmSplitter } from '../src/input/ppm.ts';

const policy: LeakPolicy = { autoBan: true, maxFalseMatchProbability: 1e-6, agreeingWindows: 2 };
const id = (sessionId: string, window: [number, number], p = 1e-12): WatchEvent => ({
  event: 'identified',
  sessionId,
  atSeconds: window[1],
  confidence: 1 - p,
  falseMatchProbability: p,
  mode: 'color',
  window,
});

describe('banDecision', () => {
  it('bans after two disjoint agreeing windows under the threshold', () => {
    assert.deepEqual(banDecision([id('s1', [0, 15])], policy), { ban: false });
    assert.deepEqual(banDecision([id('s1', [0, 15]), id('s1', [15, 30])], policy), {
      ban: true,
      sessionId: 's1',
    });
  });
  it('does not count overlapping windows, weak decodes, or across another session', () => {
    assert.equal(banDecision([id('s1', [0, 15]), id('s1', [10, 25])], policy).ban, false);
    assert.equal(banDecision([id('s1', [0, 15], 1e-3), id('s1', [15, 30])], policy).ban, false);
    assert.equal(banDecision([id('s1', [0, 15]), id('s2', [15, 30]), id('s1', [30, 45])], policy).ban, false);
    assert.equal(banDecision([{ event: 'lost', atSeconds: 3 }], policy).ban, false);
    assert.deepEqual(banDecision([id('s1', [0, 15])], { ...policy, agreeingWindows: 1 }), {
      ban: true,
      sessionId: 's1',
    });
  });
});

describe('manifests', () => {
  it('HLS: the lowest variant of at least 360 lines, segments with sequence numbers and keys', () => {
    const master = parseMaster(
      '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=426x240\nlow.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nmid.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720\nhi.m3u8\n',
      'http://h/a/master.m3u8',
    );
    assert.equal(chooseVariant(master)?.uri, 'http://h/a/mid.m3u8');
    const media = parseMedia(
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\n#EXTINF:2.0,\ns7.ts\n#EXTINF:2.0,\ns8.ts\n',
      'http://h/a/mid.m3u8',
    );
    assert.equal(media.ended, false);
    assert.deepEqual(
      media.segments.map((s) => [s.sequence, s.uri, s.key?.uri]),
      [
        [7, 'http://h/a/s7.ts', 'http://h/a/k.bin'],
        [8, 'http://h/a/s8.ts', 'http://h/a/k.bin'],
      ],
    );
  });

  it('DASH: SegmentTemplate with a timeline, and with $Number$ and a duration', () => {
    const timeline = parseMpd(
      `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT6S">
<Period><AdaptationSet contentType="video"><Representation id="0" bandwidth="300000" height="360">
<SegmentTemplate timescale="1000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
<SegmentTimeline><S t="0" d="2000" r="2"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>
<AdaptationSet contentType="audio"><Representation id="1" bandwidth="64000"/></AdaptationSet></Period></MPD>`,
      'http://h/d/manifest.mpd',
    );
    assert.equal(timeline.init, 'http://h/d/init-0.m4s');
    assert.deepEqual(
      timeline.segments.map((s) => s.url),
      ['http://h/d/chunk-0-00001.m4s', 'http://h/d/chunk-0-00002.m4s', 'http://h/d/chunk-0-00003.m4s'],
    );
    const numbered = parseMpd(
      `<MPD type="static" mediaPresentationDuration="PT5S"><BaseURL>v/</BaseURL><Period><AdaptationSet mimeType="video/mp4">
<SegmentTemplate duration="2" media="$Number$.m4s" initialization="init.mp4"/><Representation id="a" bandwidth="1" height="720"/></AdaptationSet></Period></MPD>`,
      'http://h/d/m.mpd',
    );
    assert.deepEqual(
      numbered.segments.map((s) => s.url),
      ['http://h/d/v/1.m4s', 'http://h/d/v/2.m4s', 'http://h/d/v/3.m4s'],
    );
  });

  it('PPM frames split across chunks', () => {
    const pic = Buffer.concat([Buffer.from('P6\n2 1\n255\n'), Buffer.from([1, 2, 3, 4, 5, 6])]);
    const both = Buffer.concat([pic, pic]);
    const s = new PpmSplitter();
    const out = [
      ...s.push(both.subarray(0, 5)),
      ...s.push(both.subarray(5, 20)),
      ...s.push(both.subarray(20)),
    ];
    assert.equal(out.length, 2);
    assert.deepEqual([...out[1]!.data], [1, 2, 3, 4, 5, 6]);
    assert.throws(() => new PpmSplitter().push(Buffer.from('GIF89a')));
  });
});
