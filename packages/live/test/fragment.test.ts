/**
 * Live fragments with in-band key rotation: box structure and offsets after the timing rewrite and the
 * rotation signalling (checked by decrypting back to the clear fragment, byte for byte), and the proof
 * that Chromium plays one init + fragments whose key changes every two fragments (`pssh` in `moof`,
 * 'seig' sample group in `traf`), asking Vigil's key server for every new kid.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clearKeyPssh } from '@vigil/keys';
import {
  encryptSegment,
  type PackagingKey,
  parseInit,
  readFragmentTiming,
  readInit,
  readInitTracks,
  storeKeySource,
  tencKid,
} from '@vigil/packager';
import {
  type Box,
  children,
  find,
  findAll,
  fullBoxHeader,
  parseMoof,
  readBoxes,
} from '@vigil/packager/isobmff';
import type { Browser } from 'playwright-core';
import {
  launchBrowser,
  openPlayerPage,
  type PlayerPage,
  type StaticServer,
  startShaka,
  startStaticServer,
  startVideojs,
  videoScreenshot,
  videoState,
  waitForMediaTime,
} from '../../../test/support/browser.ts';
import { startVigil, type TestServer, tempDir, viewerToken } from '../../../test/support/vigil.ts';
import {
  addRotationSignalling,
  applySplices,
  decryptLiveSegment,
  encryptLiveInit,
  FRAGMENT_LOCAL_INDEX,
  fragmentKid,
  moofPsshKids,
  readSeigDescriptions,
  readSeigSbgp,
  setFragmentTiming,
  stripRotationSignalling,
} from '../src/fragment/index.ts';

const SEGMENT_SECONDS = 2;
const CLIP_SECONDS = 16;

interface Track {
  id: string;
  init: Buffer;
  fragments: Buffer[];
}

/** Clear CMAF from ffmpeg's DASH muxer: one video (640×360, 2 s GOPs) and one AAC track. */
function clearCmaf(dir: string): Track[] {
  const res = spawnSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-v', 'error', '-y'],
      ...['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ...['-t', String(CLIP_SECONDS), '-map', '0:v', '-map', '1:a'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '600k'],
      ...['-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '96k'],
      ...['-f', 'dash', '-seg_duration', String(SEGMENT_SECONDS), '-use_template', '1', '-use_timeline', '1'],
      ...['-init_seg_name', 'init-$RepresentationID$.m4s'],
      ...['-media_seg_name', 'chunk-$RepresentationID$-$Number%05d$.m4s'],
      join(dir, 'ffmpeg.mpd'),
    ],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`ffmpeg failed: ${res.stderr}`);
  return ['0', '1'].map((id) => ({
    id,
    init: readFileSync(join(dir, `init-${id}.m4s`)),
    fragments: readdirSync(dir)
      .filter((f) => f.startsWith(`chunk-${id}-`))
      .sort()
      .map((f) => readFileSync(join(dir, f))),
  }));
}

/** The sample bytes of every traf of a segment, concatenated. */
function sampleBytes(seg: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const moof of readBoxes(seg).filter((b) => b.type === 'moof')) {
    for (const traf of parseMoof(seg, moof, () => undefined)) {
      for (const s of traf.samples) parts.push(seg.subarray(s.offset, s.offset + s.size));
    }
  }
  return Buffer.concat(parts);
}

/** Every box size in the tree adds up, down to the leaves of moof/traf. */
function assertSizesConsistent(seg: Buffer): void {
  const walk = (boxes: Box[]) => {
    for (const b of boxes) if (b.type === 'moof' || b.type === 'traf') walk(children(seg, b));
  };
  walk(readBoxes(seg)); // readBoxes throws on any box that overruns its parent or leaves a gap at the end
}

