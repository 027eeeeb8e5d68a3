/**
 * Common Encryption core against real ffmpeg output: clear CMAF from ffmpeg's DASH muxer is encrypted
 * (cenc and cbcs, video and audio), then decrypted by our own decryptor (byte-identical segments) and by
 * ffmpeg (framemd5 equal to the clear one), and its boxes are checked for consistency. The H.264 slice
 * header lengths are checked against ffmpeg's `trace_headers`. Clips are made once and cached in the
 * OS temp folder.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { clearKeyPssh, SYSTEM_IDS } from '@vigil/keys';
import { avcParams, sliceHeaderLength } from '../src/cenc/avc.ts';
import { CtrStream, cbcsSample, ctrSample } from '../src/cenc/cipher.ts';
import {
  decryptSegment,
  describeBoxes,
  encryptInit,
  encryptSegment,
  parseInit,
  type Scheme,
  type TrackInfo,
} from '../src/cenc/index.ts';
import { nativeAes, useNativeAes } from '../src/cenc/native.ts';
import { avcSubsamples } from '../src/cenc/subsamples.ts';
import { type Box, children, find, findAll, makeBox, makeFullBox, readBoxes } from '../src/isobmff/box.ts';
import { parseMoof } from '../src/isobmff/fragment.ts';

const run = promisify(execFile);
const KEY = Buffer.from('3f8a1c2e4b5d6f708192a3b4c5d6e7f8', 'hex');
const KID = '0123456789abcdef0123456789abcdef';
const CBCS_IV = Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex');
const CACHE = join(tmpdir(), 'vigil-cenc-test-clips-v1');
const SCHEMES: Scheme[] = ['cenc', 'cbcs'];
/** What each describe block covers: cenc with its default 16-byte chained IVs, cenc with 8-byte IVs, cbcs. */
const VARIANTS: { scheme: Scheme; ivSize?: 8 | 16; label: string }[] = [
  { scheme: 'cenc', label: 'cenc' },
  { scheme: 'cenc', ivSize: 8, label: 'cenc with 8-byte IVs' },
  { scheme: 'cbcs', label: 'cbcs' },
];

const DASH_ARGS = [
  '-f',
  'dash',
  '-use_template',
  '1',
  '-use_timeline',
  '0',
  '-init_seg_name',
  'init-$RepresentationID$.m4s',
  '-media_seg_name',
  'chunk-$RepresentationID$-$Number%05d$.m4s',
];

/** The brief's clip (video + audio), and two video-only variants that reach more slice header syntax. */
const CLIPS: Record<string, string[]> = {
  main: [
    ...[
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=640x360:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
    ],
    ...[
      '-t',
      '8',
      '-c:v',
      'libx264',
      '-profile:v',
      'main',
      '-g',
      '50',
      '-keyint_min',
      '50',
      '-sc_threshold',
      '0',
    ],
    ...['-c:a', 'aac', '-b:a', '96k', '-seg_duration', '2'],
  ],
  // High profile, 4 slices per picture, scaling matrices, MBAFF interlacing (field and POC syntax)
  high: [
    ...[
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x180:rate=25',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-profile:v',
      'high',
    ],
    ...[
      '-x264-params',
      'slices=4:cqm=jvt:interlaced=1',
      '-g',
      '25',
      '-keyint_min',
      '25',
      '-sc_threshold',
      '0',
    ],
    ...['-seg_duration', '1'],
  ],
  // Baseline (CAVLC), 2 slices per picture
  baseline: [
    ...[
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x180:rate=25',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-profile:v',
      'baseline',
    ],
    ...[
      '-x264-params',
      'slices=2',
      '-g',
      '25',
      '-keyint_min',
      '25',
      '-sc_threshold',
      '0',
      '-seg_duration',
      '1',
    ],
  ],
};

interface Rendition {
  clip: string;
  dir: string;
  init: Buffer;
  track: TrackInfo;
  segments: { name: string; data: Buffer }[];
}

async function ensureClip(name: string): Promise<string> {
  const dir = join(CACHE, name);
  if (existsSync(join(dir, 'manifest.mpd'))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(join(CACHE, `${name}-tmp-`));
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...CLIPS[name]!, ...DASH_ARGS, 'manifest.mpd'], {
    cwd: work,
  });
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // made concurrently by another run
  }
  return dir;
}

function renditions(clip: string, dir: string): Rendition[] {
  const files = readdirSync(dir);
  return files
    .filter((f) => /^init-\d+\.m4s$/.test(f))
    .sort()
    .map((initName) => {
      const id = initName.slice(5, -4);
      const init = readFileSync(join(dir, initName));
      const [track] = parseInit(init);
      assert.ok(track);
      const segments = files
        .filter((f) => f.startsWith(`chunk-${id}-`))
        .sort()
        .map((name) => ({ name, data: readFileSync(join(dir, name)) }));
      return { clip, dir, init, track, segments };
    });
}

let scratch: string;
let fileCounter = 0;

