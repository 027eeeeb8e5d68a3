import { open, stat } from 'node:fs/promises';
import { PackagerError } from './errors.ts';
import { ffmpegBin, ffprobeBin, lastErrorLine, runTool } from './ffmpeg.ts';

export interface SourceInfo {
  path: string;
  size: number;
  /** Seconds. */
  duration: number;
  /** As displayed: after the rotation ffmpeg applies, and with non-square pixels made square. */
  width: number;
  height: number;
  /** Frames per second (the stream's average rate; 30 when it cannot be told). */
  fps: number;
  videoCodec: string;
  audio: { codec: string; channels: number; sampleRate: number } | null;
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  codec_tag_string?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  sample_aspect_ratio?: string;
  side_data_list?: { rotation?: number }[];
  tags?: { rotate?: string };
  channels?: number;
  sample_rate?: string;
  disposition?: { attached_pic?: number };
}

/** Codecs that are pictures, not video: a file whose only "video" is one of these is not a video. */
const STILL_IMAGE_CODECS = new Set([
  'png',
  'mjpeg',
  'bmp',
  'tiff',
  'webp',
  'jpeg2000',
  'jpegls',
  'ppm',
  'pgm',
]);

function rate(text: string | undefined): number {
  if (!text) return 0;
  const [n, d] = text.split('/').map(Number);
  if (!n || !d || !Number.isFinite(n / d)) return 0;
  return n / d;
}

/**
 * For ISO BMFF files (MP4, MOV, M4V): whether the top-level boxes reach exactly the end of the file and
 * include a `moov`. A download cut short fails this even when the index at the front still parses.
 */
async function isoBmffTruncation(path: string, size: number): Promise<string | null> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(16);
    let offset = 0;
    let sawMoov = false;
    let first = true;
    while (offset < size) {
      const { bytesRead } = await handle.read(header, 0, 16, offset);
      if (first && bytesRead < 8) return null;
      if (bytesRead < 8) return `a box header is cut off at byte ${offset}`;
      const type = header.toString('latin1', 4, 8);
      if (first) {
        if (!['ftyp', 'styp', 'moov', 'mdat', 'free', 'wide', 'skip'].includes(type)) return null;
        first = false;
      }
      let boxSize = header.readUInt32BE(0);
      if (boxSize === 1) {
        if (bytesRead < 16) return `a box header is cut off at byte ${offset}`;
        boxSize = Number(header.readBigUInt64BE(8));
      } else if (boxSize === 0) {
        boxSize = size - offset;
      }
      if (boxSize < 8) return `a malformed box at byte ${offset}`;
      if (type === 'moov') sawMoov = true;
      if (offset + boxSize > size) {
        return `the "${type}" box at byte ${offset} needs ${offset + boxSize} bytes, the file has ${size}`;
      }
      offset += boxSize;
    }
    return sawMoov ? null : 'it has no "moov" index';
  } finally {
    await handle.close();
  }
}

/** Recognised container signatures: a file that starts like a video but does not parse is damaged. */
async function looksLikeVideoContainer(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(12);
    const { bytesRead } = await handle.read(head, 0, 12, 0);
    if (bytesRead < 4) return false;
    if (bytesRead >= 8 && head.toString('latin1', 4, 8) === 'ftyp') return true;
    if (head.readUInt32BE(0) === 0x1a45dfa3) return true; // Matroska / WebM (EBML)
    if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'AVI ') return true;
    if (head[0] === 0x47) return true; // MPEG-TS sync byte
    if (head.toString('latin1', 0, 3) === 'FLV') return true;
    return false;
  } finally {
    await handle.close();
  }
}

