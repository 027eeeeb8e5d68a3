/**
 * The packaging pipeline end to end: one transcode of a generated clip (testsrc2 + sine, 30 s, 2 s
 * segments, a new key every 2 segments), packaged clear, cenc and cbcs; every segment decrypted by ffmpeg
 * and by the CENC core must decode to the clear packaging's frames and samples. Plus the HLS AES-128 set,
 * SPEKE against a running Vigil, cancellation, and the CLI's one-line errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '@vigil/server';
import { parseCpixRequest, planKeys } from '@vigil/speke';
import { call, runCli, startVigil, tempDir, viewerToken } from '../../../test/support/vigil.ts';
import { decryptSegment } from '../src/cenc/index.ts';
import {
  buildCpixRequest,
  buildMpd,
  chooseRenditions,
  clearInit,
  describeBoxes,
  ephemeralKeySource,
  licenseKeyLookup,
  type PackageLayout,
  type PackageProgress,
  PackagerError,
  type PackageSummary,
  packageMedia,
  parseCpixKeys,
  spekeKeySource,
  verifyPackage,
} from '../src/index.ts';
import { mustFind, readBoxes } from '../src/isobmff/box.ts';

const SEGMENT = 2;
const KEY_PERIOD = 2;
const LADDER = [
  { height: 360, bitrate: 800_000 },
  { height: 240, bitrate: 400_000 },
];
const MASTER_KEY = '44'.repeat(32);

function run(
  bin: string,
  args: string[],
  input?: Buffer,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (input) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(input);
    }
  });
}

/** The source clip, generated once per machine and cached in the temp folder. */
async function sourceClip(): Promise<string> {
  const dir = join(tmpdir(), 'vigil-packager-test');
  const path = join(dir, 'testsrc2-640x360-30s-sine-v1.mp4');
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.${process.pid}.partial.mp4`;
  const res = await run('ffmpeg', [
    '-hide_banner',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '30',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    partial,
  ]);
  assert.equal(res.code, 0, res.stderr);
  renameSync(partial, path);
  return path;
}

const md5Lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));

/** ffmpeg's per-frame MD5s of the decoded video frames / audio samples (comment lines dropped). */
async function framemd5(mp4: Buffer): Promise<string[]> {
  const res = await run(
    'ffmpeg',
    ['-hide_banner', '-v', 'error', '-i', 'pipe:0', '-f', 'framemd5', '-'],
    mp4,
  );
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr.trim(), '', 'ffmpeg reported decode errors');
  const lines = md5Lines(res.stdout);
  assert.ok(lines.length > 0, 'nothing decoded');
  return lines;
}

let scratchCount = 0;

/**
 * framemd5 of several inputs in one ffmpeg run (one process per segment instead of three), each input
 * optionally decrypted by ffmpeg itself (`-decryption_key`).
 */
async function framemd5Each(dir: string, inputs: { data: Buffer; key?: Buffer }[]): Promise<string[][]> {
  const base = join(dir, `fm-${process.pid}-${scratchCount++}`);
  const args = ['-hide_banner', '-v', 'error', '-y'];
  for (const [i, input] of inputs.entries()) {
    await writeFile(`${base}-${i}.mp4`, input.data);
    if (input.key) args.push('-decryption_key', input.key.toString('hex'));
    args.push('-i', `${base}-${i}.mp4`);
  }
  for (const i of inputs.keys()) args.push('-map', String(i), '-f', 'framemd5', `${base}-${i}.txt`);
  const res = await run('ffmpeg', args);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr.trim(), '', 'ffmpeg reported decode errors');
  const out: string[][] = [];
  for (const i of inputs.keys()) {
    const lines = md5Lines(await readFile(`${base}-${i}.txt`, 'utf8'));
    assert.ok(lines.length > 0, 'nothing decoded');
    out.push(lines);
    rmSync(`${base}-${i}.mp4`);
    rmSync(`${base}-${i}.txt`);
  }
  return out;
}

async function pool<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: size }, worker));
}

const mdat = (segment: Buffer) => {
  const box = mustFind(readBoxes(segment), 'mdat', 'segment');
  return segment.subarray(box.payload, box.end);
};

/** Every URI line and URI="…" attribute of an HLS playlist, resolved against its folder. */
function playlistUris(text: string): string[] {
  const uris: string[] = [];
  for (const line of text.split('\n')) {
    if (line && !line.startsWith('#')) uris.push(line.trim());
    for (const m of line.matchAll(/URI="([^"]+)"/g)) uris.push(m[1]!);
  }
  return uris;
}

describe('packaging pipeline', () => {
  const root = tempDir('vigil-packager-');
  const work = join(root, 'work');
  let source: string;
  const packages: Record<'none' | 'cenc' | 'cbcs', { summary: PackageSummary; keys: Map<string, Buffer> }> =
    {} as never;
  const progress: PackageProgress[] = [];

  before(async () => {
    source = await sourceClip();
    for (const scheme of ['none', 'cenc', 'cbcs'] as const) {
      const keySource = ephemeralKeySource();
      const summary = await packageMedia(
        {
          input: source,
          out: join(root, scheme),
          resourceId: 'clip-1',
          scheme,
          segmentDuration: SEGMENT,
          keyPeriod: KEY_PERIOD,
          ladder: LADDER,
          workDir: work,
          ...(scheme === 'none' ? {} : { keys: keySource }),
        },
        scheme === 'none' ? { onProgress: (p) => progress.push(p) } : {},
      );
      packages[scheme] = { summary, keys: new Map(keySource.keys.map((k) => [k.kid, k.key])) };
    }
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reports progress up to 100 % and packages every scheme from one transcode', () => {
    assert.ok(progress.some((p) => p.phase === 'transcode' && p.percent > 10 && p.percent < 80));
    assert.deepEqual(progress.at(-1), { phase: 'done', percent: 100 });
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.percent >= progress[i - 1]!.percent);
    assert.equal(packages.none.summary.reusedTranscode, false);
    assert.equal(packages.cenc.summary.reusedTranscode, true);
    assert.equal(packages.cbcs.summary.reusedTranscode, true);
    const layout = packages.none.summary.layout;
    assert.deepEqual(
      layout.tracks.map((t) => [t.id, t.width, t.height]),
      [
        ['video-360p', 640, 360],
        ['video-240p', 426, 240],
        ['audio', undefined, undefined],
      ],
    );
    assert.ok(Math.abs(layout.duration - 30) < 0.05, `duration ${layout.duration}`);
    assert.ok(existsSync(join(root, 'none', 'poster.jpg')));
  });

  it('rotates keys every 2 segments: one period, one init segment and one key per track type each', async () => {
    for (const scheme of ['cenc', 'cbcs'] as const) {
      const { summary } = packages[scheme];
      const { layout } = summary;
      assert.equal(layout.periods.length, Math.ceil(30 / SEGMENT / KEY_PERIOD));
      const seen = new Set<string>();
      for (const period of layout.periods) {
        const kids = layout.tracks.map((t) => t.periods.find((p) => p.period === period.index)!.kid!);
        // Both video renditions are SD: one key; audio has its own.
        assert.equal(kids[0], kids[1]);
        assert.notEqual(kids[0], kids[2]);
        for (const kid of new Set(kids)) {
          assert.ok(!seen.has(kid), 'a kid is reused across periods');
          seen.add(kid);
        }
        for (const track of layout.tracks) {
          const part = track.periods.find((p) => p.period === period.index)!;
          if (track.kind === 'video')
            assert.equal(part.segments.length, Math.min(KEY_PERIOD, 15 - 2 * period.index));
          const tree = describeBoxes(await readFile(join(summary.out, part.init)));
          assert.match(tree, new RegExp(`default_kid=${part.kid}`));
          assert.match(tree, new RegExp(`scheme=${scheme}`));
          assert.match(tree, /1077efec-c0b2-4d02-ace3-3c1e52e2fb4b/);
          assert.match(tree, new RegExp(`kids=\\[${part.kid}\\]`));
        }
      }
      assert.deepEqual(
        [...new Set(summary.keys.map((k) => k.trackType))].sort(),
        ['audio', 'sd'],
        'keys per track type',
      );
    }
  });

  it('writes a static multi-period MPD with ClearKey signalling and relative URLs that resolve', async () => {
    const { summary } = packages.cenc;
    const { layout } = summary;
    const mpd = await readFile(join(summary.out, 'manifest.mpd'), 'utf8');
    assert.match(mpd, /type="static"/);
    assert.match(mpd, /mediaPresentationDuration="PT30\.000S"/);
    assert.equal(mpd.match(/<Period /g)?.length, layout.periods.length);
    assert.doesNotMatch(mpd, /1077efec/i, 'no W3C ContentProtection element (dash.js fails with it)');
    assert.equal(
      mpd.match(
        /<dashif:Laurl xmlns:dashif="https:\/\/dashif.org\/CPS">http:\/\/127\.0\.0\.1:8080\/v1\/license\/clearkey<\/dashif:Laurl>/g,
      )?.length,
      layout.periods.length * 2,
    );
    const periods = mpd.split('<Period ').slice(1);
    for (const [i, text] of periods.entries()) {
      const kids = [...text.matchAll(/cenc:default_KID="([0-9a-f-]+)"/g)].map((m) =>
        m[1]!.replaceAll('-', ''),
      );
      const expected = [...new Set(layout.tracks.map((t) => t.periods.find((p) => p.period === i)!.kid!))];
      assert.deepEqual(kids, expected);
      assert.match(text, /value="cenc"/);
      for (const m of text.matchAll(/initialization="([^"]+)"/g))
        assert.ok(existsSync(join(summary.out, m[1]!)));
    }
    for (const track of layout.tracks) {
      for (const part of track.periods) {
        for (const seg of part.segments) {
          const url = `${track.id}/seg-$Number%05d$.m4s`.replace(
            '$Number%05d$',
            String(seg.number).padStart(5, '0'),
          );
          assert.equal(url, seg.file);
          assert.ok(existsSync(join(summary.out, url)), url);
        }
      }
    }
    assert.doesNotMatch(mpd, /\/tmp\/|"file:/, 'relative URLs only');

    // HLS: fMP4 over the same segments, a key tag and a map per period.
    for (const scheme of ['cenc', 'cbcs'] as const) {
      const out = packages[scheme].summary.out;
      const master = await readFile(join(out, 'master.m3u8'), 'utf8');
      for (const uri of playlistUris(master)) {
        assert.ok(existsSync(join(out, uri)), uri);
        const media = await readFile(join(out, uri), 'utf8');
        const dir = uri.split('/')[0]!;
        assert.equal(media.match(/#EXT-X-KEY:/g)?.length, layout.periods.length);
        assert.equal(media.match(/#EXT-X-MAP:/g)?.length, layout.periods.length);
        assert.equal(media.match(/#EXT-X-DISCONTINUITY/g)?.length, layout.periods.length - 1);
        assert.match(
          media,
          scheme === 'cenc'
            ? /METHOD=SAMPLE-AES-CTR,KEYFORMAT="org.w3.clearkey"/
            : /METHOD=SAMPLE-AES,KEYFORMAT="org.w3.clearkey"/,
        );
        for (const u of playlistUris(media).filter((x) => !x.startsWith('http'))) {
          assert.ok(existsSync(join(out, dir, u)), `${dir}/${u}`);
        }
      }
    }
  });

  for (const scheme of ['cenc', 'cbcs'] as const) {
    it(`${scheme}: every segment decrypts, with ffmpeg and with the CENC core alike, to the clear packaging's frames and samples`, async () => {
      const { summary, keys } = packages[scheme];
      const clear = packages.none.summary;
      const jobs: (() => Promise<void>)[] = [];
      for (const track of summary.layout.tracks) {
        const clearTrack = clear.layout.tracks.find((t) => t.id === track.id)!;
        const clearInitData = await readFile(join(clear.out, clearTrack.periods[0]!.init));
        const decrypted: Buffer[] = [];
        const clearSegments: Buffer[] = [];
        for (const part of track.periods) {
          const init = await readFile(join(summary.out, part.init));
          const key = keys.get(part.kid!)!;
          for (const seg of part.segments) {
            const encrypted = await readFile(join(summary.out, seg.file));
            const clearSeg = await readFile(join(clear.out, seg.file));
            const mine = decryptSegment(encrypted, init, key);
            assert.ok(!mdat(encrypted).equals(mdat(clearSeg)), `${seg.file} is not encrypted`);
            decrypted.push(mine);
            clearSegments.push(clearSeg);
            jobs.push(async () => {
              // ffmpeg decrypts one init + one fragment at a time: checked segment by segment.
              const [expected, ours, ffmpegs] = await framemd5Each(root, [
                { data: Buffer.concat([clearInitData, clearSeg]) },
                { data: Buffer.concat([clearInit(init), mine]) },
                { data: Buffer.concat([init, encrypted]), key },
              ]);
              assert.deepEqual(ours, expected, `${scheme} ${seg.file}: our decryption`);
              assert.deepEqual(ffmpegs, ours, `${scheme} ${seg.file}: ffmpeg's decryption`);
            });
          }
        }
        // The whole track, decoded in one go across the key periods (audio decoding carries state over).
        jobs.push(async () => {
          const firstInit = await readFile(join(summary.out, track.periods[0]!.init));
          const whole = await framemd5(Buffer.concat([clearInit(firstInit), ...decrypted]));
          const expected = await framemd5(Buffer.concat([clearInitData, ...clearSegments]));
          assert.deepEqual(whole, expected, `${scheme} ${track.id}: the whole track`);
        });
      }
      await pool(jobs, 2, (job) => job());
    });
  }

  it('writes the HLS AES-128 TS set (CLI): every .ts decrypts with the key from the store to valid MPEG-TS', async () => {
    const data = join(root, 'data');
    const out = join(root, 'aes');
    const env = { VIGIL_MASTER_KEY: MASTER_KEY };
    const args = ['package', source, '--out', out, '--resource', 'clip-aes', '--data', data];
    const res = await runCli(
      [...args, '--segment-duration', String(SEGMENT), '--key-period', String(KEY_PERIOD), '--hls-aes128'],
      env,
    );
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /manifest\.mpd/);
    assert.match(
      res.stderr,
      /packaging: \d+% \(transcode\)/,
      'a plain percentage line when stderr is not a TTY',
    );
    const master = await readFile(join(out, 'master.m3u8'), 'utf8');
    assert.equal(master, await readFile(join(out, 'master-aes128.m3u8'), 'utf8'));
    assert.match(await readFile(join(out, 'master-cenc.m3u8'), 'utf8'), /#EXT-X-MEDIA:TYPE=AUDIO/);
    const variants = playlistUris(master);
    assert.deepEqual(variants, ['hls-aes/video-360p/playlist.m3u8']);

    const store = await openStore({ dataDir: data, masterKey: MASTER_KEY });
    try {
      const playlist = await readFile(join(out, variants[0]!), 'utf8');
      let kid = '';
      let sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)![1]);
      const kids = new Set<string>();
      let segments = 0;
      for (const line of playlist.split('\n')) {
        const key =
          /^#EXT-X-KEY:METHOD=AES-128,URI="http:\/\/127\.0\.0\.1:8080\/v1\/license\/hls\/([0-9a-f]{32})"$/.exec(
            line,
          );
        if (key) {
          kid = key[1]!;
          kids.add(kid);
          continue;
        }
        if (!line.endsWith('.ts')) continue;
        const stored = await store.getContentKey('default', kid);
        assert.ok(stored, `the store has the key ${kid}`);
        assert.equal(stored.resourceId, 'clip-aes');
        const iv = Buffer.alloc(16);
        iv.writeUInt32BE(sequence, 12);
        const decipher = createDecipheriv('aes-128-cbc', stored.key, iv);
        const encrypted = await readFile(join(out, 'hls-aes/video-360p', line));
        const ts = Buffer.concat([decipher.update(encrypted), decipher.final()]);
        assert.equal(ts[0], 0x47);
        const file = join(root, `probe-${sequence}.ts`);
        await writeFile(file, ts);
        const probe = await run('ffprobe', [
          '-v',
          'error',
          '-show_entries',
          'stream=codec_name',
          '-of',
          'csv=p=0',
          file,
        ]);
        assert.equal(probe.code, 0, probe.stderr);
        assert.equal(probe.stderr.trim(), '');
        assert.deepEqual([...new Set(probe.stdout.split('\n').filter(Boolean))].sort(), ['aac', 'h264']);
        sequence++;
        segments++;
      }
      assert.equal(segments, 15);
      assert.equal(kids.size, 8, 'a new key every 2 segments');
    } finally {
      await store.close();
    }
    assert.deepEqual(
      (await readdir(out)).filter((f) => /key|\.bin$/i.test(f)),
      [],
      'no key files in the served folder',
    );

    // vigil inspect: OK with the store's keys; FAIL (exit 1) on a damaged segment and a swapped init.
    const ok = await runCli(['inspect', out, '--data', data], env);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout.match(/^OK /gm)?.length, 3, ok.stdout);
    const tree = await runCli(['inspect', join(out, 'video-360p/init-1.mp4')], env);
    assert.equal(tree.code, 0, tree.stderr);
    assert.match(tree.stdout, /tenc .*default_kid=[0-9a-f]{32}/);
    const ts = join(out, 'hls-aes/video-360p/seg-00003.ts');
    const damaged = await readFile(ts);
    damaged[damaged.length - 1]! ^= 0xff;
    await writeFile(ts, damaged);
    const [a, b] = [join(out, 'audio/init-0.mp4'), join(out, 'audio/init-1.mp4')];
    const [initA, initB] = [await readFile(a), await readFile(b)];
    await writeFile(a, initB);
    await writeFile(b, initA);
    const bad = await runCli(['inspect', out, '--data', data], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^OK +video-360p/m);
    assert.match(bad.stdout, /^FAIL +audio .*names KID/m);
    assert.match(bad.stdout, /^FAIL +hls-aes\/video-360p .*seg-00003\.ts/m);
    assert.equal(bad.stderr.trim(), 'vigil: 2 of 3 renditions failed the check');
  });

  it('gets keys from a running Vigil over SPEKE and checks the package through its license endpoint', async () => {
    const server = await startVigil();
    try {
      const out = join(root, 'speke');
      const summary = await packageMedia({
        input: source,
        out,
        resourceId: 'clip-speke',
        scheme: 'cbcs',
        segmentDuration: SEGMENT,
        keyPeriod: KEY_PERIOD,
        ladder: LADDER,
        workDir: work,
        hlsAes128: true,
        keys: spekeKeySource({ server: server.url, apiKey: server.apiKey }),
        licenseUrlBase: server.url,
      });
      assert.equal(summary.reusedTranscode, true);
      assert.match(
        await readFile(join(out, 'manifest.mpd'), 'utf8'),
        new RegExp(`${server.url}/v1/license/clearkey`),
      );
      const listed = await call(`${server.url}/v1/keys?resourceId=clip-speke`, { token: server.apiKey });
      assert.equal(listed.status, 200);
      const byKid = new Map<string, { keyPeriod: number; trackType: string }>(
        listed.body.keys.map((k: { kid: string; keyPeriod: number; trackType: string }) => [k.kid, k]),
      );
      for (const k of summary.keys) {
        assert.deepEqual(
          { keyPeriod: byKid.get(k.kid)?.keyPeriod, trackType: byKid.get(k.kid)?.trackType },
          { keyPeriod: k.keyPeriod, trackType: k.trackType },
        );
      }
      const token = await viewerToken(server.secret, { resourceId: 'clip-speke' });
      const { checks } = await verifyPackage(out, licenseKeyLookup(server.url, token));
      assert.deepEqual(
        checks.map((c) => [c.id, c.ok, c.error]),
        [
          ['video-360p', true, undefined],
          ['video-240p', true, undefined],
          ['audio', true, undefined],
          ['hls-aes/video-360p', true, undefined],
          ['hls-aes/video-240p', true, undefined],
        ],
      );
      // A token for another resource gets no keys: every rendition fails.
      const other = await viewerToken(server.secret, { resourceId: 'another-film' });
      await assert.rejects(verifyPackage(out, licenseKeyLookup(server.url, other)), /resource_mismatch/);
    } finally {
      await server.close();
    }
  });

  it('cancels: kills ffmpeg and removes the partial output', async () => {
    const out = join(root, 'cancelled');
    const controller = new AbortController();
    const started = Date.now();
    await assert.rejects(
      packageMedia(
        {
          input: source,
          out,
          resourceId: 'clip-x',
          scheme: 'none',
          segmentDuration: SEGMENT,
          ladder: LADDER,
        },
        {
          signal: controller.signal,
          onProgress: (p) => {
            if (p.phase === 'transcode' && p.percent > 5) controller.abort();
          },
        },
      ),
      (err: unknown) => err instanceof PackagerError && err.code === 'aborted',
    );
    assert.ok(Date.now() - started < 10_000);
    assert.equal(existsSync(out), false);
  });

  it('refuses bad input with one line on stderr and a non-zero exit', async () => {
    const dir = join(root, 'bad');
    mkdirSync(dir, { recursive: true });
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'this is not a video\n');
    const truncated = join(dir, 'truncated.mp4');
    writeFileSync(truncated, (await readFile(source)).subarray(0, 200_000));
    const noAudio = join(dir, 'silent.mp4');
    const cut = await run('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-i',
      source,
      '-an',
      '-c',
      'copy',
      '-t',
      '4',
      noAudio,
    ]);
    assert.equal(cut.code, 0, cut.stderr);
    const badCodec = join(dir, 'badcodec.mp4');
    const raw = Buffer.from(await readFile(source));
    const at = raw.indexOf('avc1', raw.indexOf('stsd'));
    raw.write('zzz1', at, 'latin1');
    writeFileSync(badCodec, raw);
    const aFile = join(dir, 'a-file');
    writeFileSync(aFile, '');

    const env = { VIGIL_MASTER_KEY: MASTER_KEY };
    const data = ['--data', join(dir, 'data')];
    const cases: [string[], RegExp][] = [
      [[text, '--out', join(dir, 'o1')], /is not a video file/],
      [[join(dir, 'missing.mp4'), '--out', join(dir, 'o2')], /input not found: .*missing\.mp4/],
      [[source, '--out', join(aFile, 'pkg')], /cannot write the output folder .*a-file\/pkg/],
      [[truncated, '--out', join(dir, 'o3')], /is truncated or damaged/],
      [[noAudio, '--out', join(dir, 'o4')], /has no audio track \(use --allow-no-audio/],
      [[badCodec, '--out', join(dir, 'o5')], /unsupported video codec "zzz1"/],
    ];
    const results = await Promise.all(
      cases.map(([args]) => runCli(['package', ...args, '--resource', 'r', ...data], env)),
    );
    for (const [i, res] of results.entries()) {
      assert.equal(res.code, 1, `${cases[i]![0][0]}: exit ${res.code}\n${res.stderr}`);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(lines[0]!, /^vigil: /);
      assert.match(lines[0]!, cases[i]![1]);
    }
    for (const o of ['o1', 'o2', 'o3', 'o4', 'o5']) assert.equal(existsSync(join(dir, o)), false);
    const usage = await runCli(['package', source, '--resource', 'r', ...data], env);
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr.trim(), 'vigil: --out is required');
  });

  it('chooses renditions from the source without upscaling, keyed SD below 720p and HD from 720p', () => {
    const ladder = (width: number, height: number, fps = 30) =>
      chooseRenditions({ width, height, fps }).map(
        (r) => `${r.width}x${r.height} ${r.trackType} ${r.bitrate}`,
      );
    assert.deepEqual(ladder(1920, 1080), [
      '1920x1080 hd 5000000',
      '1280x720 hd 3000000',
      '854x480 sd 1400000',
      '640x360 sd 800000',
    ]);
    assert.deepEqual(ladder(1280, 720, 60), [
      '1280x720 hd 4500000',
      '854x480 sd 2100000',
      '640x360 sd 1200000',
    ]);
    assert.deepEqual(ladder(1000, 500), ['960x480 sd 1400000', '720x360 sd 800000']);
    assert.deepEqual(ladder(1080, 1920), [
      '1080x1920 hd 5000000',
      '720x1280 hd 3000000',
      '480x854 sd 1400000',
      '360x640 sd 800000',
    ]);
    assert.deepEqual(ladder(320, 240), ['320x240 sd 355556']);
  });

  it('puts SD and HD renditions in switchable AdaptationSets, each with its own key', () => {
    const seg = (number: number) => ({ number, file: '', start: (number - 1) * 60, duration: 60, size: 1 });
    const video = (id: string, height: number, trackType: 'sd' | 'hd', kid: string) => ({
      id,
      kind: 'video' as const,
      codec: 'avc1.64001f',
      timescale: 30,
      trackType,
      bandwidth: 1,
      averageBandwidth: 1,
      width: (height * 16) / 9,
      height,
      frameRate: '30/1',
      periods: [{ period: 0, init: `${id}/init-0.mp4`, kid, segments: [seg(1), seg(2)] }],
    });
    const layout = {
      scheme: 'cbcs',
      segmentDuration: 2,
      duration: 4,
      licenseUrl: 'https://keys.example/v1/license/clearkey',
      periods: [{ index: 0, start: 0, duration: 4 }],
      tracks: [
        video('video-720p', 720, 'hd', 'aa'.repeat(16)),
        video('video-480p', 480, 'sd', 'bb'.repeat(16)),
      ],
    } as unknown as PackageLayout;
    const mpd = buildMpd(layout);
    assert.equal(mpd.match(/<AdaptationSet /g)?.length, 2);
    assert.match(mpd, /adaptation-set-switching:2016" value="1"/);
    assert.match(mpd, /adaptation-set-switching:2016" value="0"/);
    assert.match(mpd, /value="cbcs" cenc:default_KID="aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"/);
    assert.match(mpd, /value="cbcs" cenc:default_KID="bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"/);
    assert.match(mpd, /<S t="0" d="60" r="1"\/>/);
  });

  it("asks SPEKE for keys Vigil's CPIX parser files under the right track type and key period", () => {
    const iv = Buffer.alloc(16, 7);
    const kid = (n: number) => String(n).padStart(32, '0');
    const xml = buildCpixRequest('film&co', 'cenc', [
      { kid: kid(1), iv, keyPeriod: 0, trackType: 'audio', use: 'cmaf' },
      { kid: kid(2), iv, keyPeriod: 0, trackType: 'sd', use: 'cmaf' },
      { kid: kid(3), iv, keyPeriod: 3, trackType: 'hd', use: 'cmaf' },
      { kid: kid(4), iv, keyPeriod: 3, trackType: 'uhd', use: 'cmaf' },
    ]);
    const request = parseCpixRequest(xml, { spekeVersion: '2.0' });
    assert.equal(request.contentId, 'film&co');
    assert.deepEqual(
      planKeys(request).map((p) => [p.kidHex, p.trackType, p.keyPeriod, p.iv]),
      [
        [kid(1), 'audio', 0, iv.toString('hex')],
        [kid(2), 'sd', 0, iv.toString('hex')],
        [kid(3), 'hd', 3, iv.toString('hex')],
        [kid(4), 'uhd', 3, iv.toString('hex')],
      ],
    );
    const answer = parseCpixKeys(
      `<CPIX xmlns="urn:dashif:org:cpix"><ContentKeyList><ContentKey kid="00000000-0000-0000-0000-000000000001"><Data><Secret xmlns="urn:ietf:params:xml:ns:keyprov:pskc"><PlainValue>${Buffer.alloc(16, 9).toString('base64')}</PlainValue></Secret></Data></ContentKey></ContentKeyList></CPIX>`,
    );
    assert.deepEqual(answer.get(kid(1))?.key, Buffer.alloc(16, 9));
  });
});
