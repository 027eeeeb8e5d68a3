import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aacArgs, h264LadderArgs } from './encoder-args.ts';
import { ffmpeg } from './ffmpeg.ts';
import type { VideoRendition } from './ladder.ts';
import { readFragmentTiming, readInit } from './mp4.ts';
import type { SourceInfo } from './probe.ts';

export interface TranscodeSettings {
  segmentDuration: number;
  renditions: VideoRendition[];
  /** x264 preset. */
  preset: string;
  audioBitrate: number;
  withAudio: boolean;
  /** JPEG thumbnails at these fractions of the duration, `width` wide (none when absent). */
  thumbnails?: { at: readonly number[]; width: number } | undefined;
}

export interface ClearSegment {
  /** 1-based, as ffmpeg numbers them. */
  number: number;
  path: string;
  /** Decode time of the first sample, in the track timescale. */
  start: number;
  duration: number;
  size: number;
}

export interface ClearTrack {
  /** "video-720p" or "audio". */
  id: string;
  kind: 'video' | 'audio';
  init: string;
  codec: string;
  timescale: number;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  segments: ClearSegment[];
}

export interface TranscodeResult {
  tracks: ClearTrack[];
  poster: string;
  /** The thumbnails asked for in the settings, in their order. */
  thumbnails: string[];
  /** Frames per second of the output, as ffmpeg's rational ("30/1"). */
  frameRate: string;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (st) => st.size > 0,
    () => false,
  );
}

/** The marker that says a work folder holds a finished transcode of these settings. */
const MARKER = 'transcode.json';

interface Marker {
  version: 1;
  source: { path: string; size: number; mtimeMs: number };
  settings: TranscodeSettings;
  frameRate: string;
}

/** The output frame rate as a rational ffmpeg takes: the source's (NTSC rates kept exact), capped at 60. */
export function outputFrameRate(fps: number): { text: string; value: number } {
  const capped = Math.min(fps, 60);
  const whole = Math.round(capped);
  if (Math.abs(capped - whole) < 1e-3) return { text: `${whole}/1`, value: whole };
  const ntsc = Math.round(capped * 1.001);
  if (Math.abs(capped - ntsc / 1.001) < 1e-3)
    return { text: `${ntsc * 1000}/1001`, value: (ntsc * 1000) / 1001 };
  const milli = Math.round(capped * 1000);
  return { text: `${milli}/1000`, value: milli / 1000 };
}

/** A still picture written by the transcode's run from the frames it decodes anyway: one JPEG frame. */
export interface Still {
  /** Seconds into the source. */
  at: number;
  width: number;
  height: number;
  /** JPEG quality, ffmpeg's `-q:v` (2 best .. 31). */
  quality: number;
  path: string;
}

/** The output frame nearest `at` seconds, and never past the last one. */
function stillFrame(source: SourceInfo, at: number): number {
  const fps = outputFrameRate(source.fps).value;
  const last = Math.max(0, Math.floor(source.duration * fps) - 1);
  return Math.min(last, Math.max(0, Math.round(at * fps)));
}

/**
 * The arguments of the transcode's one ffmpeg run (`ffmpeg()` adds `-hide_banner -nostdin -y` first): the
 * ladder, and `stills` as further outputs of the same decode (a split branch that keeps one frame).
 */
