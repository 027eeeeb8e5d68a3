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
  /** Frames per second of the output, as ffmpeg's rational ("30/1"). */
  frameRate: string;
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

/** The arguments of the transcode's one ffmpeg run (`ffmpeg()` adds `-hide_banner -nostdin -y` first). */
export function dashArgs(
  source: SourceInfo,
  s: TranscodeSettings,
  frameRate: string,
  outDir: string,
): string[] {
  const fps = outputFrameRate(source.fps).value;
  const gop = Math.max(1, Math.round(s.segmentDuration * fps));
  const n = s.renditions.length;
  const graph = [
    `[0:v:0]fps=${frameRate},split=${n}${s.renditions.map((_, i) => `[s${i}]`).join('')}`,
    ...s.renditions.map(
      (r, i) => `[s${i}]scale=${r.width}:${r.height}:flags=bicubic,setsar=1,format=yuv420p[v${i}]`,
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
  return args;
}

/** The poster's ffmpeg arguments: a frame a little way in (the first is often black), top rendition size. */
export function posterArgs(source: SourceInfo, s: TranscodeSettings, poster: string): string[] {
  const top = s.renditions[0]!;
  const at = Math.min(5, source.duration * 0.1);
  return [
    '-loglevel',
    'error',
    '-ss',
    at.toFixed(3),
    '-i',
    source.path,
    '-frames:v',
    '1',
    '-vf',
    `scale=${top.width}:${top.height},setsar=1`,
    '-q:v',
    '3',
    poster,
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

/** A rejection handler that aborts the sibling runs before passing the error on. */
function stopAndThrow(controller: AbortController) {
  return (err: unknown): never => {
    controller.abort();
    throw err;
  };
}

/**
 * Transcodes the source into clear CMAF segments in `<workDir>/dash` (one ffmpeg run, every rendition
 * with the same forced key frames so segment boundaries line up) plus `<workDir>/poster.jpg`. A work
 * folder that already holds a finished transcode of the same source and settings is reused as it is.
 */
export async function transcode(
  source: SourceInfo,
  settings: TranscodeSettings,
  workDir: string,
  opts: { signal?: AbortSignal | undefined; onProgress?: (fraction: number) => void } = {},
): Promise<TranscodeResult & { reused: boolean }> {
  const dashDir = join(workDir, 'dash');
  const poster = join(workDir, 'poster.jpg');
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
      return { tracks: await readTracks(dashDir, settings), poster, frameRate, reused: true };
    }
  } catch {
    // no finished transcode here
  }
  await rm(join(workDir, MARKER), { force: true });
  await rm(dashDir, { recursive: true, force: true });
  await mkdir(dashDir, { recursive: true });

  // The poster is one decoded frame: made alongside the transcode rather than after it. A failure of
  // either stops the other.
  const both = new AbortController();
  const stop = () => both.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    const transcoding = ffmpeg(dashArgs(source, settings, frameRate, dashDir), 'transcoding', {
      signal: both.signal,
      onTime: (t) => opts.onProgress?.(Math.min(1, t / source.duration)),
    });
    const posting = ffmpeg(posterArgs(source, settings, poster), 'making the poster', {
      signal: both.signal,
    });
    await Promise.all([transcoding.catch(stopAndThrow(both)), posting.catch(stopAndThrow(both))]);
  } finally {
    opts.signal?.removeEventListener('abort', stop);
  }
  const tracks = await readTracks(dashDir, settings);
  await writeFile(join(workDir, MARKER), JSON.stringify(marker));
  return { tracks, poster, frameRate, reused: false };
}
