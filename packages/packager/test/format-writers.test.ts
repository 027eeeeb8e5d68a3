/**
 * Golden output of every manifest and fragment writer Vigil has: the SHA-256 of what each writes on
 * fixed inputs (layouts, live windows, keys, IVs, clock) and on one cached ffmpeg clip, compared with the
 * digests recorded from the writers as they were before the HLS, MPD and fragment writers were merged
 * into one each (packager/src/manifest/hls-writer.ts, mpd-writer.ts, isobmff/rewrite.ts). Covered:
 * on-demand DASH (single- and multi-period; cenc, cbcs, clear), fMP4 HLS media and master playlists, the
 * AES-128 TS playlists, live DASH and HLS; encrypted fragments (cenc with 16- and 8-byte IVs, cbcs; video
 * and audio; with a `sidx` over two `moof`s; with an explicit `tfhd` base_data_offset; node:crypto and
 * native AES), their decryption and box description, and the live rewrites (retiming, a `tfdt` growing
 * to 64 bits, rotation signalling and its removal). Nothing is normalised: every clock and id is an
 * input. `VIGIL_GOLDEN_PRINT=1` prints the digests instead of comparing them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { clearKeyPssh } from '@vigil/keys';
import {
  addRotationSignalling,
  buildLiveMasterPlaylist,
  buildLiveMediaPlaylist,
  buildLiveMpd,
  decryptLiveSegment,
  encryptLiveInit,
  type LiveManifestInput,
  type LiveTrack,
  setFragmentTiming,
  stripRotationSignalling,
  type WindowSegment,
} from '@vigil/live';
import { decryptSegment, describeBoxes, encryptInit, encryptSegment, parseInit } from '../src/cenc/index.ts';
import { nativeAes, useNativeAes } from '../src/cenc/native.ts';
import type { TrackInfo } from '../src/cenc/types.ts';
import { buildTsMasterPlaylist, buildTsMediaPlaylist } from '../src/hls-aes/package.ts';
import { children, find, makeBox, makeFullBox, readBoxes } from '../src/isobmff/box.ts';
import { buildMpd } from '../src/manifest/dash.ts';
import { buildCmafMasterPlaylist, buildCmafMediaPlaylist } from '../src/manifest/hls.ts';
import type { LayoutTrack, LayoutTsVariant, PackageLayout, PackageScheme } from '../src/pipeline/layout.ts';

const run = promisify(execFile);
const CACHE = join(tmpdir(), 'vigil-format-golden-v1');
const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const KID = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf';
const KID2 = 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebf';
const KID3 = 'c0c1c2c3c4c5c6c7c8c9cacbcccdcecf';
const CBCS_IV = Buffer.from('0f0e0d0c0b0a09080706050403020100', 'hex');
const PRINT = process.env.VIGIL_GOLDEN_PRINT === '1';

/** A 4 s clip (two 2 s segments per track), single-threaded x264 so every machine makes the same bytes. */
const CLIP_ARGS = [
  ...['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25'],
  ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '4'],
  ...['-c:v', 'libx264', '-threads', '1', '-profile:v', 'main', '-preset', 'veryfast'],
  ...['-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-bitexact'],
  ...['-c:a', 'aac', '-b:a', '64k', '-seg_duration', '2'],
  ...['-f', 'dash', '-use_template', '1', '-use_timeline', '0'],
  ...['-init_seg_name', 'init-$RepresentationID$.m4s'],
  ...['-media_seg_name', 'chunk-$RepresentationID$-$Number%05d$.m4s', 'manifest.mpd'],
];

async function ensureClip(): Promise<string> {
  const dir = join(CACHE, 'clip');
  if (existsSync(join(dir, 'manifest.mpd'))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(join(CACHE, 'clip-tmp-'));
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...CLIP_ARGS], { cwd: work });
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // made concurrently by another run
  }
  return dir;
}

interface Rendition {
  init: Buffer;
  track: TrackInfo;
  segments: Buffer[];
}

function readRendition(dir: string, id: string): Rendition {
  const init = readFileSync(join(dir, `init-${id}.m4s`));
  const [track] = parseInit(init);
  assert.ok(track);
  const segments = readdirSync(dir)
    .filter((f) => f.startsWith(`chunk-${id}-`))
    .sort()
    .map((f) => readFileSync(join(dir, f)))
    .slice(0, 2);
  assert.equal(segments.length, 2);
  return { init, track, segments };
}

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** What each writer made, by case name. */
const outputs = new Map<string, string | Buffer>();
function record(name: string, data: string | Buffer): void {
  assert.ok(!outputs.has(name), `case ${name} twice`);
  outputs.set(name, data);
}

// ---------------------------------------------------------------------------------------------------
// Synthetic segment shapes built from the clip's fragments (independently of the code under test).

/** `sidx` version 0 (timescale, earliest time 0, first_offset 0) over the given subsegments. */
function sidxBox(timescale: number, refs: { size: number; duration: number }[]): Buffer {
  const p = Buffer.alloc(20 + 12 * refs.length);
  p.writeUInt32BE(1, 0); // reference_ID
  p.writeUInt32BE(timescale, 4);
  p.writeUInt32BE(0, 8); // earliest_presentation_time
  p.writeUInt32BE(0, 12); // first_offset
  p.writeUInt16BE(0, 16);
  p.writeUInt16BE(refs.length, 18);
  refs.forEach((r, i) => {
    p.writeUInt32BE(r.size, 20 + 12 * i);
    p.writeUInt32BE(r.duration, 24 + 12 * i);
    p.writeUInt32BE(0x90000000, 28 + 12 * i); // starts with SAP, type 1
  });
  return makeFullBox('sidx', 0, 0, p);
}

/** The moof+mdat pairs of a segment, without its styp. */
function fragments(seg: Buffer): Buffer {
  const boxes = readBoxes(seg).filter((b) => b.type === 'moof' || b.type === 'mdat');
  return seg.subarray(boxes[0]!.start, boxes.at(-1)!.end);
}

/** styp, a sidx, then both segments' moof+mdat: one segment of two subsegments. */
function withSidx(segs: Buffer[], timescale: number): Buffer {
  const styp = readBoxes(segs[0]!).find((b) => b.type === 'styp')!;
  const parts = segs.map(fragments);
  return Buffer.concat([
    segs[0]!.subarray(styp.start, styp.end),
    sidxBox(
      timescale,
      parts.map((p) => ({ size: p.length, duration: 2 * timescale })),
    ),
    ...parts,
  ]);
}