export function dashArgs(
  source: SourceInfo,
  s: TranscodeSettings,
  frameRate: string,
  outDir: string,
  stills: readonly Still[] = [],
): string[] {
  const fps = outputFrameRate(source.fps).value;
  const gop = Math.max(1, Math.round(s.segmentDuration * fps));
  const n = s.renditions.length;
  const branches = n + stills.length;
  const graph = [
    `[0:v:0]fps=${frameRate},split=${branches}${Array.from({ length: branches }, (_, i) => `[s${i}]`).join('')}`,
    ...s.renditions.map(
      (r, i) => `[s${i}]scale=${r.width}:${r.height}:flags=bicubic,setsar=1,format=yuv420p[v${i}]`,
    ),
    ...stills.map(
      (p, k) =>
        `[s${n + k}]select='eq(n,${stillFrame(source, p.at)})',scale=${p.width}:${p.height}:flags=bicubic,setsar=1[p${k}]`,
    ),
  ].join(';');
  const args = ['-i', source.path, '-filter_complex', graph];
  for (let i = 0; i < n; i++) args.push('-map', `[v${i}]`);
  if (s.withAudio) args.push('-map', '0:a:0');
  args.push(
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    ...h264LadderArgs({
      preset: s.preset,
      gop,
      segmentDuration: s.segmentDuration,
      bitrates: s.renditions.map((r) => r.bitrate),
      peakFactor: 1.5,
    }),
  );
  if (s.withAudio) args.push(...aacArgs(s.audioBitrate));
  args.push(
    '-f',
    'dash',
    '-seg_duration',
    String(s.segmentDuration),
    '-use_template',
    '1',
    '-use_timeline',
    '1',
    '-adaptation_sets',
    // One adaptation set per stream: ffmpeg's MPD is not used, and it refuses renditions whose rounded
    // sizes differ in aspect ratio within one set.
    [
      ...s.renditions.map((_, i) => `id=${i},streams=${i}`),
      ...(s.withAudio ? [`id=${n},streams=${n}`] : []),
    ].join(' '),
    '-init_seg_name',
    'init-$RepresentationID$.m4s',
    '-media_seg_name',
    'seg-$RepresentationID$-$Number%05d$.m4s',
    '-loglevel',
    'error',
    '-progress',
    'pipe:1',
    '-nostats',
    join(outDir, 'ffmpeg.mpd'),
  );
  stills.forEach((p, k) => {
    args.push('-map', `[p${k}]`, '-frames:v', '1', '-fps_mode', 'passthrough', '-q:v', String(p.quality));
    args.push('-f', 'image2', '-update', '1', p.path);
  });
  return args;
}

/**
 * The stills of a transcode: the poster (a frame a little way in, the first is often black, at the top
 * rendition's size), then the thumbnails the settings ask for (their height keeps the picture's aspect).
 */
export function stillsOf(source: SourceInfo, s: TranscodeSettings, workDir: string): Still[] {
  const top = s.renditions[0]!;
  const stills: Still[] = [
    {
      at: Math.min(5, source.duration * 0.1),
      width: top.width,
      height: top.height,
      quality: 3,
      path: join(workDir, 'poster.jpg'),
    },
  ];
  const t = s.thumbnails;
  if (t) {
    const height = Math.max(2, 2 * Math.round((t.width * source.height) / source.width / 2));
    t.at.forEach((fraction, i) => {
      stills.push({
        at: source.duration * fraction,
        width: t.width,
        height,
        quality: 4,
        path: join(workDir, `thumb-${i + 1}.jpg`),
      });
    });
  }
  return stills;
}

/** One still on its own (seeking to it): for a still the transcode's run did not write. */
export function stillArgs(source: SourceInfo, still: Still): string[] {
  return [
    ...['-loglevel', 'error', '-ss', still.at.toFixed(3), '-i', source.path, '-frames:v', '1'],
    ...['-vf', `scale=${still.width}:${still.height},setsar=1`, '-q:v', String(still.quality), still.path],
  ];
}

