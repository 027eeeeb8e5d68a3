import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { aacArgs, h264LadderArgs } from '@vigil/packager';
import { parseInputUrl } from './input-url.ts';
import { type LiveInput, type LiveSettings, widthFor } from './settings.ts';

/** A font for the test pattern's wall clock, when the system has one (drawtext needs a font file). */
const CLOCK_FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
];

/** Segment file names ffmpeg writes: `init-<stream>.m4s`, `seg-<stream>-<number>.m4s` (renamed when complete). */
export const SEGMENT_NAME = /^seg-(\d+)-(\d+)\.m4s$/;
export const INIT_NAME = /^init-(\d+)\.m4s$/;

function inputArgs(input: LiveInput, settings: LiveSettings): string[] {
  switch (input.kind) {
    case 'test-pattern': {
      const top = settings.ladder[0]!;
      return [
        '-re',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=${widthFor(top.height)}x${top.height}:rate=${settings.frameRate}`,
        '-re',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000',
      ];
    }
    // Read again, option by option: ffmpeg never gets a URL as it was stored.
    case 'rtmp':
      return ['-listen', '1', '-timeout', '-1', '-i', parseInputUrl('rtmp', input.url).ffmpegUrl];
    case 'srt':
      return ['-i', parseInputUrl('srt', input.url).ffmpegUrl];
    case 'file':
    case 'hls':
      return [
        '-re',
        ...(input.loop ? ['-stream_loop', '-1'] : []),
        '-i',
        // A file is opened as a file (ffmpeg would take `tcp://…`, `concat:…` as protocols).
        input.kind === 'file' ? `file:${input.path}` : input.url,
      ];
  }
}

/**
 * One ffmpeg run of a channel: decode the input once, normalise the frame rate, scale to each rung and
 * encode H.264 with a keyframe at every segment boundary (so renditions and key periods align), AAC
 * audio, written by the DASH muxer as clear CMAF fragments into `workDir` (ffmpeg's own manifest is not
 * used). Streams: video rungs 0..n-1 in ladder order, then audio n.
 */
export function liveFfmpegArgs(settings: LiveSettings, workDir: string): string[] {
  const n = settings.ladder.length;
  const clockFont =
    settings.input.kind === 'test-pattern' ? CLOCK_FONTS.find((f) => existsSync(f)) : undefined;
  const clock = clockFont
    ? `,drawtext=fontfile=${clockFont}:text='%{localtime}':x=w-tw-16:y=16:fontsize=h/14:fontcolor=white:box=1:boxcolor=black@0.6`
    : '';
  const graph = [
    `[0:v:0]fps=${settings.frameRate}${clock},split=${n}${settings.ladder.map((_, i) => `[s${i}]`).join('')}`,
    ...settings.ladder.map(
      (r, i) => `[s${i}]scale=${widthFor(r.height)}:${r.height}:flags=bicubic,setsar=1,format=yuv420p[v${i}]`,
    ),
  ].join(';');
  const gop = settings.segmentDuration * settings.frameRate;
  const audio = settings.input.kind === 'test-pattern' ? '1:a:0' : '0:a:0';
  const args = [
    '-hide_banner',
    '-nostdin',
    '-y',
    '-loglevel',
    'warning',
    ...inputArgs(settings.input, settings),
    '-filter_complex',
    graph,
  ];
  for (let i = 0; i < n; i++) args.push('-map', `[v${i}]`);
  args.push(
    '-map',
    audio,
    '-map_metadata',
    '-1',
    ...h264LadderArgs({
      preset: settings.preset,
      gop,
      segmentDuration: settings.segmentDuration,
      bitrates: settings.ladder.map((r) => r.bitrate),
      peakFactor: 1.2,
      tune: 'zerolatency',
    }),
    ...aacArgs(settings.audioBitrate),
    '-f',
    'dash',
    '-seg_duration',
    String(settings.segmentDuration),
    '-use_template',
    '1',
    '-use_timeline',
    '0',
    // ffmpeg deletes its own fragments once they leave this window; Vigil deletes each clear fragment
    // as soon as it is encrypted, so this only bounds what a stalled Vigil would leave behind.
    '-window_size',
    '30',
    '-extra_window_size',
    '0',
    '-remove_at_exit',
    '0',
    '-adaptation_sets',
    [...settings.ladder.map((_, i) => `id=${i},streams=${i}`), `id=${n},streams=${n}`].join(' '),
    '-init_seg_name',
    'init-$RepresentationID$.m4s',
    '-media_seg_name',
    'seg-$RepresentationID$-$Number%05d$.m4s',
    join(workDir, 'ffmpeg.mpd'),
  );
  return args;
}