/**
 * The segment with its (single) traf addressed by an explicit tfhd base_data_offset (absolute, the
 * moof's own position) instead of default-base-is-moof; the trun data_offset keeps pointing at the data.
 */
function withExplicitBase(seg: Buffer): Buffer {
  const top = readBoxes(seg);
  const moof = top.find((b) => b.type === 'moof')!;
  const kids = children(seg, moof);
  const traf = kids.find((b) => b.type === 'traf')!;
  const trafKids = children(seg, traf);
  const tfhd = find(trafKids, 'tfhd')!;
  const flags = seg.readUInt32BE(tfhd.payload) & 0xffffff;
  const rest = seg.subarray(tfhd.payload + 8, tfhd.end);
  const base = Buffer.alloc(8);
  base.writeBigUInt64BE(BigInt(moof.start), 0);
  const newTfhd = makeFullBox(
    'tfhd',
    0,
    ((flags & ~0x20000) | 0x1) >>> 0,
    seg.subarray(tfhd.payload + 4, tfhd.payload + 8),
    base,
    rest,
  );
  const newKids = trafKids.map((k) =>
    k.type === 'tfhd' ? newTfhd : Buffer.from(seg.subarray(k.start, k.end)),
  );
  const trunIndex = trafKids.findIndex((k) => k.type === 'trun');
  const trun = newKids[trunIndex]!;
  assert.ok(trun.readUInt32BE(8) & 1, 'the clip has trun data offsets');
  trun.writeInt32BE(trun.readInt32BE(16) + 8, 16);
  const newMoof = makeBox(
    'moof',
    ...kids.map((k) => (k === traf ? makeBox('traf', ...newKids) : seg.subarray(k.start, k.end))),
  );
  return Buffer.concat([seg.subarray(0, moof.start), newMoof, seg.subarray(moof.end)]);
}

/** Where the (single) traf's saio points, from its explicit base, and where its senc's first entry is. */
function auxPlaces(seg: Buffer): { saioTarget: number; sencInfo: number } {
  const moof = readBoxes(seg).find((b) => b.type === 'moof')!;
  const kids = children(seg, children(seg, moof).find((b) => b.type === 'traf')!);
  const base = Number(seg.readBigUInt64BE(find(kids, 'tfhd')!.payload + 8));
  return {
    saioTarget: base + seg.readUInt32BE(find(kids, 'saio')!.payload + 8),
    sencInfo: find(kids, 'senc')!.payload + 8,
  };
}

// ---------------------------------------------------------------------------------------------------
// Fixed manifest inputs.

function track(
  id: string,
  kind: 'video' | 'audio',
  periods: { kid?: string; count: number }[],
  opts: { timescale: number; duration: number; last?: number; trackType: LayoutTrack['trackType'] },
): LayoutTrack {
  let number = 1;
  const t: LayoutTrack = {
    id,
    kind,
    codec: kind === 'video' ? 'avc1.64001e' : 'mp4a.40.2',
    timescale: opts.timescale,
    trackType: opts.trackType,
    bandwidth: kind === 'video' ? 812_345 : 97_531,
    averageBandwidth: kind === 'video' ? 701_234 : 96_001,
    periods: periods.map((p, i) => ({
      period: i,
      init: `${id}/init-${i}.mp4`,
      ...(p.kid ? { kid: p.kid } : {}),
      segments: Array.from({ length: p.count }, () => {
        const n = number++;
        return {
          number: n,
          file: `${id}/seg-${String(n).padStart(5, '0')}.m4s`,
          start: 0,
          duration: 0,
          size: 0,
        };
      }),
    })),
  };
  const all = t.periods.flatMap((p) => p.segments);
  let start = 0;
  all.forEach((s, i) => {
    s.start = start;
    s.duration = i === all.length - 1 && opts.last ? opts.last : opts.duration;
    s.size = 10_000 + i;
    start += s.duration;
  });
  if (kind === 'video') {
    t.width = id === 'video-720p' ? 1280 : 640;
    t.height = id === 'video-720p' ? 720 : 360;
    t.frameRate = '30000/1001';
  } else {
    t.sampleRate = 48_000;
    t.channels = 2;
  }
  return t;
}