async function readTracks(dashDir: string, s: TranscodeSettings): Promise<ClearTrack[]> {
  const files = await readdir(dashDir);
  const streams: { id: string; kind: 'video' | 'audio'; index: number }[] = s.renditions.map((r, i) => ({
    id: r.id,
    kind: 'video',
    index: i,
  }));
  if (s.withAudio) streams.push({ id: 'audio', kind: 'audio', index: s.renditions.length });
  const tracks: ClearTrack[] = [];
  for (const stream of streams) {
    const init = join(dashDir, `init-${stream.index}.m4s`);
    const info = readInit(await readFile(init));
    const pattern = new RegExp(`^seg-${stream.index}-(\\d+)\\.m4s$`);
    const numbers = files
      .map((f) => pattern.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const segments: ClearSegment[] = [];
    for (const number of numbers) {
      const path = join(dashDir, `seg-${stream.index}-${String(number).padStart(5, '0')}.m4s`);
      const data = await readFile(path);
      const timing = readFragmentTiming(data, info.defaultSampleDuration);
      segments.push({ number, path, start: timing.start, duration: timing.duration, size: data.length });
    }
    if (segments.length === 0) throw new Error(`ffmpeg wrote no segments for ${stream.id}`);
    const track: ClearTrack = {
      id: stream.id,
      kind: stream.kind,
      init,
      codec: info.codec,
      timescale: info.timescale,
      segments,
    };
    if (info.width !== undefined) track.width = info.width;
    if (info.height !== undefined) track.height = info.height;
    if (info.sampleRate !== undefined) track.sampleRate = info.sampleRate;
    if (info.channels !== undefined) track.channels = info.channels;
    tracks.push(track);
  }
  return tracks;
}

/**
 * Transcodes the source into clear CMAF segments in `<workDir>/dash` (one ffmpeg run, every rendition
 * with the same forced key frames so segment boundaries line up) plus `<workDir>/poster.jpg` and the
 * thumbnails, from the same run's decoded frames. A work folder that already holds a finished transcode
 * of the same source and settings is reused as it is.
 */
export async function transcode(
  source: SourceInfo,
  settings: TranscodeSettings,
  workDir: string,
  opts: { signal?: AbortSignal | undefined; onProgress?: (fraction: number) => void } = {},
): Promise<TranscodeResult & { reused: boolean }> {
  const dashDir = join(workDir, 'dash');
  const stills = stillsOf(source, settings, workDir);
  const poster = stills[0]!.path;
  const thumbnails = stills.slice(1).map((p) => p.path);
  const st = await stat(source.path);
  const frameRate = outputFrameRate(source.fps).text;
  const marker: Marker = {
    version: 1,
    source: { path: source.path, size: st.size, mtimeMs: st.mtimeMs },
    settings,
    frameRate,
  };
  try {
    const existing = JSON.parse(await readFile(join(workDir, MARKER), 'utf8')) as Marker;
    if (JSON.stringify(existing) === JSON.stringify(marker)) {
      return { tracks: await readTracks(dashDir, settings), poster, thumbnails, frameRate, reused: true };
    }
  } catch {
    // no finished transcode here
  }
  await rm(join(workDir, MARKER), { force: true });
  await rm(dashDir, { recursive: true, force: true });
  await mkdir(dashDir, { recursive: true });

  await Promise.all(stills.map((p) => rm(p.path, { force: true })));
  const progress = (t: number) => opts.onProgress?.(Math.min(1, t / source.duration));
  // ffmpeg prints its first progress line only once every output has begun, and a still begins with its
  // frame: until then the segments written (but the last, still growing) tell how far it got.
  const watch = setInterval(() => {
    readdir(dashDir).then(
      (files) => {
        const done = files.filter((f) => f.startsWith('seg-0-')).length - 1;
        if (done > 0) progress(done * settings.segmentDuration);
      },
      () => {},
    );
  }, 500);
  try {
    await ffmpeg(dashArgs(source, settings, frameRate, dashDir, stills), 'transcoding', {
      signal: opts.signal,
      onTime: progress,
    });
  } finally {
    clearInterval(watch);
  }
  // A still the run did not reach (a duration that overstated the frames): made on its own.
  for (const still of stills) {
    if (!(await exists(still.path)))
      await ffmpeg(stillArgs(source, still), 'making a still', { signal: opts.signal });
  }
  const tracks = await readTracks(dashDir, settings);
  await writeFile(join(workDir, MARKER), JSON.stringify(marker));
  return { tracks, poster, thumbnails, frameRate, reused: false };
}
