/**
 * The packaging pipeline: probe → one ffmpeg transcode to a clear CMAF ladder (private work folder) →
 * content keys per key period and track type → CENC/CBCS encryption into the output folder, an init
 * segment per key period → multi-period DASH, fMP4 HLS, and optionally an HLS AES-128 TS set.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clearKeyPssh, type TrackType } from '@vigil/keys';
import { encryptInit, encryptSegment, parseInit } from '../cenc/index.ts';
import { buildTsMasterPlaylist, buildTsMediaPlaylist, packageTsVariants } from '../hls-aes/package.ts';
import type { KeySource, KeySpec, PackagingKey } from '../keys/source.ts';
import { buildMpd } from '../manifest/dash.ts';
import {
  buildCmafMasterPlaylist,
  buildCmafMediaPlaylist,
  frameRateValue,
  mediaPlaylistPath,
} from '../manifest/hls.ts';
import { PackagerError, throwIfAborted } from './errors.ts';
import { chooseRenditions, DEFAULT_LADDER, type Rung } from './ladder.ts';
import {
  LAYOUT_FILE,
  type LayoutSegment,
  type LayoutTrack,
  type LayoutTsVariant,
  type PackageLayout,
  type PackageScheme,
} from './layout.ts';
import { prepareOutput } from './output.ts';
import { planPeriods } from './periods.ts';
import { probeSource, type SourceInfo } from './probe.ts';
import { type ClearTrack, transcode } from './transcode.ts';

export const DEFAULT_SEGMENT_DURATION = 4;
/** Segments per key period when not given: a new key about every minute with 4-second segments. */
export const DEFAULT_KEY_PERIOD = 15;
export const DEFAULT_LICENSE_URL_BASE = 'http://127.0.0.1:8080';

export interface PackageOptions {
  input: string;
  /** The package folder: created, or emptied if it holds an earlier package. */
  out: string;
  /** The resource id the keys are registered under (what viewer tokens name). */
  resourceId: string;
  /** Default cenc; 'none' writes a clear package (for tests and previews). */
  scheme?: PackageScheme;
  /** Seconds, default 4. */
  segmentDuration?: number;
  /** Segments per key period, default 15. */
  keyPeriod?: number;
  /** Also write an HLS AES-128 TS set (and make it the default master.m3u8). */
  hlsAes128?: boolean;
  /** Where keys come from; required unless scheme is 'none'. */
  keys?: KeySource;
  /** Base URL of the key server the manifests name; default http://127.0.0.1:8080. */
  licenseUrlBase?: string;
  allowNoAudio?: boolean;
  ladder?: readonly Rung[];
  /** x264 preset, default "veryfast". */
  preset?: string;
  /** AAC bitrate, default 128 kb/s. */
  audioBitrate?: number;
  /**
   * JPEG thumbnails at these fractions of the duration, `width` wide, written as `thumbs/thumb-<n>.jpg`
   * (n from 1) by the transcode's own run, from the frames it decodes anyway.
   */
  thumbnails?: { at: readonly number[]; width: number };
  /** The input's probe when the caller has one already (it is not probed again). */
  source?: SourceInfo;
  /**
   * A work folder to keep the clear transcode in, and to reuse it from when it already holds one of the
   * same source and settings. Default: a private temporary folder, removed at the end.
   */
  workDir?: string;
}

export type PackagePhase = 'probe' | 'transcode' | 'keys' | 'encrypt' | 'hls-aes128' | 'manifests' | 'done';

export interface PackageProgress {
  phase: PackagePhase;
  /** Overall, 0..100. */
  percent: number;
}

export interface PackageControl {
  onProgress?: (progress: PackageProgress) => void;
  signal?: AbortSignal;
}

export interface PackageSummary {
  out: string;
  layout: PackageLayout;
  /** Key ids used, with what each protects (never key bytes). */
  keys: { kid: string; keyPeriod: number; trackType: TrackType; use: KeySpec['use'] }[];
  reusedTranscode: boolean;
  /** The thumbnails asked for, paths relative to the package folder. */
  thumbnails: string[];
  elapsedMs: number;
}

const RESOURCE_ID = /^[\x21-\x7e]{1,256}$/;