async function framemd5(parts: Buffer[], key?: Buffer): Promise<string> {
  const file = join(scratch, `f${fileCounter++}.mp4`);
  writeFileSync(file, Buffer.concat(parts));
  const args = ['-hide_banner', '-loglevel', 'error'];
  if (key) args.push('-decryption_key', key.toString('hex'));
  args.push('-i', file, '-f', 'framemd5', '-');
  const { stdout } = await run('ffmpeg', args, { maxBuffer: 16 << 20 });
  rmSync(file);
  assert.ok(stdout.split('\n').filter((l) => l && !l.startsWith('#')).length > 0, 'ffmpeg decoded no frames');
  return stdout;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value, 0);
  return b;
}

/** trun payload (data offset + sample sizes) for `samples`. */
function trunFor(samples: Buffer[], dataOffset: number): Buffer {
  const p = Buffer.alloc(8 + 4 * samples.length);
  p.writeUInt32BE(samples.length, 0);
  p.writeInt32BE(dataOffset, 4);
  for (const [i, smp] of samples.entries()) p.writeUInt32BE(smp.length, 8 + 4 * i);
  return p;
}

function topMoofs(seg: Buffer): { moof: Box; mdat: Box }[] {
  const top = readBoxes(seg);
  return top.flatMap((b, i) => (b.type === 'moof' ? [{ moof: b, mdat: top[i + 1]! }] : []));
}

/** Sample data of every moof's mdat, concatenated. */
function mdatPayloads(seg: Buffer): Buffer {
  return Buffer.concat(topMoofs(seg).map(({ mdat }) => seg.subarray(mdat.payload, mdat.end)));
}

interface SencEntry {
  iv: Buffer;
  subsamples: { clear: number; protected: number }[] | null;
}

function readSenc(buf: Buffer, senc: Box, ivSize: number): SencEntry[] {
  const flags = buf.readUInt32BE(senc.payload) & 0xffffff;
  const count = buf.readUInt32BE(senc.payload + 4);
  const out: SencEntry[] = [];
  let o = senc.payload + 8;
  for (let i = 0; i < count; i++) {
    const iv = buf.subarray(o, o + ivSize);
    o += ivSize;
    let subsamples: SencEntry['subsamples'] = null;
    if (flags & 2) {
      const n = buf.readUInt16BE(o);
      o += 2;
      subsamples = [];
      for (let k = 0; k < n; k++, o += 6)
        subsamples.push({ clear: buf.readUInt16BE(o), protected: buf.readUInt32BE(o + 2) });
    }
    out.push({ iv, subsamples });
  }
  assert.equal(o, senc.end, 'senc entries fill the box exactly');
  return out;
}

/** Byte ranges (absolute) of each VCL NAL unit's slice data, after its slice header. */
function sliceDataRanges(seg: Buffer, offset: number, size: number, track: TrackInfo): [number, number][] {
  const params = avcParams(track.sps, track.pps);
  const ranges: [number, number][] = [];
  const len = track.nalLengthSize!;
  for (let o = offset; o < offset + size; ) {
    const n = seg.readUIntBE(o, len);
    const nal = o + len;
    const type = seg[nal]! & 0x1f;
    if (type === 1 || type === 5) {
      const header = sliceHeaderLength(seg, nal + 1, nal + n, type, (seg[nal]! >> 5) & 3, params);
      ranges.push([nal + 1 + header, nal + n]);
    }
    o = nal + n;
  }
  return ranges;
}