/** ffprobes the input and refuses, with one clear message each, what the pipeline cannot package. */
export async function probeSource(
  path: string,
  opts: { allowNoAudio?: boolean | undefined; signal?: AbortSignal | undefined } = {},
): Promise<SourceInfo> {
  let size: number;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new PackagerError('not_video', `input ${path} is a folder, not a video file`);
    size = s.size;
  } catch (err) {
    if (err instanceof PackagerError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new PackagerError('missing_input', `input not found: ${path}`);
    throw new PackagerError('missing_input', `cannot read input ${path}: ${(err as Error).message}`);
  }
  if (size === 0) throw new PackagerError('not_video', `input ${path} is empty`);

  const cut = await isoBmffTruncation(path, size);
  if (cut) throw new PackagerError('truncated', `input ${path} is truncated or damaged: ${cut}`);

  // ffprobe and the decode check run side by side (each is mostly process start): the check's result is
  // only read once the probe has said the input is a video.
  const checking = runTool(
    ffmpegBin(),
    [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-xerror',
      '-i',
      path,
      '-map',
      '0:v:0?',
      '-map',
      '0:a:0?',
      '-t',
      '0.5',
      '-f',
      'null',
      '-',
    ],
    { signal: opts.signal },
  );
  checking.catch(() => {});
  const probe = await runTool(
    ffprobeBin(),
    ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', path],
    { signal: opts.signal },
  );
  if (probe.code !== 0) {
    const line = lastErrorLine(probe.stderr).replace(`${path}: `, '');
    if (await looksLikeVideoContainer(path)) {
      throw new PackagerError('truncated', `input ${path} is truncated or damaged: ${line}`);
    }
    throw new PackagerError('not_video', `input ${path} is not a video file (${line})`);
  }
  const json = JSON.parse(probe.stdout.toString('utf8')) as {
    streams?: FfprobeStream[];
    format?: { duration?: string; format_name?: string };
  };
  const streams = json.streams ?? [];
  const video = streams.find(
    (s) =>
      s.codec_type === 'video' && !s.disposition?.attached_pic && !STILL_IMAGE_CODECS.has(s.codec_name ?? ''),
  );
  if (!video) {
    const still = streams.some((s) => s.codec_type === 'video');
    throw new PackagerError(
      'not_video',
      still ? `input ${path} is a still image, not a video` : `input ${path} has no video track`,
    );
  }
  const videoCodec = video.codec_name ?? 'unknown';
  if (videoCodec === 'none' || videoCodec === 'unknown' || !video.width || !video.height) {
    const tag =
      video.codec_tag_string && !/^\[/.test(video.codec_tag_string) ? ` "${video.codec_tag_string}"` : '';
    throw new PackagerError(
      'unsupported_codec',
      `input ${path}: unsupported video codec${tag} (this ffmpeg cannot decode it)`,
    );
  }
  const audioStream = streams.find((s) => s.codec_type === 'audio');
  if (!audioStream && !opts.allowNoAudio) {
    throw new PackagerError(
      'no_audio',
      `input ${path} has no audio track (use --allow-no-audio to package video only)`,
    );
  }
  const duration = Number(json.format?.duration ?? video.duration ?? 0);
  if (!Number.isFinite(duration) || duration <= 0) {
    throw new PackagerError('truncated', `input ${path} is truncated or damaged: it has no duration`);
  }
  const fps = rate(video.avg_frame_rate) || rate(video.r_frame_rate) || 30;
  // ffmpeg auto-rotates while decoding, and the output has square pixels: size the ladder on the picture
  // as displayed.
  const rotation = Number(
    video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? video.tags?.rotate ?? 0,
  );
  const quarterTurn = Math.abs(Math.round(rotation / 90)) % 2 === 1;
  const sar = rate(video.sample_aspect_ratio?.replace(':', '/')) || 1;
  const displayWidth = Math.round(video.width * sar);

  // Decode the first frame (and a little audio): a codec this ffmpeg cannot decode fails here, in a
  // second, instead of after a long transcode.
  const check = await checking;
  if (check.code !== 0) {
    const line = lastErrorLine(check.stderr).replace(`${path}: `, '');
    if (/decoder|codec/i.test(line)) {
      throw new PackagerError(
        'unsupported_codec',
        `input ${path}: unsupported codec (${videoCodec}${audioStream ? `/${audioStream.codec_name}` : ''}): ${line}`,
      );
    }
    throw new PackagerError('truncated', `input ${path} is damaged: ${line}`);
  }

  return {
    path,
    size,
    duration,
    width: quarterTurn ? video.height : displayWidth,
    height: quarterTurn ? displayWidth : video.height,
    fps: Math.min(Math.max(fps, 1), 120),
    videoCodec,
    audio: audioStream
      ? {
          codec: audioStream.codec_name ?? 'unknown',
          channels: audioStream.channels ?? 2,
          sampleRate: Number(audioStream.sample_rate ?? 48000),
        }
      : null,
  };
}