/** The first saio entry of each traf points at the first sample-info byte of its senc. */
function assertSaioPointsIntoSenc(seg: Buffer): void {
  for (const moof of readBoxes(seg).filter((b) => b.type === 'moof')) {
    for (const traf of findAll(children(seg, moof), 'traf')) {
      const kids = children(seg, traf);
      const saio = find(kids, 'saio');
      const senc = find(kids, 'senc');
      if (!saio || !senc) continue;
      const { version, flags } = fullBoxHeader(seg, saio);
      const at = saio.payload + 4 + (flags & 1 ? 8 : 0) + 4;
      const offset = version === 0 ? seg.readUInt32BE(at) : Number(seg.readBigUInt64BE(at));
      assert.equal(moof.start + offset, senc.payload + 8, 'saio points at the senc sample info');
    }
  }
}

/** The single-traf moof, traf and their children of a one-fragment segment. */
function firstTraf(seg: Buffer): { moof: Box; moofKids: Box[]; traf: Box; kids: Box[] } {
  const moof = readBoxes(seg).find((b) => b.type === 'moof')!;
  const moofKids = children(seg, moof);
  const traf = find(moofKids, 'traf')!;
  return { moof, moofKids, traf, kids: children(seg, traf) };
}

function tfdtOf(seg: Buffer): { version: number; value: bigint; size: number } {
  const tfdt = find(firstTraf(seg).kids, 'tfdt')!;
  const { version } = fullBoxHeader(seg, tfdt);
  const value =
    version === 1 ? seg.readBigUInt64BE(tfdt.payload + 4) : BigInt(seg.readUInt32BE(tfdt.payload + 4));
  return { version, value, size: tfdt.end - tfdt.start };
}

/** Replaces the (version 1) tfdt of each traf by a version 0 one, as some encoders write it. */
function withTfdtV0(seg: Buffer): Buffer {
  const { moof, traf, kids } = firstTraf(seg);
  const tfdt = find(kids, 'tfdt')!;
  const value = Number(seg.readBigUInt64BE(tfdt.payload + 4));
  const box = Buffer.alloc(16);
  box.writeUInt32BE(16, 0);
  box.write('tfdt', 4, 'latin1');
  box.writeUInt32BE(value, 12);
  return applySplices(seg, [
    { at: tfdt.start, remove: tfdt.end - tfdt.start, insert: box, parents: [traf, moof] },
  ]);
}

/** The per-sample IV size of an encrypted init's tenc (what encryptSegment writes by default with it). */
function ivSizeOf(init: Buffer): number {
  return readInitTracks(init)[0]!.protection!.perSampleIvSize;
}

/** sidx first_offset and its first referenced_size. */
function sidxFirst(seg: Buffer): { sidx: Box; firstOffset: number; size: number } {
  const sidx = readBoxes(seg).find((b) => b.type === 'sidx')!;
  const v1 = fullBoxHeader(seg, sidx).version === 1;
  const at = sidx.payload + 12 + (v1 ? 8 : 4);
  const firstOffset = v1 ? Number(seg.readBigUInt64BE(at)) : seg.readUInt32BE(at);
  const size = seg.readUInt32BE(at + (v1 ? 8 : 4) + 4) & 0x7fffffff;
  return { sidx, firstOffset, size };
}

const KEY_A = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const KID_A = 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1';
const KEY_B = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');
const KID_B = 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2';