/** Structural checks of one encrypted segment against its clear original. */
function checkStructure(
  r: Rendition,
  scheme: Scheme,
  clear: Buffer,
  enc: Buffer,
  ivs: Set<string>,
  cencIvSize: 8 | 16 = 16,
): void {
  const video = r.track.handler === 'vide';
  const clearPairs = topMoofs(clear);
  const encPairs = topMoofs(enc);
  assert.equal(encPairs.length, clearPairs.length);
  for (const [i, { moof, mdat }] of encPairs.entries()) {
    const traf = findAll(children(enc, moof), 'traf')[0]!;
    const kids = children(enc, traf);
    const [info] = parseMoof(enc, moof, () => r.track.defaultSampleSize);
    assert.ok(info);
    const trunCount = info.samples.length;
    // trun data_offset still points at the mdat's first byte, and the samples tile the mdat
    assert.equal(info.samples[0]!.offset, mdat.payload, 'trun data_offset points at the sample data');
    const last = info.samples[trunCount - 1]!;
    assert.equal(last.offset + last.size, mdat.end);
    const clearSamples = parseMoof(clear, clearPairs[i]!.moof, () => r.track.defaultSampleSize)[0]!.samples;
    assert.deepEqual(
      info.samples.map((s) => s.size),
      clearSamples.map((s) => s.size),
    );

    const senc = find(kids, 'senc');
    const saiz = find(kids, 'saiz');
    const saio = find(kids, 'saio');
    if (scheme === 'cbcs' && !video) {
      // constant IV, whole-sample encryption: no per-sample information at all
      assert.ok(!senc && !saiz && !saio, 'cbcs audio carries no senc/saiz/saio');
      continue;
    }
    assert.ok(senc && saiz && saio, 'senc, saiz and saio present');
    const ivSize = scheme === 'cenc' ? cencIvSize : 0;
    const entries = readSenc(enc, senc, ivSize);
    if (ivSize === 16) {
      // one keystream across the segment: every IV has the segment's seed in its upper half, and the
      // counter blocks each sample's protected bytes use (from its IV on) are nobody else's
      const used: [bigint, bigint][] = [];
      for (const [k, e] of entries.entries()) {
        assert.ok(e.iv.subarray(0, 8).equals(entries[0]!.iv.subarray(0, 8)), 'one seed per segment');
        const prot: number = e.subsamples
          ? e.subsamples.reduce((n, x) => n + x.protected, 0)
          : info.samples[k]!.size;
        const from = e.iv.readBigUInt64BE(8);
        if (prot > 0) used.push([from, from + BigInt(Math.ceil(prot / 16))]);
        else assert.ok(from >= 1n << 63n, 'a sample without protected bytes has an IV no keystream reaches');
      }
      used.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (let k = 1; k < used.length; k++) {
        assert.ok(used[k]![0] >= used[k - 1]![1], 'no counter block encrypts two protected ranges');
      }
    }
    assert.equal(entries.length, trunCount, 'senc sample count = trun sample count');
    // saiz: one size per sample, matching the senc entries
    const defaultSize = enc[saiz.payload + 4]!;
    assert.equal(enc.readUInt32BE(saiz.payload + 5), trunCount, 'saiz sample count = trun sample count');
    for (const [k, e] of entries.entries()) {
      const size = ivSize + (e.subsamples ? 2 + 6 * e.subsamples.length : 0);
      assert.equal(defaultSize || enc[saiz.payload + 9 + k]!, size, 'saiz size matches the senc entry');
    }
    // saio: one offset, relative to the moof, at the first byte of the first senc entry
    assert.equal(enc.readUInt32BE(saio.payload + 4), 1);
    assert.equal(moof.start + enc.readUInt32BE(saio.payload + 8), senc.payload + 8, 'saio points into senc');

    for (const [k, e] of entries.entries()) {
      const { offset, size }: { offset: number; size: number } = info.samples[k]!;
      const src = clearSamples[k]!.offset;
      if (scheme === 'cenc') {
        const iv = e.iv.toString('hex');
        assert.ok(!ivs.has(iv), `per-sample IV ${iv} is unique`);
        ivs.add(iv);
      }
      if (!video) {
        assert.equal(e.subsamples, null);
        continue;
      }
      assert.ok(e.subsamples && e.subsamples.length > 0, 'video samples have subsamples');
      const allowed = sliceDataRanges(clear, src, size, r.track);
      let o = 0;
      for (const s of e.subsamples) {
        assert.ok(s.clear <= 0xffff);
        o += s.clear;
        if (s.protected > 0) {
          if (scheme === 'cenc') assert.equal(s.protected % 16, 0, 'cenc protected ranges are whole blocks');
          const from = src + o;
          assert.ok(
            allowed.some(([a, b]) => from >= a && from + s.protected <= b),
            'protected range lies inside slice data',
          );
          // encrypted: the first block differs from the clear one
          assert.notDeepEqual(
            enc.subarray(offset + o, offset + o + 16),
            clear.subarray(src, src + 16),
            'protected bytes are encrypted',
          );
        }
        o += s.protected;
      }
      assert.equal(o, size, 'subsamples cover the sample');
    }
  }
  // sidx still describes the (bigger) moof+mdat
  const sidx = find(readBoxes(enc), 'sidx');
  if (sidx) {
    const version = enc[sidx.payload]!;
    const refAt = sidx.payload + 12 + (version === 0 ? 8 : 16) + 4;
    const firstOffset =
      version === 0 ? enc.readUInt32BE(sidx.payload + 16) : Number(enc.readBigUInt64BE(sidx.payload + 20));
    const first = encPairs[0]!;
    assert.equal(sidx.end + firstOffset, first.moof.start);
    assert.equal(
      enc.readUInt32BE(refAt) & 0x7fffffff,
      first.mdat.end - first.moof.start,
      'sidx referenced_size',
    );
  }
}

function checkInit(r: Rendition, scheme: Scheme, einit: Buffer, cencIvSize: 8 | 16 = 16): void {
  const text = describeBoxes(einit);
  assert.match(text, new RegExp(`${r.track.handler === 'vide' ? 'encv' : 'enca'} `));
  assert.match(text, new RegExp(`frma \\d+ original_format=${r.track.codec}`));
  assert.match(text, new RegExp(`schm \\d+ scheme=${scheme} version=0x10000`));
  assert.match(text, new RegExp(`tenc .*is_protected=1 .*default_kid=${KID}`));
  if (scheme === 'cenc')
    assert.match(text, new RegExp(`tenc .*version=0 .*per_sample_iv_size=${cencIvSize} `));
  else {
    assert.match(
      text,
      new RegExp(`per_sample_iv_size=0 default_kid=${KID} constant_iv=${CBCS_IV.toString('hex')}`),
    );
    assert.match(text, r.track.handler === 'vide' ? / pattern=1:9/ : / pattern=0:0/);
  }
  assert.match(
    text,
    new RegExp(`pssh \\d+ version=1 system_id=${SYSTEM_IDS.clearKey} \\(clearKey\\) kids=\\[${KID}\\]`),
  );
  // the pssh is a child of moov, and the kid is inside it
  const moov = find(readBoxes(einit), 'moov')!;
  const pssh = find(children(einit, moov), 'pssh');
  assert.ok(pssh && einit.subarray(pssh.start, pssh.end).includes(Buffer.from(KID, 'hex')));
  // the encrypted init parses back to the same track
  assert.deepEqual(parseInit(einit), [r.track]);
}