function validate(opts: PackageOptions) {
  const scheme = opts.scheme ?? 'cenc';
  if (!['cenc', 'cbcs', 'none'].includes(scheme)) {
    throw new PackagerError('bad_option', `unknown scheme "${scheme}" (cenc, cbcs or none)`);
  }
  const segmentDuration = opts.segmentDuration ?? DEFAULT_SEGMENT_DURATION;
  if (!Number.isFinite(segmentDuration) || segmentDuration < 1 || segmentDuration > 30) {
    throw new PackagerError('bad_option', 'the segment duration must be 1 to 30 seconds');
  }
  const keyPeriod = opts.keyPeriod ?? DEFAULT_KEY_PERIOD;
  if (!Number.isInteger(keyPeriod) || keyPeriod < 1 || keyPeriod > 100_000) {
    throw new PackagerError('bad_option', 'the key period must be a whole number of segments, at least 1');
  }
  if (!RESOURCE_ID.test(opts.resourceId)) {
    throw new PackagerError(
      'bad_option',
      'the resource id must be 1 to 256 printable ASCII characters, no spaces',
    );
  }
  if (scheme !== 'none' && !opts.keys) {
    throw new PackagerError('bad_option', 'an encrypted package needs a key source');
  }
  if (scheme === 'none' && opts.hlsAes128) {
    throw new PackagerError('bad_option', 'the HLS AES-128 set needs encryption (a scheme other than none)');
  }
  const base = (opts.licenseUrlBase ?? DEFAULT_LICENSE_URL_BASE).replace(/\/+$/, '');
  try {
    const url = new URL(base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new PackagerError('bad_option', `the license URL base "${base}" is not an http(s) URL`);
  }
  return { scheme, segmentDuration, keyPeriod, base };
}

/** Bits per second: the peak over segments and the average. */
function bandwidths(sizes: number[], seconds: number[]): { peak: number; average: number } {
  const total = seconds.reduce((a, b) => a + b, 0);
  const bytes = sizes.reduce((a, b) => a + b, 0);
  const peak = Math.max(...sizes.map((s, i) => (s * 8) / Math.max(seconds[i]!, 0.001)));
  return { peak: Math.round(peak), average: Math.round((bytes * 8) / Math.max(total, 0.001)) };
}

/** Packages a video; see {@link PackageOptions}. Fails with a {@link PackagerError} for bad input. */
/** `fn` over `items` with at most `limit` calls in flight; results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export async function packageMedia(
  opts: PackageOptions,
  control: PackageControl = {},
): Promise<PackageSummary> {
  const started = Date.now();
  const { signal } = control;
  const { scheme, segmentDuration, keyPeriod: keyPeriodOption, base } = validate(opts);
  const keyPeriod = scheme === 'none' ? Number.MAX_SAFE_INTEGER : keyPeriodOption;
  let lastPercent = -1;
  const progress = (phase: PackagePhase, percent: number) => {
    const p = Math.max(lastPercent, Math.min(100, Math.round(percent * 10) / 10));
    lastPercent = p;
    control.onProgress?.({ phase, percent: p });
  };
  const withTs = opts.hlsAes128 === true;
  const encryptSpan: [number, number] = withTs ? [81, 93] : [81, 99];

  progress('probe', 0);
  const input = resolve(opts.input);
  const source =
    opts.source && resolve(opts.source.path) === input
      ? opts.source
      : await probeSource(input, { allowNoAudio: opts.allowNoAudio, signal });
  throwIfAborted(signal);
  const output = await prepareOutput(resolve(opts.out));
  const outDir = output.path;
  const privateWork = opts.workDir === undefined;
  let workDir: string | undefined;
  try {
    workDir = privateWork ? await mkdtemp(join(tmpdir(), 'vigil-work-')) : resolve(opts.workDir!);
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    progress('probe', 2);

    const renditions = chooseRenditions(source, opts.ladder ?? DEFAULT_LADDER);
    const transcoded = await transcode(
      source,
      {
        segmentDuration,
        renditions,
        preset: opts.preset ?? 'veryfast',
        audioBitrate: opts.audioBitrate ?? 128_000,
        withAudio: source.audio !== null,
        ...(opts.thumbnails ? { thumbnails: opts.thumbnails } : {}),
      },
      workDir,
      { signal, onProgress: (f) => progress('transcode', 2 + 78 * f) },
    );
    throwIfAborted(signal);
    const trackTypeOf = (t: ClearTrack): TrackType =>
      t.kind === 'audio' ? 'audio' : renditions.find((r) => r.id === t.id)!.trackType;
    const { periods, assignment } = planPeriods(transcoded.tracks, keyPeriod);

    // Keys: one per key period and track type, and for the TS set its own per period and video type.
    progress('keys', 80);
    const keys: PackagingKey[] = [];
    if (scheme !== 'none') {
      const types = [...new Set(transcoded.tracks.map(trackTypeOf))];
      const videoTypes = types.filter((t) => t !== 'audio');
      const specs: KeySpec[] = [];
      for (const p of periods) {
        for (const trackType of types) specs.push({ keyPeriod: p.index, trackType, use: 'cmaf' });
        if (withTs)
          for (const trackType of videoTypes)
            specs.push({ keyPeriod: p.index, trackType, use: 'hls-aes128' });
      }
      try {
        keys.push(...(await opts.keys!.createKeys(opts.resourceId, specs, scheme)));
      } catch (err) {
        if (err instanceof PackagerError) throw err;
        throw new PackagerError(
          'keys_failed',
          `could not get keys from ${opts.keys!.description}: ${(err as Error).message}`,
        );
      }
    }
    const keyFor = (period: number, trackType: TrackType, use: KeySpec['use']): PackagingKey => {
      const key = keys.find((k) => k.keyPeriod === period && k.trackType === trackType && k.use === use);
      if (!key) throw new PackagerError('keys_failed', `no ${use} key for period ${period} (${trackType})`);
      return key;
    };
    throwIfAborted(signal);

    // CMAF segments: clear, or encrypted with an init segment per key period.
    const totalSegments = transcoded.tracks.reduce((a, t) => a + t.segments.length, 0);
    let done = 0;
    const tracks: LayoutTrack[] = [];
    for (const [t, track] of transcoded.tracks.entries()) {
      const trackType = trackTypeOf(track);
      const dir = join(outDir, track.id);
      await mkdir(dir, { recursive: true });
      const clearInitData = await readFile(track.init);
      const info = scheme === 'none' ? undefined : parseInit(clearInitData)[0];
      if (scheme !== 'none' && !info)
        throw new PackagerError('ffmpeg_failed', `no track in the init of ${track.id}`);
      const parts: LayoutTrack['periods'] = [];
      const sizes: number[] = [];
      const seconds: number[] = [];
      for (const period of periods) {
        const indexes = assignment[t]!.flatMap((p, i) => (p === period.index ? [i] : []));
        if (indexes.length === 0) continue;
        const initName = `init-${period.index}.mp4`;
        let kid: string | undefined;
        let key: PackagingKey | undefined;
        if (scheme === 'none') {
          await writeFile(join(dir, initName), clearInitData);
        } else {
          key = keyFor(period.index, trackType, 'cmaf');
          kid = key.kid;
          const init = encryptInit(clearInitData, {
            scheme,
            kid: key.kid,
            ...(scheme === 'cbcs' ? { iv: key.iv } : {}),
            pssh: [clearKeyPssh([key.kid])],
          });
          await writeFile(join(dir, initName), init);
        }
        // Reading, encrypting and writing overlap across a few segments at a time (the files are small:
        // done one by one, the disk waits would add up to more than the encryption).
        const written = await mapLimit(indexes, 4, async (i) => {
          throwIfAborted(signal);
          const seg = track.segments[i]!;
          const clear = await readFile(seg.path);
          const data =
            scheme === 'none'
              ? clear
              : encryptSegment(clear, info!, {
                  scheme,
                  key: key!.key,
                  kid: key!.kid,
                  ...(scheme === 'cbcs'
                    ? { iv: key!.iv }
                    : { ivSeed: (BigInt(t) << 48n) | (BigInt(seg.number) << 20n) }),
                });
          const name = `seg-${String(seg.number).padStart(5, '0')}.m4s`;
          await writeFile(join(dir, name), data);
          done++;
          progress('encrypt', encryptSpan[0] + ((encryptSpan[1] - encryptSpan[0]) * done) / totalSegments);
          return { seg, name, size: data.length };
        });
        const segments: LayoutSegment[] = [];
        for (const { seg, name, size } of written) {
          segments.push({
            number: seg.number,
            file: `${track.id}/${name}`,
            start: seg.start,
            duration: seg.duration,
            size,
          });
          sizes.push(size);
          seconds.push(seg.duration / track.timescale);
        }
        parts.push({
          period: period.index,
          init: `${track.id}/${initName}`,
          ...(kid ? { kid } : {}),
          segments,
        });
      }
      const bw = bandwidths(sizes, seconds);
      const layoutTrack: LayoutTrack = {
        id: track.id,
        kind: track.kind,
        codec: track.codec,
        timescale: track.timescale,
        trackType,
        bandwidth: bw.peak,
        averageBandwidth: bw.average,
        periods: parts,
      };
      if (track.kind === 'video') {
        layoutTrack.width = track.width ?? 0;
        layoutTrack.height = track.height ?? 0;
        layoutTrack.frameRate = transcoded.frameRate;
      } else {
        if (track.sampleRate !== undefined) layoutTrack.sampleRate = track.sampleRate;
        if (track.channels !== undefined) layoutTrack.channels = track.channels;
      }
      tracks.push(layoutTrack);
    }

    // The HLS AES-128 TS set.
    let tsVariants: LayoutTsVariant[] | null = null;
    if (withTs) {
      const videoTracks = transcoded.tracks
        .filter((t) => t.kind === 'video')
        .map((t) => ({ ...t, trackType: trackTypeOf(t) }));
      tsVariants = await packageTsVariants({
        videoTracks,
        audioTrack: transcoded.tracks.find((t) => t.kind === 'audio'),
        segmentDuration,
        keyPeriodSegments: keyPeriod,
        keyFor: (period, trackType) => keyFor(period, trackType, 'hls-aes128'),
        workDir,
        outDir,
        signal,
        onProgress: (f) => progress('hls-aes128', 93 + 6 * f),
      });
    }
    throwIfAborted(signal);

    // Manifests, written last: a folder without them is not a finished package.
    progress('manifests', 99);
    await copyFile(transcoded.poster, join(outDir, 'poster.jpg'));
    const thumbnails = transcoded.thumbnails.map((_, i) => `thumbs/thumb-${i + 1}.jpg`);
    if (thumbnails.length > 0) await mkdir(join(outDir, 'thumbs'), { recursive: true });
    for (const [i, file] of transcoded.thumbnails.entries())
      await copyFile(file, join(outDir, thumbnails[i]!));
    const duration = periods.reduce((a, p) => a + p.duration, 0);
    const hlsKeyUrlBase = withTs ? `${base}/v1/license/hls` : null;
    const layout: PackageLayout = {
      format: 'vigil-package',
      version: 1,
      resourceId: opts.resourceId,
      scheme,
      segmentDuration,
      keyPeriodSegments: scheme === 'none' ? tracks[0]!.periods[0]!.segments.length : keyPeriod,
      duration,
      licenseUrl: scheme === 'none' ? null : `${base}/v1/license/clearkey`,
      hlsKeyUrlBase,
      periods,
      tracks,
      hlsAes128: tsVariants ? { variants: tsVariants } : null,
      files: {
        dash: 'manifest.mpd',
        hls: 'master.m3u8',
        hlsCmaf: withTs ? 'master-cenc.m3u8' : 'master.m3u8',
        hlsAes128: withTs ? 'master-aes128.m3u8' : null,
        poster: 'poster.jpg',
      },
      createdAt: new Date().toISOString(),
    };
    for (const track of tracks) {
      await writeFile(join(outDir, mediaPlaylistPath(track)), buildCmafMediaPlaylist(layout, track));
    }
    await writeFile(join(outDir, layout.files.hlsCmaf), buildCmafMasterPlaylist(layout));
    if (tsVariants && hlsKeyUrlBase) {
      for (const v of tsVariants)
        await writeFile(join(outDir, v.playlist), buildTsMediaPlaylist(v, hlsKeyUrlBase));
      const rate = tracks.find((t) => t.kind === 'video')?.frameRate;
      const master = buildTsMasterPlaylist(tsVariants, rate ? frameRateValue(rate) : undefined);
      await writeFile(join(outDir, 'master-aes128.m3u8'), master);
      await writeFile(join(outDir, 'master.m3u8'), master);
    }
    await writeFile(join(outDir, layout.files.dash), buildMpd(layout));
    await writeFile(join(outDir, LAYOUT_FILE), `${JSON.stringify(layout, null, 2)}\n`);
    progress('done', 100);
    return {
      out: outDir,
      layout,
      keys: keys.map(({ kid, keyPeriod: p, trackType, use }) => ({ kid, keyPeriod: p, trackType, use })),
      reusedTranscode: transcoded.reused,
      thumbnails,
      elapsedMs: Date.now() - started,
    };
  } catch (err) {
    await output.discard().catch(() => {});
    throw err;
  } finally {
    if (privateWork && workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}