describe('live fragments: timing, rotation signalling, init', () => {
  const dir = tempDir('vigil-live-fragment-');
  let tracks: Track[];

  before(() => {
    tracks = clearCmaf(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Encrypts fragment n of a track under (kid, key) and adds the signalling. */
  function protect(track: Track, n: number, kid: string, key: Buffer, clear = track.fragments[n]!) {
    const info = parseInit(track.init)[0]!;
    const encrypted = encryptSegment(clear, info, { scheme: 'cenc', key, kid, ivSeed: BigInt(n) << 20n });
    return {
      encrypted,
      signalled: addRotationSignalling(encrypted, {
        kid,
        ivSize: ivSizeOf(encryptLiveInit(track.init, { scheme: 'cenc', kid })),
        scheme: 'cenc',
        psshBoxes: [clearKeyPssh([kid])],
      }),
    };
  }

  it('encryptLiveInit: tenc default_KID is the first kid, no pssh anywhere', () => {
    for (const track of tracks) {
      const init = encryptLiveInit(track.init, { scheme: 'cenc', kid: KID_A });
      assert.equal(tencKid(init), KID_A);
      assert.equal(init.indexOf('pssh', 0, 'latin1'), -1);
      assert.ok(readInit(init).encrypted);
      // A pssh in the clear init is removed too.
      const moov = readBoxes(track.init).find((b) => b.type === 'moov')!;
      const pssh = clearKeyPssh([KID_B]);
      const withPssh = Buffer.concat([
        track.init.subarray(0, moov.start),
        (() => {
          const m = Buffer.concat([track.init.subarray(moov.start, moov.end), pssh]);
          m.writeUInt32BE(m.length, 0);
          return m;
        })(),
        track.init.subarray(moov.end),
      ]);
      assert.deepEqual(encryptLiveInit(withPssh, { scheme: 'cenc', kid: KID_A }), init);
    }
  });

  it('addRotationSignalling: boxes where documented, offsets right, decrypts to the clear fragment', () => {
    for (const track of tracks) {
      const init = encryptLiveInit(track.init, { scheme: 'cenc', kid: KID_A });
      for (const n of [0, 3]) {
        const clear = track.fragments[n]!;
        const { encrypted, signalled } = protect(track, n, KID_B, KEY_B);
        assertSizesConsistent(signalled);
        assertSaioPointsIntoSenc(signalled);
        const { moofKids, kids } = firstTraf(signalled);
        assert.deepEqual(
          moofKids.map((b) => b.type),
          ['mfhd', 'traf', 'pssh'],
        );
        assert.deepEqual(
          kids.map((b) => b.type),
          ['tfhd', 'tfdt', 'trun', 'saiz', 'saio', 'senc', 'sbgp', 'sgpd'],
        );
        const samples = readFragmentTiming(clear).samples;
        assert.deepEqual(readSeigSbgp(signalled, kids), [[samples, FRAGMENT_LOCAL_INDEX]]);
        assert.deepEqual(readSeigDescriptions(signalled, kids), [
          { isProtected: true, perSampleIvSize: ivSizeOf(init), kid: KID_B, crypt: 0, skip: 0 },
        ]);
        assert.deepEqual(moofPsshKids(signalled), [KID_B]);
        // Sample data moved by exactly the added bytes and is unchanged.
        assert.deepEqual(sampleBytes(signalled), sampleBytes(encrypted));
        assert.equal(signalled.length - encrypted.length, 28 + 44 + 52);
        // sidx still covers moof + mdat.
        const { sidx, firstOffset, size } = sidxFirst(signalled);
        assert.equal(sidx.end + firstOffset + size, signalled.length);
        // The inverse restores the encrypted fragment, which decrypts back to the clear one.
        assert.deepEqual(stripRotationSignalling(signalled), encrypted);
        assert.equal(fragmentKid(signalled, init), KID_B);
        const keys = new Map([
          [KID_A, KEY_A],
          [KID_B, KEY_B],
        ]);
        assert.deepEqual(decryptLiveSegment(signalled, init, keys), clear);
        // The wrong key (the init's default) gives garbage, not the clear samples.
        assert.notDeepEqual(
          decryptLiveSegment(signalled, init, () => KEY_A),
          clear,
        );
      }
    }
  });

  it('addRotationSignalling: several moofs in one segment, each signalled', () => {
    const track = tracks[0]!;
    const init = encryptLiveInit(track.init, { scheme: 'cenc', kid: KID_A });
    const moofMdat = (seg: Buffer) => seg.subarray(readBoxes(seg).find((b) => b.type === 'moof')!.start);
    const clear = Buffer.concat([moofMdat(track.fragments[1]!), moofMdat(track.fragments[2]!)]);
    const { encrypted, signalled } = protect(track, 1, KID_B, KEY_B, clear);
    assertSizesConsistent(signalled);
    assertSaioPointsIntoSenc(signalled);
    assert.deepEqual(moofPsshKids(signalled), [KID_B, KID_B]);
    assert.deepEqual(sampleBytes(signalled), sampleBytes(encrypted));
    assert.deepEqual(
      decryptLiveSegment(signalled, init, () => KEY_B),
      clear,
    );
  });

  it('addRotationSignalling refuses clear fragments and double signalling', () => {
    const track = tracks[1]!;
    const ivSize = ivSizeOf(encryptLiveInit(track.init, { scheme: 'cenc', kid: KID_B }));
    const opts = { kid: KID_B, ivSize, scheme: 'cenc' as const, psshBoxes: [clearKeyPssh([KID_B])] };
    assert.throws(() => addRotationSignalling(track.fragments[0]!, opts), /without sample encryption/);
    const { signalled } = protect(track, 0, KID_B, KEY_B);
    assert.throws(() => addRotationSignalling(signalled, opts), /already has a seig/);
    assert.throws(() => addRotationSignalling(signalled, { ...opts, ivSize: 0 }), /IV size/);
    const { encrypted } = protect(track, 0, KID_B, KEY_B);
    const wrong = ivSize === 8 ? 16 : 8;
    assert.throws(() => addRotationSignalling(encrypted, { ...opts, ivSize: wrong }), /do not have/);
  });

  it('setFragmentTiming: 64-bit tfdt, mfhd, and a version 0 tfdt upgraded with offsets fixed', () => {
    for (const track of tracks) {
      const init = encryptLiveInit(track.init, { scheme: 'cenc', kid: KID_A });
      const clear = track.fragments[2]!;
      const big = (1n << 33n) + 12345n;
      // In place (ffmpeg writes version 1 already).
      const retimed = setFragmentTiming(clear, { baseMediaDecodeTime: big, sequenceNumber: 777 });
      assert.equal(retimed.length, clear.length);
      assert.deepEqual(tfdtOf(retimed), { version: 1, value: big, size: 20 });
      const mfhd = find(firstTraf(retimed).moofKids, 'mfhd')!;
      assert.equal(retimed.readUInt32BE(mfhd.payload + 4), 777);
      assert.deepEqual(sampleBytes(retimed), sampleBytes(clear));

      // Version 0 → 1 on an encrypted, signalled fragment: 4 bytes more, trun/saio/sidx corrected.
      const { signalled } = protect(track, 2, KID_B, KEY_B, withTfdtV0(clear));
      assert.equal(tfdtOf(signalled).version, 0);
      const small = setFragmentTiming(signalled, { baseMediaDecodeTime: 1000 });
      assert.deepEqual(tfdtOf(small), { version: 0, value: 1000n, size: 16 });
      assert.equal(small.length, signalled.length);
      const upgraded = setFragmentTiming(signalled, { baseMediaDecodeTime: big, sequenceNumber: 9 });
      assert.deepEqual(tfdtOf(upgraded), { version: 1, value: big, size: 20 });
      assert.equal(upgraded.length, signalled.length + 4);
      assertSizesConsistent(upgraded);
      assertSaioPointsIntoSenc(upgraded);
      assert.deepEqual(sampleBytes(upgraded), sampleBytes(signalled));
      const { sidx, firstOffset, size } = sidxFirst(upgraded);
      assert.equal(sidx.end + firstOffset + size, upgraded.length);
      // Decrypting gives the clear fragment with the new timing (tfdt version 1 there too).
      const expected = setFragmentTiming(withTfdtV0(clear), { baseMediaDecodeTime: big, sequenceNumber: 9 });
      assert.deepEqual(
        decryptLiveSegment(upgraded, init, () => KEY_B),
        expected,
      );
      assert.equal(readFragmentTiming(expected).start, Number(big));
    }
  });

  it('setFragmentTiming keeps later moofs at their distance and refuses several tracks', () => {
    const track = tracks[0]!;
    const moofMdat = (seg: Buffer) => seg.subarray(readBoxes(seg).find((b) => b.type === 'moof')!.start);
    const two = Buffer.concat([moofMdat(track.fragments[1]!), moofMdat(track.fragments[2]!)]);
    const gap = BigInt(
      readFragmentTiming(track.fragments[2]!).start - readFragmentTiming(track.fragments[1]!).start,
    );
    const out = setFragmentTiming(two, { baseMediaDecodeTime: 5n, sequenceNumber: 40 });
    const moofs = readBoxes(out).filter((b) => b.type === 'moof');
    const values = moofs.map((m) => {
      const tfdt = find(children(out, find(children(out, m), 'traf')!), 'tfdt')!;
      return out.readBigUInt64BE(tfdt.payload + 4);
    });
    assert.deepEqual(values, [5n, 5n + gap]);
    assert.deepEqual(
      moofs.map((m) => out.readUInt32BE(find(children(out, m), 'mfhd')!.payload + 4)),
      [40, 41],
    );
    // ffmpeg numbers every track 1 in its own file: make the audio one track 2.
    const audio = Buffer.from(moofMdat(tracks[1]!.fragments[0]!));
    audio.writeUInt32BE(2, firstTraf(audio).kids[0]!.payload + 4);
    const mixed = Buffer.concat([moofMdat(tracks[0]!.fragments[0]!), audio]);
    assert.throws(() => setFragmentTiming(mixed, { baseMediaDecodeTime: 0 }), /one track per segment/);
  });
});

// ---------------------------------------------------------------------------------------------------
// Chromium proof: one init per track, keys rotating every two fragments, one static single-Period MPD.

const FRAGMENTS_PER_KEY = 2;
const RESOURCE = 'live-rotation';
/** Past two rotations (at 4 s and 8 s of media). */
const PAST_ROTATIONS = 2 * FRAGMENTS_PER_KEY * SEGMENT_SECONDS + 1;
const PLAY_TIMEOUT_MS = 120_000;
const CASE_TIMEOUT_MS = PLAY_TIMEOUT_MS + 60_000;

interface PackagedTrack {
  id: string;
  info: ReturnType<typeof readInit>;
  timeline: { t: number; d: number }[];
}

function mpd(tracks: PackagedTrack[], licenseUrl: string, seconds: number): string {
  const sets = tracks.map((t) => {
    const video = t.info.handler === 'vide';
    const timeline = t.timeline.map(({ t: start, d }) => `<S t="${start}" d="${d}"/>`).join('');
    return `    <AdaptationSet contentType="${video ? 'video' : 'audio'}" mimeType="${video ? 'video/mp4' : 'audio/mp4'}" segmentAlignment="true">
      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>
      <ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0">
        <dashif:Laurl xmlns:dashif="https://dashif.org/CPS">${licenseUrl}</dashif:Laurl>
      </ContentProtection>
      <Representation id="${t.id}" codecs="${t.info.codec}" bandwidth="${video ? 600000 : 96000}"${
        video
          ? ` width="${t.info.width}" height="${t.info.height}"`
          : ` audioSamplingRate="${t.info.sampleRate}"`
      }>
        <SegmentTemplate timescale="${t.info.timescale}" initialization="init-${t.id}.mp4" media="${t.id}-$Number$.m4s" startNumber="1">
          <SegmentTimeline>${timeline}</SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>`;
  });
  return `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" profiles="urn:mpeg:dash:profile:isoff-live:2011" minBufferTime="PT2S" mediaPresentationDuration="PT${seconds.toFixed(3)}S">
  <Period id="live" start="PT0S">
${sets.join('\n')}
  </Period>
</MPD>
`;
}

describe('Chromium plays one init with keys rotating inside the fragments', () => {
  const root = tempDir('vigil-live-rotation-');
  let server: TestServer;
  let statics: StaticServer;
  let launching: Promise<Browser> | undefined;
  let browser: Browser;
  /** kids per track id, by key period */
  const kidsByTrack = new Map<string, string[]>();
  let sessions = 0;

  before(
    async () => {
      server = await startVigil();
      launching = launchBrowser();
      launching.catch(() => {});
      const out = join(root, 'media');
      const clearDir = join(root, 'clear');
      mkdirSync(clearDir, { recursive: true });
      const tracks = clearCmaf(clearDir);
      const periods = Math.ceil(tracks[0]!.fragments.length / FRAGMENTS_PER_KEY);
      const source = storeKeySource({ store: server.store, tenantId: 'default' });
      const packaged: PackagedTrack[] = [];
      const control = join(out, 'no-seig');
      mkdirSync(control, { recursive: true });
      for (const [index, track] of tracks.entries()) {
        const info = readInit(track.init);
        const trackType = info.handler === 'vide' ? ('sd' as const) : ('audio' as const);
        const keys: PackagingKey[] = await source.createKeys(
          RESOURCE,
          Array.from({ length: periods }, (_, keyPeriod) => ({ keyPeriod, trackType, use: 'cmaf' as const })),
          'cenc',
        );
        kidsByTrack.set(
          track.id,
          keys.map((k) => k.kid),
        );
        const init = encryptLiveInit(track.init, { scheme: 'cenc', kid: keys[0]!.kid });
        writeFileSync(join(out, `init-${track.id}.mp4`), init);
        writeFileSync(join(control, `init-${track.id}.mp4`), init);
        const cenc = parseInit(track.init)[0]!;
        const timeline: { t: number; d: number }[] = [];
        let t = 0;
        for (const [n, fragment] of track.fragments.entries()) {
          const key = keys[Math.floor(n / FRAGMENTS_PER_KEY)]!;
          // Vigil's own timeline and numbering, then encryption and the signalling of this fragment's key.
          const timed = setFragmentTiming(fragment, { baseMediaDecodeTime: t, sequenceNumber: n + 1 });
          const encrypted = encryptSegment(timed, cenc, {
            scheme: 'cenc',
            key: key.key,
            kid: key.kid,
            ivSeed: (BigInt(index) << 48n) | (BigInt(n) << 20n),
          });
          const signalled = addRotationSignalling(encrypted, {
            kid: key.kid,
            ivSize: ivSizeOf(init),
            scheme: 'cenc',
            psshBoxes: [clearKeyPssh([key.kid])],
          });
          // What the browser gets decrypts with that period's key.
          assert.deepEqual(
            decryptLiveSegment(signalled, init, () => key.key),
            timed,
          );
          writeFileSync(join(out, `${track.id}-${n + 1}.m4s`), signalled);
          // Control: the same fragment with the pssh but without the seig group (the tenc default_KID,
          // the first period's, then applies to every sample).
          const moof = readBoxes(encrypted).find((b) => b.type === 'moof')!;
          const psshOnly = applySplices(encrypted, [
            { at: moof.end, remove: 0, insert: clearKeyPssh([key.kid]), parents: [moof] },
          ]);
          writeFileSync(join(control, `${track.id}-${n + 1}.m4s`), psshOnly);
          const d = readFragmentTiming(fragment, info.defaultSampleDuration).duration;
          timeline.push({ t, d });
          t += d;
        }
        packaged.push({ id: track.id, info, timeline });
      }
      const manifest = mpd(packaged, `${server.url}/v1/license/clearkey`, CLIP_SECONDS);
      writeFileSync(join(out, 'manifest.mpd'), manifest);
      writeFileSync(join(control, 'manifest.mpd'), manifest);
      statics = await startStaticServer(out);
      browser = await launching;
    },
    { timeout: 300_000 },
  );

  after(async () => {
    await (await launching?.catch(() => undefined))?.close();
    await statics?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function play(lib: 'videojs' | 'shaka'): Promise<void> {
    const token = await viewerToken(server.secret, {
      resourceId: RESOURCE,
      sessionId: `live-rotation-${lib}-${++sessions}`,
      ip: '127.0.0.1',
    });
    const player: PlayerPage = await openPlayerPage(browser, statics, lib, server.url);
    const began = Date.now();
    try {
      const manifestUrl = `${statics.mediaUrl}/manifest.mpd`;
      if (lib === 'videojs') {
        await startVideojs(player.page, { manifestUrl, token, server: server.url, playbackRate: 2 });
      } else {
        await startShaka(player.page, {
          manifestUrl,
          token,
          licenseUrl: `${server.url}/v1/license/clearkey`,
          playbackRate: 2,
        });
      }
      const state = await waitForMediaTime(player, PAST_ROTATIONS, PLAY_TIMEOUT_MS);
      console.log(
        `# ${lib}: ${state.currentTime.toFixed(1)} s of media in ${((Date.now() - began) / 1000).toFixed(1)} s, ` +
          `${player.keyRequests.length} key requests: ${player.keyRequests
            .map((r) => `${(r.at / 1000).toFixed(1)}s ${r.kids.join(',')} ${r.status}`)
            .join('; ')}`,
      );
      assert.equal(state.error, null);
      assert.equal(state.playerError, null);
      // A real, decrypted picture past the rotations (ClearKey does not hide it from screenshots).
      const shot = join(tmpdir(), `vigil-live-rotation-${lib}.png`);
      const picture = await videoScreenshot(player.page, shot);
      assert.ok(picture.stdev > 20, `the video shows no picture (${shot}): ${JSON.stringify(picture)}`);
      const granted = player.grantedKids();
      const context = await player.diagnostics();
      for (const [id, kids] of kidsByTrack) {
        // The key periods playback went through: 0, 1 and 2 (rotations at 4 s and 8 s).
        for (const kid of kids.slice(0, 3)) {
          assert.ok(granted.has(kid), `track ${id}: no granted key request for kid ${kid}\n${context}`);
        }
      }
      for (const r of player.keyRequests) {
        assert.ok(r.withToken, 'every key request carries the viewer token');
        assert.equal(r.kids.length, 1, 'one kid per request: the fragment pssh lists only its own');
      }
    } catch (err) {
      const diagnostics = await player.diagnostics();
      throw new Error(`${lib}: ${(err as Error).message}\n${diagnostics}`, { cause: err });
    } finally {
      await player.close();
    }
  }

  it(
    'video.js + Vigil plugin: plays past two rotations, a license request per new kid',
    { timeout: CASE_TIMEOUT_MS },
    () => play('videojs'),
  );

  it(
    'control: with the pssh but without the seig group, Chromium fails at the first rotation',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      const token = await viewerToken(server.secret, {
        resourceId: RESOURCE,
        sessionId: `live-rotation-control-${++sessions}`,
        ip: '127.0.0.1',
      });
      const player = await openPlayerPage(browser, statics, 'videojs', server.url);
      try {
        const manifestUrl = `${statics.mediaUrl}/no-seig/manifest.mpd`;
        await startVideojs(player.page, { manifestUrl, token, server: server.url, playbackRate: 2 });
        // The rotated fragments are decrypted with the tenc default_KID's key: garbage, a decode error.
        const reached = await waitForMediaTime(player, PAST_ROTATIONS, PLAY_TIMEOUT_MS).then(
          () => true,
          () => false,
        );
        const state = await videoState(player.page);
        const context = await player.diagnostics();
        console.log(`# control: ${state.error?.message ?? 'no error'} at ${state.currentTime.toFixed(1)} s`);
        assert.equal(reached, false, `played through without the seig group\n${context}`);
        assert.equal(state.error?.code, 3, `expected a decode error\n${context}`);
        assert.ok(state.currentTime < FRAGMENTS_PER_KEY * SEGMENT_SECONDS + 1, context);
      } finally {
        await player.close();
      }
    },
  );

  it(
    'Shaka Player: plays past two rotations, a license request per new kid',
    { timeout: CASE_TIMEOUT_MS },
    () => play('shaka'),
  );
});