const all: Rendition[] = [];

/** Whether the native in-place AES is built here (`npm ci` builds it; the comparison fails without it). */
const NATIVE = useNativeAes(true);
useNativeAes(undefined);

function withAes<T>(native: boolean, fn: () => T): T {
  useNativeAes(native);
  try {
    return fn();
  } finally {
    useNativeAes(undefined);
  }
}

/**
 * `encryptSegment` with node:crypto and with the native in-place AES (when built): they must give the same
 * bytes. Returns the native one.
 */
function encryptBoth(seg: Buffer, track: TrackInfo, opts: Parameters<typeof encryptSegment>[2]): Buffer {
  const js = withAes(false, () => encryptSegment(seg, track, opts));
  if (!NATIVE) return js;
  const native = withAes(true, () => encryptSegment(seg, track, opts));
  assert.ok(native.equals(js), `native and node:crypto ${opts.scheme} differ`);
  return native;
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'vigil-cenc-'));
  for (const clip of Object.keys(CLIPS)) all.push(...renditions(clip, await ensureClip(clip)));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('parseInit reads the ffmpeg DASH init segments', () => {
  const main = all.filter((r) => r.clip === 'main');
  const video = main.find((r) => r.track.handler === 'vide')!.track;
  const audio = main.find((r) => r.track.handler === 'soun')!.track;
  assert.equal(video.codec, 'avc1');
  assert.equal(video.nalLengthSize, 4);
  assert.equal(video.sps?.length, 1);
  assert.equal(video.pps?.length, 1);
  assert.equal(video.sps![0]![0]! & 0x1f, 7);
  assert.equal(audio.codec, 'mp4a');
  assert.equal(audio.timescale, 48000);
});

test('slice header lengths agree with ffmpeg trace_headers', async () => {
  for (const r of all.filter((x) => x.track.handler === 'vide')) {
    const file = join(scratch, `trace-${r.clip}.mp4`);
    writeFileSync(file, Buffer.concat([r.init, ...r.segments.map((s) => s.data)]));
    const { stderr } = await run(
      'ffmpeg',
      ['-hide_banner', '-i', file, '-map', '0:v', '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'],
      { maxBuffer: 256 << 20 },
    );
    // Per slice: the bit position (in the RBSP, NAL header included) where the slice header ends.
    const traced: number[] = [];
    let inSlice = false;
    let end = 0;
    const flush = () => {
      if (inSlice) traced.push(end);
      inSlice = false;
    };
    for (const line of stderr.split('\n')) {
      if (line.includes('] Slice Header')) {
        flush();
        inSlice = true;
        end = 0;
        continue;
      }
      const m = /\] (\d+)\s+(\S+)\s+([01]+) = -?\d+$/.exec(line);
      if (m && inSlice) {
        if (m[2] === 'cabac_alignment_one_bit') flush();
        else end = Number(m[1]) + m[3]!.length;
      } else if (!m && inSlice && /\] \S/.test(line)) {
        flush();
      }
    }
    flush();

    const ours: number[] = [];
    const params = avcParams(r.track.sps, r.track.pps);
    for (const { data } of r.segments) {
      for (const { moof } of topMoofs(data)) {
        for (const s of parseMoof(data, moof, () => r.track.defaultSampleSize)[0]!.samples) {
          for (let o = s.offset; o < s.offset + s.size; ) {
            const n = data.readUInt32BE(o);
            const nal = o + 4;
            const type = data[nal]! & 0x1f;
            if (type === 1 || type === 5) {
              const len = sliceHeaderLength(data, nal + 1, nal + n, type, (data[nal]! >> 5) & 3, params);
              let epb = 0;
              for (let k = nal + 3; k < nal + 1 + len; k++) {
                if (data[k] === 3 && data[k - 1] === 0 && data[k - 2] === 0) epb++;
              }
              ours.push(len - epb);
            }
            o = nal + n;
          }
        }
      }
    }
    assert.ok(ours.length >= 50, `${r.clip}: slices found`);
    assert.deepEqual(
      ours,
      traced.map((bits) => Math.ceil(bits / 8) - 1),
      `${r.clip}: slice header bytes per slice`,
    );
  }
});