function layout(scheme: PackageScheme, periodCount: number): PackageLayout {
  const kids = [KID, KID2, KID3];
  const per = (type: number) =>
    Array.from({ length: periodCount }, (_, i) => ({
      ...(scheme === 'none' ? {} : { kid: kids[(i + type) % 3]! }),
      count: periodCount === 1 ? 5 : 2,
    }));
  const segs = periodCount === 1 ? 5 : 2 * periodCount;
  const tracks = [
    track('video-720p', 'video', per(0), {
      timescale: 90_000,
      duration: 360_360,
      last: 180_180,
      trackType: 'hd',
    }),
    track('video-360p', 'video', per(1), {
      timescale: 90_000,
      duration: 360_360,
      last: 180_180,
      trackType: 'sd',
    }),
    track('audio', 'audio', per(2), {
      timescale: 48_000,
      duration: 192_512,
      last: 95_232,
      trackType: 'audio',
    }),
  ];
  const periodSeconds = 8.008;
  return {
    format: 'vigil-package',
    version: 1,
    resourceId: 'golden-film',
    scheme,
    segmentDuration: 4,
    keyPeriodSegments: periodCount === 1 ? segs : 2,
    duration: periodSeconds * (periodCount - 1) + (periodCount === 1 ? 18.018 : 6.006),
    licenseUrl: scheme === 'none' ? null : 'https://keys.example/v1/license/clearkey?a=1&b="2"',
    hlsKeyUrlBase: null,
    periods: Array.from({ length: periodCount }, (_, i) => ({
      index: i,
      start: i * periodSeconds,
      duration: periodCount === 1 ? 18.018 : i === periodCount - 1 ? 6.006 : periodSeconds,
    })),
    tracks,
    hlsAes128: null,
    files: {
      dash: 'manifest.mpd',
      hls: 'master.m3u8',
      hlsCmaf: 'master.m3u8',
      hlsAes128: null,
      poster: 'poster.jpg',
    },
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function tsVariant(id: string, height: number, kids: string[]): LayoutTsVariant {
  return {
    id,
    playlist: `hls-aes/${id}/playlist.m3u8`,
    width: (height * 16) / 9,
    height,
    trackType: height > 480 ? 'hd' : 'sd',
    bandwidth: 900_001 + height,
    averageBandwidth: 800_002 + height,
    codecs: 'avc1.64001e,mp4a.40.2',
    segments: Array.from({ length: 5 }, (_, i) => ({
      sequence: i,
      file: `hls-aes/${id}/seg-${String(i).padStart(5, '0')}.ts`,
      duration: i === 4 ? 2.002 : 4.004,
      size: 50_000 + i,
      period: Math.floor(i / 2),
      kid: kids[Math.floor(i / 2)]!,
    })),
  };
}

/** A live window: run 1 (segments 10–13), a restart, run 2 (15–17), key periods of two segments. */
function liveWindow(duration: number, audio: boolean): WindowSegment[] {
  const kids = [KID, KID2, KID3];
  return [10, 11, 12, 13, 15, 16, 17].map((seq) => {
    const period = Math.floor(seq / 2);
    // audio frames do not fall on the video boundaries: a few ticks off at each period end
    const jitter = audio && seq % 2 === 1 ? 1024 : 0;
    return {
      seq,
      start: seq * duration,
      duration: duration + jitter - (audio && seq % 2 === 0 ? 0 : jitter),
      period,
      epoch: seq < 15 ? 1 : 2,
      kid: kids[period % 3]!,
    };
  });
}

function liveInput(): LiveManifestInput {
  const tracks: LiveTrack[] = [
    {
      id: 'v720',
      kind: 'video',
      keyGroup: 'HD',
      codec: 'avc1.64001f',
      bandwidth: 2_000_000,
      timescale: 12_800,
      width: 1280,
      height: 720,
      frameRate: 25,
      segments: liveWindow(25_600, false),
    },
    {
      id: 'v360',
      kind: 'video',
      keyGroup: 'SD',
      codec: 'avc1.64001e',
      bandwidth: 800_000,
      timescale: 12_800,
      width: 640,
      height: 360,
      frameRate: 25,
      segments: liveWindow(25_600, false),
    },
    {
      id: 'a',
      kind: 'audio',
      codec: 'mp4a.40.2',
      bandwidth: 96_000,
      timescale: 48_000,
      sampleRate: 48_000,
      segments: liveWindow(96_000, true),
    },
  ];
  return {
    availabilityStartTime: Date.UTC(2026, 10, 23, 12, 0, 0, 250),
    publishTime: Date.UTC(2026, 10, 23, 12, 1, 0, 500),
    segmentDuration: 2,
    windowSeconds: 60,
    licenseUrl: 'https://keys.example/v1/license/clearkey?tenant=a&x=<y>',
    periodStarts: new Map([
      [5, 9.5],
      [6, 24],
    ]),
    utcTimingUrl: 'https://keys.example/v1/time?a=1&b=2',
    tracks,
  };
}

/**
 * An MPD with each element's attributes sorted and the white space between elements removed: equal for
 * two MPDs that differ only in attribute order and layout.
 */
function canonicalXml(xml: string): string {
  return xml
    .replace(/>\s+</g, '><')
    .replace(
      /<([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>/g,
      (_m, name: string, attrs: string, end: string) => {
        const list = attrs.match(/[\w:.-]+="[^"]*"/g) ?? [];
        return `<${name}${list
          .sort()
          .map((a) => ` ${a}`)
          .join('')}${end}>`;
      },
    );
}

// ---------------------------------------------------------------------------------------------------

/**
 * SHA-256 of each case's bytes (UTF-8 for text), recorded from the writers before they were merged
 * (commit "Golden test of every manifest and fragment writer"). Intended differences since, each stated:
 * - mpd:*: the one MPD writer puts attributes in one order for on-demand and live, live's (whose test
 *   pins it): `SegmentTemplate` timescale, initialization, media, startNumber, presentationTimeOffset
 *   (on-demand had presentationTimeOffset and startNumber first); `AdaptationSet` lang after mimeType
 *   (on-demand had it last); `MPD` maxSegmentDuration last (on-demand had it before minBufferTime).
 *   Nothing else: the `canonical:` digests (attributes sorted, see canonicalXml) are the recorded ones.
 * - fragment:*:explicit-base, describe:*:explicit-base: new cases. The packager's old rewriter refused
 *   them ("saio offset out of range": it moved a tfhd base_data_offset that points at the moof's start
 *   by the moof's growth, and measured the saio from there); the one rewriter maps the base like every
 *   other offset (the saio then points at the senc's first entry: checked below).
 */
const GOLDEN: Record<string, string> = {
  'clip:video:init': 'a45abfc00505c582c3b82a56a5c7d9b4a13bb0009ec19d38193fa7317445aceb',
  'clip:video:0': '2541ed97e87f83edc5d1ac487b55fd30fbf010b0cb4ef3838a2a5ae5cc7ffe87',
  'clip:video:1': '6c2a85e275cb2e80470951ee779081b1ab3015381de81db898cd3bf965ba772b',
  'clip:audio:init': 'a67fed833d08e77a3ae5f6fba54155260c54e537c3266a8f75ea17a4e3473cff',
  'clip:audio:0': 'd3840d4598c6711cd379cafa78c5202161714c843dd7072c43f9408ec08b0f7b',
  'clip:audio:1': '4780ecc6277a1ae226372caf51f591eb8971724dcd2615ff4030bfc31932e4e6',
  'mpd:cenc-1p': 'c89b7704b0a65fb12a07b107f953a3b966ade3eaa1e9ba2b2240bb44fc03ad14',
  'hls-master:cenc-1p': '9bba63888fd72922498ac98aa08a3f9c4ad31f8210962eb0e36b609ed803d7b2',
  'hls-media:cenc-1p:video-720p': '056455618371fa67189b4d5d882892233c90d673931622e439ff17c3a36fece5',
  'hls-media:cenc-1p:video-360p': '3ad5172fa4d7fb3a1dbaf9f8dbfafc53dd2414a0d3bcd8c795114f6b5d0eb871',
  'hls-media:cenc-1p:audio': 'c9740be7f07e4ffee93b9ae9ad5240d8b23facce05ef1d1facf1ce31c0d73bbf',
  'mpd:cenc-3p': '40fc2ef71bbad8de4e3e67758aff6aca8481a812a9c2a38c04cb6c0b1ee681f9',
  'hls-master:cenc-3p': '9bba63888fd72922498ac98aa08a3f9c4ad31f8210962eb0e36b609ed803d7b2',
  'hls-media:cenc-3p:video-720p': 'b57b707105cc91c41944fa1c1b82b52e6b81fed7690523b8fab59f580ec92297',
  'hls-media:cenc-3p:video-360p': 'b1508a67c82122e3389d03389f21a23468e888efe37b119db198cc9d4f3a4380',
  'hls-media:cenc-3p:audio': '893c7228290ede594c0d6598f75272f5615315e08c570c8569b0c11b5eb3b5be',
  'mpd:cbcs-3p': '55c03091b3e3b5c999b472bbf4f9f243c5aed31de38a93190d06eb87e99ca898',
  'hls-master:cbcs-3p': '9bba63888fd72922498ac98aa08a3f9c4ad31f8210962eb0e36b609ed803d7b2',
  'hls-media:cbcs-3p:video-720p': 'c7d10d35d3c3601852933e3162ccc0b3d9dad1cc845c81bd72266282025b92c2',
  'hls-media:cbcs-3p:video-360p': '040634a8e547ab01ede41218c29bf0d6593cdca6b052b0e1cd43d369e9d949d5',
  'hls-media:cbcs-3p:audio': '5e33b64f4090241f2444b6d14dd9cb09560e57d7125b966c07e2ddf9c85ebacb',
  'mpd:none-1p': 'f9089eb50b0f72241de30da584b8a7e9532ae620a6e6173306b0f85c481b267d',
  'hls-master:none-1p': '9bba63888fd72922498ac98aa08a3f9c4ad31f8210962eb0e36b609ed803d7b2',
  'hls-media:none-1p:video-720p': 'ebe8a1c6fc7f255864b7ed8fe1a0269bead4a35a9c3d033fe55e553438b80184',
  'hls-media:none-1p:video-360p': 'ebe8a1c6fc7f255864b7ed8fe1a0269bead4a35a9c3d033fe55e553438b80184',
  'hls-media:none-1p:audio': 'ac5ff224d3fb579d1587319427087bbfb53ae5cca953039f4b957082a4eec66b',
  'mpd:none-3p': 'e914fe25a7553815d9bddf51e08c7d16463a9db8e591ac0f7edce820cc063903',
  'hls-master:none-3p': '9bba63888fd72922498ac98aa08a3f9c4ad31f8210962eb0e36b609ed803d7b2',
  'hls-media:none-3p:video-720p': '75be5a7c65ec3974caa040de4463ad5b2c69f8e727fd70373e5c0357aaaf40f2',
  'hls-media:none-3p:video-360p': '75be5a7c65ec3974caa040de4463ad5b2c69f8e727fd70373e5c0357aaaf40f2',
  'hls-media:none-3p:audio': '5dd16755186b1a37f7c7c73cc1a4c7e8fce9e2feb108abdfc4824f43647e343d',
  'mpd:cenc-3p-video-only': 'e851c92f3f57b7a08e7bc26a3eb5b5f855f4a897fdee8afda1d0a23bae13ff5d',
  'hls-master:cenc-3p-video-only': '66598b040f07badf2b063ff93a87517d3af041439ba9600a718ccd2ea0847517',
  'ts-media:video-720p': 'd6817c2b23576505101b19d909e35428851df056e5a3e01422e61223d0096ee9',
  'ts-media:video-360p': '9c35dacd38a1255022a6708c64c0ad1c2f4221d890fd06c05945075f8570a676',
  'ts-master': '6330754093b94c708ab7feaac6551d5c3fcb5ac9bd43053676adab06276c04c8',
  'ts-master:no-rate': 'd6cec45f67ca2030359a52c0d3eec0cb79b7b5fb816a1ca1dc17606b348fd334',
  'live-mpd': 'caf031d91ec14aa5fb1f646e299b51070a4e333da1d13243defd340cbbc0af63',
  'live-mpd:no-period-starts': '3814413fa49a3a567d13c564b397204d06127365a0a254d84d299f459886d071',
  'live-mpd:one-video': '262c052b29495f5fbf01204bb813485e2ab7bab9d1a66e9e463b6ed963d33691',
  'live-hls-media:v720': 'b3592e74eea421a7fba1bc0fd231f74fa452b655389a7c2bc864eedf77f8e441',
  'live-hls-media:v360': '88113c9e7d18380316a02dc2c6fab1485e4f1052e1a5efd6e474c4ae8449afaa',
  'live-hls-media:a': '1fd40c1e9924b1c40fd27bb3a9d0823be09bede86a506a5768f768b90fcc8973',
  'live-hls-master': '5823b1d42565267124397ea0c88b4b8cbdd981e46245dd4bb34e77320921bfed',
  'live-hls-master:video-only': '092516d60492bfa48aa89dfe41fa4a6872e353aa6ff39598fe04b7d5cad77f49',
  'init:video:cenc16': '69a89128332f8ccd367fed92a9aeab8babad5be753fd268010cd21684bb92e64',
  'fragment:js:video:cenc16:plain': '4a498ead9f76fe5d82a67a376070cb47ff0b321135caab482712c38d855aa5cc',
  'describe:video:cenc16:plain': 'c0c0d4d1d06d6f998517a1695126f3fec69b936d4345c6e08a611015ddac7806',
  'fragment:js:video:cenc16:second': 'da11dbef2f1ebd3dfe38b0cffa0f632237bda4ef2e09b81afac231b782434015',
  'describe:video:cenc16:second': '7367b106debd32625a9f5ccaaf5dea6628f5ddbc09035944b7a785d735598a88',
  'fragment:js:video:cenc16:sidx': '3748ad1a4c11a03ffec64b25caf56e64692866b9b45067a470fa7eec55935d82',
  'describe:video:cenc16:sidx': '63d4fd6124b9f935058f77a81936950daecd4136f82b4ba71d89b0e04eb061b1',
  'init:video:cenc8': '5907ea5bbc8ec446c86403ccaba29ecfdf1ae0372474a3f29bbe5c995cef477b',
  'fragment:js:video:cenc8:plain': 'f972bd0e95349cba3d6d4c4eae3d7e39034d2e036e084dc2f030dcedb405671a',
  'describe:video:cenc8:plain': 'b12e715b4746c768faa7b5059e859034c224fd0c90d3bc88588feab4763c3c9e',
  'fragment:js:video:cenc8:second': '1d42e2a2d8ac19edbfe3e26bf0a4257c32ce7ba0c920dbbf92c9543941700e46',
  'describe:video:cenc8:second': 'ffec2b80cb4aeebe1fedce551a44cfb165a4d32c9aca249311c6db86ce73fe7b',
  'fragment:js:video:cenc8:sidx': '3250801490dfa8157a1b38efd32a0d1645f500ec2bf2f958cda7af78d3e7ea32',
  'describe:video:cenc8:sidx': '3ba3fea2053e11da8b071246411b952fc4aec712fe55b0721301ec3d4c6c98e7',
  'init:video:cbcs': '881b38a476289ca61998e763d2228acc6098dd9d03a30951217df8d8eadec5bf',
  'fragment:js:video:cbcs:plain': 'eaf4a52eb4058eebac83d392e4720c96fd8d0223975955516d5809f55bf7a2cc',
  'describe:video:cbcs:plain': '61347cb49f40022d632f0335b6c6bd7d5461823fad435e4c15402eed2ad82b76',
  'fragment:js:video:cbcs:second': 'd23344b5cc674a4c7cf522f3e81343fdbd715ce50ea62894991ccea43c02e79d',
  'describe:video:cbcs:second': '46beb8a3e627a6cee061c1233487eea255d79a71f2eb09732c20443917643acd',
  'fragment:js:video:cbcs:sidx': 'd036850a7f5338398d5e6b5300070261833d36a326efa76f951c7ea4510dcd1a',
  'describe:video:cbcs:sidx': '63fcb0a329e96dcd738921ed6319c66969fa20f3eeb9c05bff3fd456ab05915d',
  'init:audio:cenc16': '11f177a6f2edd30b7d87b9d685387abb34ad24940f009dbdb2984a87add7c8e8',
  'fragment:js:audio:cenc16:plain': '8665af6c024829acb39a21e6ef5125f4435fa364be274b8ddcfe1ea0b5fe6c69',
  'describe:audio:cenc16:plain': '8e82d6c20b27f5eed477365ed8115d7ffa193634701d745131c24aa8f89c5916',
  'fragment:js:audio:cenc16:second': '59d4c0fb12ce16230105686f9033b66bd47c3bcc2ecbccf9806e94294e82be88',
  'describe:audio:cenc16:second': '69efc2311cbf7ae422f9d13d712a8d880c09b1b538a91653a052ee946e77ec63',
  'fragment:js:audio:cenc16:sidx': '260755415041132a0d99c23ad6c96bc7fef1ed75ee84477909c8dbe9f75dcb74',
  'describe:audio:cenc16:sidx': '7059af82b4235cec5e7ba2cb41f597001828ba486ef4f83cd54020eefbf3b115',
  'init:audio:cenc8': 'fc783daf13e5945765a86ab5e49138eb4c23166c18ab6e2c92641010daeed034',
  'fragment:js:audio:cenc8:plain': '780d556216aee414e7420ee2cdebafe0bc2a76a584ede82f869e47ad380e87c5',
  'describe:audio:cenc8:plain': 'f3d1ba565c64adbab9a19701f846df4578f2df9c262cc9a05d7e3a68da316814',
  'fragment:js:audio:cenc8:second': '571ffb5fd0933990f490510c74100777061b13edd1572082962165c0bcdd9b5a',
  'describe:audio:cenc8:second': '6f44d6480eb0ae986efc2a9f98ce4345478bcc82e24fe7fd8294035811b89182',
  'fragment:js:audio:cenc8:sidx': '72e13e18996e658fe0a910fb84e38c568f895c645dcea94a916822e04bb13cd5',
  'describe:audio:cenc8:sidx': '0af7ba9bd8e7374de393518d12b1aa5a8fb8a5ba4c8d858737b6bf1b9a8fc913',
  'init:audio:cbcs': '37e3fb07449a74a2ad90938c7d0b095dfaeb26d2428dc5a57badfef2fd2c8193',
  'fragment:js:audio:cbcs:plain': '88b68848b65b3386a5261ec39003c98ffef15917791b873b8ac0d8640d1f0710',
  'describe:audio:cbcs:plain': 'a4463f3d63af3cc00c2f0c90f896ba6aa2ba815051b3f80ecdc4cb57b7fc9fbd',
  'fragment:js:audio:cbcs:second': '370adbd21b07f5af040f4573eed29a1c10f1896f1660e0d3b92ae9ae5d220d36',
  'describe:audio:cbcs:second': '19e2ecfdc4a748621ce703b373d75ad5c1748d0fddf508895b6238cbd1e6e8db',
  'fragment:js:audio:cbcs:sidx': '90404338699892efcac5598a4bfab5b4308a59019e23f765dcd4ed43b0effbc3',
  'describe:audio:cbcs:sidx': 'bf45e960c57737a313e89f1910d42366bc4fc52d8d41d1d75120b6e43e35ea7c',
  'fragment:native:video:cenc16:plain': '4a498ead9f76fe5d82a67a376070cb47ff0b321135caab482712c38d855aa5cc',
  'fragment:native:video:cenc16:second': 'da11dbef2f1ebd3dfe38b0cffa0f632237bda4ef2e09b81afac231b782434015',
  'fragment:native:video:cenc16:sidx': '3748ad1a4c11a03ffec64b25caf56e64692866b9b45067a470fa7eec55935d82',
  'fragment:native:video:cenc8:plain': 'f972bd0e95349cba3d6d4c4eae3d7e39034d2e036e084dc2f030dcedb405671a',
  'fragment:native:video:cenc8:second': '1d42e2a2d8ac19edbfe3e26bf0a4257c32ce7ba0c920dbbf92c9543941700e46',
  'fragment:native:video:cenc8:sidx': '3250801490dfa8157a1b38efd32a0d1645f500ec2bf2f958cda7af78d3e7ea32',
  'fragment:native:video:cbcs:plain': 'eaf4a52eb4058eebac83d392e4720c96fd8d0223975955516d5809f55bf7a2cc',
  'fragment:native:video:cbcs:second': 'd23344b5cc674a4c7cf522f3e81343fdbd715ce50ea62894991ccea43c02e79d',
  'fragment:native:video:cbcs:sidx': 'd036850a7f5338398d5e6b5300070261833d36a326efa76f951c7ea4510dcd1a',
  'fragment:native:audio:cenc16:plain': '8665af6c024829acb39a21e6ef5125f4435fa364be274b8ddcfe1ea0b5fe6c69',
  'fragment:native:audio:cenc16:second': '59d4c0fb12ce16230105686f9033b66bd47c3bcc2ecbccf9806e94294e82be88',
  'fragment:native:audio:cenc16:sidx': '260755415041132a0d99c23ad6c96bc7fef1ed75ee84477909c8dbe9f75dcb74',
  'fragment:native:audio:cenc8:plain': '780d556216aee414e7420ee2cdebafe0bc2a76a584ede82f869e47ad380e87c5',
  'fragment:native:audio:cenc8:second': '571ffb5fd0933990f490510c74100777061b13edd1572082962165c0bcdd9b5a',
  'fragment:native:audio:cenc8:sidx': '72e13e18996e658fe0a910fb84e38c568f895c645dcea94a916822e04bb13cd5',
  'fragment:native:audio:cbcs:plain': '88b68848b65b3386a5261ec39003c98ffef15917791b873b8ac0d8640d1f0710',
  'fragment:native:audio:cbcs:second': '370adbd21b07f5af040f4573eed29a1c10f1896f1660e0d3b92ae9ae5d220d36',
  'fragment:native:audio:cbcs:sidx': '90404338699892efcac5598a4bfab5b4308a59019e23f765dcd4ed43b0effbc3',
  'live-init:video': '19d763641ba81e93fd25491d26091df572e263d6997cb4205a70a1209dc64f58',
  'live-timed:video:retimed:plain': '2807c7c00fb8adcc52e20eabd99308b3402239cc7c24a7d4b2536bc5e71844ec',
  'live-signalled:video:retimed:plain': 'c937623138798be7b8d2789bb10452b16e8bf7a479de4e67c8f866e1ad33c23e',
  'describe:live:video:retimed:plain': '00d97f3076d2c0e682cb2c711f55aade1c467d088b63f9cdb88cd22e9081dd0c',
  'live-timed:video:retimed:sidx': '4e5c76a426660c0f36c80a1e956876268e65e1104eee8ea1a07a272b20d63167',
  'live-signalled:video:retimed:sidx': 'a067f042582ee965a4b9d9665fd00b935797ed8e1d4a7701eb61a5fdab15ffb0',
  'describe:live:video:retimed:sidx': '93f7df71655cfa8f8a79da3b856c581343911a349d257844b0ffadac2220852e',
  'live-timed:video:tfdt64:plain': '75cbbb494d68047442f8cadcda1cc185a644e44eb4848500f5bf215d0d069675',
  'live-signalled:video:tfdt64:plain': '397768a91abb078192ff89a0aabdc7947a2fbd182190c13207aa616b718589a5',
  'describe:live:video:tfdt64:plain': '5422c2b7dfc3813fd4bbdb8da84340ac8c43852a308973059f3268754e440df6',
  'live-timed:video:tfdt64:sidx': '6b566725a4e0c22541f6a4f621006bd5b24352f3e8a1aae757e8ee7e13493519',
  'live-signalled:video:tfdt64:sidx': '8c35385abe07aa49d70dd85579f99be30a5a2044c0ba2b4fd273b3a3e4d1c998',
  'describe:live:video:tfdt64:sidx': '3d0419f5e1d5c943423c4c8a87e6ecc387bc85458fed32b79fe7005972cdda97',
  'live-timed:video:explicit-base': '05896075da698337f68cc4a0a3352163e5b46311717a747746828b0c6639a837',
  'live-signalled:video:cbcs': '98a7e4227ff85a386bc049488fa7f44e497112ead9720c50537eb33fdde0e6d4',
  'live-init:audio': '753542747bd4e1fd4ef90cbc3590c7a94c41646f1add0cce34b5a8a041b2eb4d',
  'live-timed:audio:retimed:plain': '43f1ce36328557d20404fa12768f4dfa8a80c09658589a55afe19c63cf03f6ca',
  'live-signalled:audio:retimed:plain': 'd259a622e1d8b2245ee36e1c91a0335fe72ca5020c66660db8f61e9ad948afe5',
  'describe:live:audio:retimed:plain': '4ee5db0390349b93e22e75b0dc6ef32d74adf97e36f52e8cd3918d109f2ab189',
  'live-timed:audio:retimed:sidx': 'dd4035774c76bcf72ef9d0bf128b26a7878ff527a4ddc386b31672b3548e6c10',
  'live-signalled:audio:retimed:sidx': 'abf666cd2afc2f1d9c4d73f5647c113008e9a22b15649110b5b31b525d00531f',
  'describe:live:audio:retimed:sidx': '2175dd78acb109cd4fad47a568671126da4de0c70ba5e310446633d82848bb08',
  'live-timed:audio:tfdt64:plain': '3eff58e909b07199e570025fe276751489fa581dc206fa5ffba90e3a9b139093',
  'live-signalled:audio:tfdt64:plain': 'b5cbe980b766e98635bf9b541792305ce875e022e0215775f2491014e24cf8db',
  'describe:live:audio:tfdt64:plain': 'd48580ed112115229765e09933a3c6f7d5e80685a07a2ef0edf256189fa1905d',
  'live-timed:audio:tfdt64:sidx': '1a8f96e15c3a201d659e8635b3152dcb9aaa70487920c1cb2413ce40f03fb17e',
  'live-signalled:audio:tfdt64:sidx': 'aaee3a58e60ea128110dd861daaa3dea076b179ef9b07d5edc156ba5948af4c4',
  'describe:live:audio:tfdt64:sidx': 'c51632c92996759300d34720b07e2e74243dab14fe4371211053571e519572ca',
  'live-timed:audio:explicit-base': 'ac413c7c29d9fdfd68736e679e72991798fff58c7f13f43c3dcd7cbf4c0898e2',
  'canonical:mpd:cenc-1p': '57fb1d9b72023218feba04feff065fd75d8758c3ea8207e1b07c7af26ae5402e',
  'canonical:mpd:cenc-3p': '27281e153ff64be4eec1486d6fdaa424db640c1d93614130001a8adc2bfa774b',
  'canonical:mpd:cbcs-3p': '51503d008d3ae9a5d7ea14e7c8ef99c36b746bbaf016733463ba3b7757c676ad',
  'canonical:mpd:none-1p': '97af4a815961186088ada4c192fa7423e05387d9829e0f94211b584c4c695cdb',
  'canonical:mpd:none-3p': '9c0704f67e39f1fdff0e2459388e6d5a8b418fd725271016a252de534176faf7',
  'canonical:mpd:cenc-3p-video-only': 'b47e8efca42cd1c295000d8ca8c43a897226ffe2dc5ab88e3095fac1a2266533',
  'canonical:live-mpd': 'a0c0ae2649da28d327b6d66002b6bab75201362d84eddf183bcbd16a1a7f8cf8',
  'canonical:live-mpd:no-period-starts': 'b7b3dd05c1c250aeacc2b9a301ba9304e21a48b61da016b1de9d5d32d15b2ec6',
  'canonical:live-mpd:one-video': 'ea0576e029d83d7d74f6162228197a4782f6e33e50cc98b88c00ca403aecd071',
  // added with the one rewriter (see above)
  'fragment:js:video:cenc16:explicit-base':
    '18e90cbdc0ae22e08adcdccabc3c253d07a4125d309b60852ebe3936cfcffdc9',
  'describe:video:cenc16:explicit-base': 'ce12926dd1adb9360fbeab1e8f32b49b5fbfab3c75b6d58d1713438a2eb6ca62',
  'fragment:js:video:cenc8:explicit-base': 'ebed75afe8ef5e8c717b0cb4880cbf4b7620e657df9a67053a62e5bdcd402b52',
  'describe:video:cenc8:explicit-base': '20347e097b015491720a962b797841935904611cdbab291f6e5bc3125fd1136a',
  'fragment:js:video:cbcs:explicit-base': '18a5460d0e67784f17ea6d621a7b1038de70c8acaf994f4a27b425f2a626284b',
  'describe:video:cbcs:explicit-base': '32bc8adbb481a69e59010ac029af4cd316b089a03f9ce4d04cd671f1fb8cbe10',
  'fragment:js:audio:cenc16:explicit-base':
    '6b7eff50e73b528525a9413bcd8f0befaef43cc358a96124dad435f7b57524e9',
  'describe:audio:cenc16:explicit-base': 'a0c92b6e964c941dc94c47be3c86890992998f50806c6670875d5cebe824c200',
  'fragment:js:audio:cenc8:explicit-base': 'c52d0aa2ce9b55869799facc04be22fb7554613917846a26ebceea4906069a63',
  'describe:audio:cenc8:explicit-base': '1f816e0499dcfb7e82e7495d64e8dae9b1cf3042bb01414339fe54743100c48b',
  'fragment:js:audio:cbcs:explicit-base': '1d8f18e2569e45f63fa1665c65e03059b5689718f65a8a986b0f95eddca2cd0f',
  'describe:audio:cbcs:explicit-base': '73ec0fed0c054c77e6640754f43808664084621bf55410b65b4e7f780c3dd469',
  'fragment:native:video:cenc16:explicit-base':
    '18e90cbdc0ae22e08adcdccabc3c253d07a4125d309b60852ebe3936cfcffdc9',
  'fragment:native:video:cenc8:explicit-base':
    'ebed75afe8ef5e8c717b0cb4880cbf4b7620e657df9a67053a62e5bdcd402b52',
  'fragment:native:video:cbcs:explicit-base':
    '18a5460d0e67784f17ea6d621a7b1038de70c8acaf994f4a27b425f2a626284b',
  'fragment:native:audio:cenc16:explicit-base':
    '6b7eff50e73b528525a9413bcd8f0befaef43cc358a96124dad435f7b57524e9',
  'fragment:native:audio:cenc8:explicit-base':
    'c52d0aa2ce9b55869799facc04be22fb7554613917846a26ebceea4906069a63',
  'fragment:native:audio:cbcs:explicit-base':
    '1d8f18e2569e45f63fa1665c65e03059b5689718f65a8a986b0f95eddca2cd0f',
};

describe('format writers: golden output', { timeout: 120_000 }, () => {
  let video: Rendition;
  let audio: Rendition;
  before(async () => {
    const dir = await ensureClip();
    video = readRendition(dir, '0');
    audio = readRendition(dir, '1');
    for (const [kind, r] of [
      ['video', video],
      ['audio', audio],
    ] as const) {
      record(`clip:${kind}:init`, r.init);
      for (const [i, s] of r.segments.entries()) record(`clip:${kind}:${i}`, s);
    }
  });

  after(() => {
    useNativeAes(undefined);
  });

  test('on-demand DASH and fMP4 HLS manifests', () => {
    for (const [scheme, periods] of [
      ['cenc', 1],
      ['cenc', 3],
      ['cbcs', 3],
      ['none', 1],
      ['none', 3],
    ] as const) {
      const l = layout(scheme, periods);
      const name = `${scheme}-${periods}p`;
      record(`mpd:${name}`, buildMpd(l));
      record(`hls-master:${name}`, buildCmafMasterPlaylist(l));
      for (const t of l.tracks) record(`hls-media:${name}:${t.id}`, buildCmafMediaPlaylist(l, t));
    }
    const noAudio = layout('cenc', 3);
    noAudio.tracks = noAudio.tracks.filter((t) => t.kind === 'video');
    record('mpd:cenc-3p-video-only', buildMpd(noAudio));
    record('hls-master:cenc-3p-video-only', buildCmafMasterPlaylist(noAudio));
  });

  test('the AES-128 TS playlists', () => {
    const variants = [
      tsVariant('video-720p', 720, [KID, KID2, KID3]),
      tsVariant('video-360p', 360, [KID2, KID3, KID]),
    ];
    for (const v of variants)
      record(`ts-media:${v.id}`, buildTsMediaPlaylist(v, 'https://keys.example/v1/license/hls'));
    record('ts-master', buildTsMasterPlaylist(variants, 30000 / 1001));
    record('ts-master:no-rate', buildTsMasterPlaylist(variants));
  });

  test('live DASH and HLS manifests', () => {
    const m = liveInput();
    record('live-mpd', buildLiveMpd(m));
    record('live-mpd:no-period-starts', buildLiveMpd({ ...m, periodStarts: undefined }));
    record('live-mpd:one-video', buildLiveMpd({ ...m, tracks: m.tracks.slice(1) }));
    const hlsKids = [KID3, KID2, KID];
    for (const t of m.tracks) {
      record(
        `live-hls-media:${t.id}`,
        buildLiveMediaPlaylist(
          m,
          t,
          (kid) => `https://keys.example/v1/license/hls/${kid}?t=1`,
          (_track, period) => (period === 7 ? undefined : hlsKids[period % 3]),
          3,
        ),
      );
    }
    record('live-hls-master', buildLiveMasterPlaylist(m.tracks));
    record('live-hls-master:video-only', buildLiveMasterPlaylist(m.tracks.slice(0, 2)));
  });

  test('encrypted fragments, their decryption and description', () => {
    const natives = nativeAes() ? [false, true] : [false];
    const shapes: [string, (r: Rendition) => Buffer, number][] = [
      ['plain', (r) => r.segments[0]!, 0],
      ['second', (r) => r.segments[1]!, 1],
      ['sidx', (r) => withSidx(r.segments, r.track.timescale), 2],
      ['explicit-base', (r) => withExplicitBase(r.segments[0]!), 3],
    ];
    for (const native of natives) {
      useNativeAes(native);
      const aes = native ? 'native' : 'js';
      for (const [kind, r] of [
        ['video', video],
        ['audio', audio],
      ] as const) {
        for (const [label, scheme, ivSize] of [
          ['cenc16', 'cenc', 16],
          ['cenc8', 'cenc', 8],
          ['cbcs', 'cbcs', 16],
        ] as const) {
          const init = encryptInit(r.init, {
            scheme,
            kid: KID,
            ...(scheme === 'cbcs' ? { iv: CBCS_IV } : { perSampleIvSize: ivSize }),
            pssh: [clearKeyPssh([KID])],
          });
          if (!native) record(`init:${kind}:${label}`, init);
          for (const [shape, make, n] of shapes) {
            const clear = make(r);
            const encrypted = encryptSegment(clear, r.track, {
              scheme,
              key: KEY,
              kid: KID,
              ...(scheme === 'cbcs'
                ? { iv: CBCS_IV }
                : { ivSeed: (7n << 48n) | (BigInt(n) << 20n), perSampleIvSize: ivSize }),
            });
            const name = `${kind}:${label}:${shape}`;
            record(`fragment:${aes}:${name}`, encrypted);
            if (shape === 'explicit-base' && scheme === 'cenc') {
              const { saioTarget, sencInfo } = auxPlaces(encrypted);
              assert.equal(saioTarget, sencInfo, `${name}: the saio points at the senc's first entry`);
            }
            if (!native) record(`describe:${name}`, describeBoxes(Buffer.concat([init, encrypted])));
            assert.ok(
              decryptSegment(encrypted, init, KEY).equals(clear),
              `${name} decrypts to the clear input`,
            );
          }
        }
      }
    }
  });

  test('live fragments: retiming, rotation signalling and its removal', () => {
    for (const [kind, r] of [
      ['video', video],
      ['audio', audio],
    ] as const) {
      const init = encryptLiveInit(r.init, { scheme: 'cenc', kid: KID });
      record(`live-init:${kind}`, init);
      for (const [label, bmdt, seq] of [
        ['retimed', 123_456_789, 42],
        ['tfdt64', 2n ** 33n + 17n, 0xfffffffe],
      ] as const) {
        for (const [shape, clear] of [
          ['plain', r.segments[1]!],
          ['sidx', withSidx(r.segments, r.track.timescale)],
        ] as const) {
          const name = `${kind}:${label}:${shape}`;
          const fragment = setFragmentTiming(clear, { baseMediaDecodeTime: bmdt, sequenceNumber: seq });
          record(`live-timed:${name}`, fragment);
          const encrypted = encryptSegment(fragment, r.track, {
            scheme: 'cenc',
            key: KEY,
            kid: KID2,
            ivSeed: (3n << 56n) | (BigInt(seq) << 20n),
          });
          const signalled = addRotationSignalling(encrypted, {
            kid: KID2,
            ivSize: 16,
            scheme: 'cenc',
            psshBoxes: [clearKeyPssh([KID2])],
          });
          record(`live-signalled:${name}`, signalled);
          record(`describe:live:${name}`, describeBoxes(signalled));
          assert.ok(stripRotationSignalling(signalled).equals(encrypted), `${name}: signalling removed`);
          assert.ok(decryptLiveSegment(signalled, init, new Map([[KID2, KEY]])).equals(fragment));
        }
      }
      // retimed with an explicit tfhd base_data_offset: the base moves with the data before it
      record(
        `live-timed:${kind}:explicit-base`,
        setFragmentTiming(withExplicitBase(r.segments[0]!), {
          baseMediaDecodeTime: 2n ** 33n,
          sequenceNumber: 7,
        }),
      );
      // cbcs audio has no sample auxiliary information, so no seig group can be added
      if (kind === 'audio') continue;
      const cbcs = encryptSegment(r.segments[0]!, r.track, {
        scheme: 'cbcs',
        key: KEY,
        kid: KID3,
        iv: CBCS_IV,
      });
      record(
        `live-signalled:${kind}:cbcs`,
        addRotationSignalling(cbcs, {
          kid: KID3,
          ivSize: 0,
          scheme: 'cbcs',
          constantIv: CBCS_IV,
          pattern: kind === 'video' ? { crypt: 1, skip: 9 } : { crypt: 0, skip: 0 },
          psshBoxes: [],
        }),
      );
    }
  });

  test('every output matches the recorded digest', () => {
    const digests = Object.fromEntries([...outputs].map(([k, v]) => [k, sha(v)]));
    for (const [k, v] of outputs) {
      if (k.startsWith('mpd:') || k.startsWith('live-mpd'))
        digests[`canonical:${k}`] = sha(canonicalXml(v as string));
    }
    if (PRINT) {
      console.log(JSON.stringify(digests, null, 2));
      return;
    }
    const clipDigests = Object.entries(GOLDEN).filter(([k]) => k.startsWith('clip:'));
    for (const [k, v] of clipDigests) {
      assert.equal(digests[k], v, `the cached clip differs from the one recorded (${k}): remove ${CACHE}`);
    }
    const wrong = Object.keys({ ...GOLDEN, ...digests }).filter((k) => GOLDEN[k] !== digests[k]);
    assert.deepEqual(wrong, [], `outputs that differ from the recorded writers' output: ${wrong.join(', ')}`);
  });
});