for (const { scheme, ivSize, label } of VARIANTS) {
  describe(label, () => {
    test('encrypt → our decrypt gives the clear segments back byte for byte; boxes are consistent', () => {
      for (const r of all) {
        const einit = encryptInit(r.init, {
          scheme,
          kid: KID,
          iv: CBCS_IV,
          pssh: [clearKeyPssh([KID])],
          perSampleIvSize: ivSize,
        });
        checkInit(r, scheme, einit, ivSize);
        const ivs = new Set<string>();
        for (const [n, { name, data }] of r.segments.entries()) {
          const enc = encryptSegment(data, r.track, {
            scheme,
            key: KEY,
            kid: KID,
            iv: CBCS_IV,
            ivSeed: BigInt(n + 1) << 32n,
            perSampleIvSize: ivSize,
          });
          assert.notDeepEqual(mdatPayloads(enc), mdatPayloads(data), `${name}: samples are encrypted`);
          const dec = decryptSegment(enc, einit, KEY);
          assert.deepEqual(mdatPayloads(dec), mdatPayloads(data), `${r.clip}/${name}: decrypted sample data`);
          assert.ok(dec.equals(data), `${r.clip}/${name}: decrypted segment is the clear one`);
          checkStructure(r, scheme, data, enc, ivs, ivSize);
        }
      }
    });

    test('ffmpeg decrypts every init + segment to the clear frames (framemd5)', async () => {
      const jobs: Promise<void>[] = [];
      for (const r of all) {
        const einit = encryptInit(r.init, {
          scheme,
          kid: KID,
          iv: CBCS_IV,
          pssh: [clearKeyPssh([KID])],
          perSampleIvSize: ivSize,
        });
        for (const [n, { name, data }] of r.segments.entries()) {
          const enc = encryptSegment(data, r.track, {
            scheme,
            key: KEY,
            kid: KID,
            iv: CBCS_IV,
            ivSeed: BigInt(n + 1) << 32n,
            perSampleIvSize: ivSize,
          });
          jobs.push(
            (async () => {
              const [clearMd5, encMd5] = await Promise.all([
                framemd5([r.init, data]),
                framemd5([einit, enc], KEY),
              ]);
              assert.equal(encMd5, clearMd5, `${r.clip}/${name}`);
            })(),
          );
        }
      }
      await Promise.all(jobs);
    });
  });
}

test('native AES and node:crypto encrypt every segment to the same bytes', () => {
  assert.ok(NATIVE, 'the native AES addon is not built: run `npm run build:native` and read its message');
  let n = 0;
  for (const { scheme, ivSize } of VARIANTS) {
    for (const r of all) {
      for (const { data } of r.segments) {
        const opts = {
          scheme,
          key: KEY,
          kid: KID,
          iv: CBCS_IV,
          ivSeed: BigInt(++n) << 40n,
          perSampleIvSize: ivSize,
        };
        encryptBoth(data, r.track, opts);
      }
    }
  }
  // the default follows VIGIL_NATIVE_AES
  assert.equal(nativeAes() !== undefined, process.env.VIGIL_NATIVE_AES !== '0');
});

test('a segment of several moof+mdat pairs after a sidx', () => {
  const r = all.find((x) => x.clip === 'main' && x.track.handler === 'soun')!;
  const [a, b] = r.segments.map((s) => s.data);
  const pairsOf = (seg: Buffer) =>
    readBoxes(seg)
      .filter((x) => x.type === 'moof' || x.type === 'mdat')
      .map((x) => seg.subarray(x.start, x.end));
  // styp + sidx (covering the first pair) + two moof+mdat pairs
  const combined = Buffer.concat([
    ...readBoxes(a!)
      .filter((x) => x.type === 'styp' || x.type === 'sidx')
      .map((x) => a!.subarray(x.start, x.end)),
    ...pairsOf(a!),
    ...pairsOf(b!),
  ]);
  for (const scheme of SCHEMES) {
    const einit = encryptInit(r.init, { scheme, kid: KID, iv: CBCS_IV, pssh: [clearKeyPssh([KID])] });
    const enc = encryptBoth(combined, r.track, { scheme, key: KEY, kid: KID, iv: CBCS_IV, ivSeed: 7n });
    assert.ok(decryptSegment(enc, einit, KEY).equals(combined));
    checkStructure(r, scheme, combined, enc, new Set());
    if (scheme === 'cenc') {
      // the keystream (and so the IVs) runs on across the moofs of one segment: the first IV is
      // seed·2^64, the next moof's first IV the counter block after the last one of the first moof
      const moofs = topMoofs(enc).map(({ moof }) => moof);
      const sencs = moofs.map(
        (moof) => find(children(enc, findAll(children(enc, moof), 'traf')[0]!), 'senc')!,
      );
      const first = readSenc(enc, sencs[0]!, 16);
      const second = readSenc(enc, sencs[1]!, 16);
      const blocks = parseMoof(enc, moofs[0]!, () => r.track.defaultSampleSize)[0]!.samples.reduce(
        (n, x) => n + Math.max(1, Math.ceil(x.size / 16)),
        0,
      );
      assert.equal(first[0]!.iv.toString('hex'), `${'7'.padStart(16, '0')}${'0'.repeat(16)}`);
      assert.equal(second[0]!.iv.readBigUInt64BE(0), 7n);
      assert.equal(second[0]!.iv.readBigUInt64BE(8), BigInt(blocks));
      // with 8-byte IVs, the n-th sample of the segment gets seed + n
      const enc8 = encryptBoth(combined, r.track, {
        scheme,
        key: KEY,
        kid: KID,
        ivSeed: 7n,
        perSampleIvSize: 8,
      });
      const einit8 = encryptInit(r.init, { scheme, kid: KID, pssh: [], perSampleIvSize: 8 });
      assert.ok(decryptSegment(enc8, einit8, KEY).equals(combined));
      const sencs8 = topMoofs(enc8).map(
        ({ moof }) => find(children(enc8, findAll(children(enc8, moof), 'traf')[0]!), 'senc')!,
      );
      const first8 = readSenc(enc8, sencs8[0]!, 8);
      assert.equal(first8[0]!.iv.readBigUInt64BE(0), 7n);
      assert.equal(readSenc(enc8, sencs8[1]!, 8)[0]!.iv.readBigUInt64BE(0), 7n + BigInt(first8.length));
    }
  }
});

test('cipher layouts match a block-by-block reference', () => {
  const ecb = (block: Buffer) => {
    const c = createCipheriv('aes-128-ecb', KEY, null);
    c.setAutoPadding(false);
    return c.update(block);
  };
  const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((v, i) => v ^ b[i]!));
  const size = 1000;
  const clear = randomBytes(size);
  const subsamples = [
    { clear: 5, protected: 48 },
    { clear: 100, protected: 333 },
    { clear: 14, protected: 500 },
  ];
  // cenc: one counter stream per sample across the protected ranges
  {
    const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
    const out = Buffer.from(clear);
    ctrSample(KEY, iv, clear, 0, size, subsamples, out, 0);
    const expected = Buffer.from(clear);
    let counter = iv.readBigUInt64BE(8);
    let stream = Buffer.alloc(0);
    let o = 0;
    for (const s of subsamples) {
      o += s.clear;
      for (let k = 0; k < s.protected; k++) {
        if (stream.length === 0) {
          const block = Buffer.from(iv);
          block.writeBigUInt64BE(counter++, 8);
          stream = ecb(block);
        }
        expected[o + k] = expected[o + k]! ^ stream[0]!;
        stream = stream.subarray(1);
      }
      o += s.protected;
    }
    assert.ok(out.equals(expected), 'cenc');
  }
  // cbcs: 1:9 pattern, IV restarted per subsample, chain across skipped blocks, partial block clear
  for (const [pattern, subs] of [
    [{ crypt: 1, skip: 9 }, subsamples],
    [{ crypt: 0, skip: 0 }, null],
  ] as const) {
    const out = Buffer.from(clear);
    cbcsSample(false, KEY, CBCS_IV, pattern, clear, 0, size, subs ? [...subs] : null, out, 0);
    const expected = Buffer.from(clear);
    const ranges = subs
      ? subs.reduce<[number, number][]>((acc, s) => {
          const start = (acc.length ? acc[acc.length - 1]![1] : 0) + s.clear;
          acc.push([start, start + s.protected]);
          return acc;
        }, [])
      : [[0, size] as [number, number]];
    for (const [from, to] of ranges) {
      let chain = CBCS_IV;
      for (let b = 0; from + (b + 1) * 16 <= to; b++) {
        if (pattern.crypt !== 0 && b % (pattern.crypt + pattern.skip) >= pattern.crypt) continue;
        const at = from + b * 16;
        chain = ecb(xor(clear.subarray(at, at + 16), chain));
        chain.copy(expected, at);
      }
    }
    assert.ok(out.equals(expected), `cbcs ${pattern.crypt}:${pattern.skip}`);
    const back = Buffer.from(out);
    cbcsSample(true, KEY, CBCS_IV, pattern, out, 0, size, subs ? [...subs] : null, back, 0);
    assert.ok(back.equals(clear));
  }
});

test('one CTR keystream across samples equals a cipher per sample at the chained IVs', () => {
  // sample layouts around the stream's thresholds: empty samples, partial blocks, tiny and large ranges
  const sizes = [0, 1, 15, 16, 17, 100, 4095, 8191, 8192, 8193, 20_000, 65_536, 65_537, 200_003, 3, 0, 31];
  const samples: {
    offset: number;
    size: number;
    subsamples: { clear: number; protected: number }[] | null;
  }[] = [];
  let total = 0;
  for (const [i, size] of sizes.entries()) {
    let subsamples: { clear: number; protected: number }[] | null = null;
    if (i % 3 === 1 && size > 40) {
      // whole-block protected ranges between clear runs, as for video
      const a = Math.floor(size / 3) & ~15;
      const b = Math.floor(size / 4) & ~15;
      subsamples = [
        { clear: 5, protected: a },
        { clear: 7, protected: b },
        { clear: size - 12 - a - b, protected: 0 },
      ];
    } else if (i % 3 === 2 && size > 40) {
      // partial blocks inside one sample: the counter runs on within the sample
      subsamples = [
        { clear: 3, protected: 21 },
        { clear: 2, protected: size - 26 },
      ];
    }
    samples.push({ offset: total, size, subsamples });
    total += size;
  }
  const clear = randomBytes(total);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const out = Buffer.alloc(total);
  const expected = Buffer.alloc(total);
  const stream = new CtrStream(KEY, iv, out);
  for (const { offset, size, subsamples } of samples) {
    // the sample's IV is the first one plus the blocks used so far
    const sampleIv = Buffer.from(iv);
    sampleIv.writeBigUInt64BE(BigInt(stream.block), 8);
    ctrSample(KEY, sampleIv, clear, offset, size, subsamples, expected, offset);
    let o = 0;
    for (const s of subsamples ?? [{ clear: 0, protected: size }]) {
      clear.copy(out, offset + o, offset + o, offset + o + s.clear);
      o += s.clear;
      if (s.protected > 0) stream.update(clear, offset + o, s.protected, offset + o);
      o += s.protected;
    }
    const before = stream.block;
    stream.endSample(true);
    assert.ok(stream.block > before || size > 0, 'an empty sample still moves the counter');
  }
  stream.flush();
  // ctrSample leaves clear bytes alone: copy them into the expected output too
  for (const { offset, size, subsamples } of samples) {
    let o = 0;
    for (const s of subsamples ?? [{ clear: 0, protected: size }]) {
      clear.copy(expected, offset + o, offset + o, offset + o + s.clear);
      o += s.clear + s.protected;
    }
  }
  assert.ok(out.equals(expected));
});

test('cenc single-slice H.264: one keystream over the sample data, protected ranges on its block grid', () => {
  const r = all.find((x) => x.clip === 'main' && x.track.handler === 'vide')!;
  const seg = r.segments[0]!.data;
  const enc = encryptSegment(seg, r.track, { scheme: 'cenc', key: KEY, kid: KID, ivSeed: 9n });
  const { moof } = topMoofs(enc)[0]!;
  const traf = findAll(children(enc, moof), 'traf')[0]!;
  const entries = readSenc(enc, find(children(enc, traf), 'senc')!, 16);
  const samples = parseMoof(enc, moof, () => r.track.defaultSampleSize)[0]!.samples;
  const base = samples[0]!.offset;
  let protectedSamples = 0;
  for (const [k, e] of entries.entries()) {
    assert.equal(e.iv.readBigUInt64BE(0), 9n);
    const ranges = e.subsamples!.filter((x) => x.protected > 0);
    assert.ok(ranges.length <= 1, 'single-slice pictures have one protected range');
    if (ranges.length === 0) continue;
    protectedSamples++;
    const first = samples[k]!.offset + e.subsamples![0]!.clear;
    assert.equal((first - base) % 16, 0, 'the protected range starts on the block grid');
    assert.equal(
      e.iv.readBigUInt64BE(8),
      BigInt((first - base) / 16),
      'the IV is the block of its first byte',
    );
  }
  assert.ok(protectedSamples >= 40);
});

test('cenc keystream layouts: a sample without protected bytes, samples apart from each other', () => {
  // Hand-made fragments of real pictures from the main clip with a sample that is only an SEI NAL unit
  // (nothing to protect): the samples back to back (one pass over the sample data), and with 7 bytes
  // between the second and the third (two truns; sample after sample).
  const r = all.find((x) => x.clip === 'main' && x.track.handler === 'vide')!;
  const seg = r.segments[0]!.data;
  const src = parseMoof(seg, topMoofs(seg)[0]!.moof, () => undefined)[0]!.samples;
  const [p0, p1, p2, p3] = [0, 1, 2, 3].map((i) =>
    seg.subarray(src[i]!.offset, src[i]!.offset + src[i]!.size),
  );
  const sei = Buffer.from([0, 0, 0, 6, 0x06, 0x05, 0x02, 0xaa, 0xbb, 0x80]);
  const einit = encryptInit(r.init, { scheme: 'cenc', kid: KID, pssh: [] });
  for (const gap of [0, 7]) {
    const runs =
      gap === 0
        ? [[p0!, p1!, sei, p2!, p3!]]
        : [
            [p0!, p1!],
            [sei, p2!, p3!],
          ];
    const moofWith = (offsets: number[]) =>
      makeBox(
        'moof',
        makeFullBox('mfhd', 0, 0, u32(1)),
        makeBox(
          'traf',
          makeFullBox('tfhd', 0, 0x020000, u32(r.track.trackId)),
          makeFullBox('tfdt', 1, 0, Buffer.alloc(8)),
          ...runs.map((run, i) => makeFullBox('trun', 0, 0x000201, trunFor(run, offsets[i]!))),
        ),
      );
    const data = moofWith(runs.map(() => 0)).length + 8;
    const offsets = gap === 0 ? [data] : [data, data + p0!.length + p1!.length + gap];
    const payload = Buffer.concat([p0!, p1!, Buffer.alloc(gap, 0x42), sei, p2!, p3!]);
    const fragment = Buffer.concat([moofWith(offsets), makeBox('mdat', payload)]);
    const enc = encryptBoth(fragment, r.track, { scheme: 'cenc', key: KEY, kid: KID, ivSeed: 3n });
    assert.ok(decryptSegment(enc, einit, KEY).equals(fragment), `gap ${gap}: round trip`);
    const encMoof = topMoofs(enc)[0]!.moof;
    const traf = findAll(children(enc, encMoof), 'traf')[0]!;
    const entries = readSenc(enc, find(children(enc, traf), 'senc')!, 16);
    assert.equal(entries.length, 5);
    assert.deepEqual(entries[2]!.subsamples, [{ clear: sei.length, protected: 0 }]);
    const low = entries.map((e) => e.iv.readBigUInt64BE(8));
    assert.equal(new Set(low).size, 5, 'every sample has an IV of its own');
    if (gap === 0)
      assert.equal(low[2], 1n << 63n, 'the sample without protected bytes: an IV no keystream reaches');
    else
      assert.equal(
        low[3],
        low[2]! + 1n,
        'sample after sample: the sample without protected bytes takes a block',
      );
    const encSamples = parseMoof(enc, encMoof, () => undefined)[0]!.samples;
    assert.equal(encSamples.length, 5);
    assert.ok(!enc.subarray(encSamples[0]!.offset, encSamples[0]!.offset + p0!.length).equals(p0!));
    assert.ok(enc.subarray(encSamples[2]!.offset, encSamples[2]!.offset + sei.length).equals(sei));
    if (gap > 0) {
      const filler = encSamples[1]!.offset + p1!.length;
      assert.ok(
        enc.subarray(filler, filler + gap).equals(Buffer.alloc(gap, 0x42)),
        'bytes between samples kept',
      );
    }
  }
});

test('clear runs over 65535 bytes are split into several subsample entries', () => {
  const r = all.find((x) => x.clip === 'main' && x.track.handler === 'vide')!;
  const seg = r.segments[0]!.data;
  const { moof } = topMoofs(seg)[0]!;
  const s = parseMoof(seg, moof, () => undefined)[0]!.samples[1]!;
  const sei = Buffer.alloc(4 + 150_000, 0x55);
  sei.writeUInt32BE(150_000, 0);
  sei[4] = 0x06;
  const sample = Buffer.concat([sei, seg.subarray(s.offset, s.offset + s.size)]);
  for (const scheme of SCHEMES) {
    const subs = avcSubsamples(sample, 0, sample.length, 4, avcParams(r.track.sps, r.track.pps), scheme);
    assert.ok(subs.length >= 3);
    assert.ok(subs.every((x) => x.clear <= 0xffff));
    assert.deepEqual(
      subs.slice(0, 2).map((x) => x.protected),
      [0, 0],
    );
    assert.equal(
      subs.reduce((n, x) => n + x.clear + x.protected, 0),
      sample.length,
    );
  }
});

test('describeBoxes shows the encryption metadata of a segment', () => {
  const r = all.find((x) => x.clip === 'main' && x.track.handler === 'vide')!;
  const enc = encryptSegment(r.segments[0]!.data, r.track, {
    scheme: 'cenc',
    key: KEY,
    kid: KID,
    ivSeed: 0x100000000n,
  });
  const text = describeBoxes(enc);
  assert.match(text, /^moof \d+$/m);
  assert.match(text, /trun \d+ samples=50 /);
  assert.match(
    text,
    /senc \d+ samples=50 iv_size=16 first_iv=0000000100000000[0-9a-f]{16} subsamples=\d+ \(per sample /,
  );
  assert.match(text, /saiz \d+ samples=50 /);
  assert.match(text, /saio \d+ offsets=\[\d+\]/);
});

test('errors: wrong key size, missing cbcs IV, already encrypted, non-H.264 video', () => {
  const r = all.find((x) => x.clip === 'main' && x.track.handler === 'vide')!;
  const seg = r.segments[0]!.data;
  assert.throws(
    () => encryptSegment(seg, r.track, { scheme: 'cenc', key: Buffer.alloc(8), kid: KID }),
    /16 bytes/,
  );
  assert.throws(() => encryptSegment(seg, r.track, { scheme: 'cbcs', key: KEY, kid: KID }), /constant IV/);
  assert.throws(() => encryptInit(r.init, { scheme: 'cbcs', kid: KID, pssh: [] }), /constant IV/);
  const enc = encryptSegment(seg, r.track, { scheme: 'cenc', key: KEY, kid: KID });
  assert.throws(
    () => encryptSegment(enc, r.track, { scheme: 'cenc', key: KEY, kid: KID }),
    /already encrypted/,
  );
  assert.throws(
    () => encryptSegment(seg, { ...r.track, codec: 'hvc1' }, { scheme: 'cenc', key: KEY, kid: KID }),
    /supports H.264 video only/,
  );
});
