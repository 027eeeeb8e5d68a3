/**
 * The encoder half of an ffmpeg ladder command, shared by on-demand packaging and live channels: H.264
 * with a keyframe exactly on every segment boundary (so renditions, segments and key periods line up)
 * and per-rendition rate control, then AAC stereo at 48 kHz.
 */
export interface H264LadderOptions {
  preset: string;
  /** Frames per GOP: segment duration × output frame rate. */
  gop: number;
  segmentDuration: number;
  /** Target bits per second of each video output stream, in map order. */
  bitrates: readonly number[];
  /** Peak rate as a multiple of the target (VBV maxrate); the buffer is twice the target. */
  peakFactor: number;
  /** x264 tune, e.g. `zerolatency` for live (no lookahead delay). */
  tune?: string;
}

export function h264LadderArgs(o: H264LadderOptions): string[] {
  const args = ['-c:v', 'libx264', '-preset', o.preset];
  if (o.tune) args.push('-tune', o.tune);
  args.push(
    '-profile:v',
    'high',
    '-g',
    String(o.gop),
    '-keyint_min',
    String(o.gop),
    '-sc_threshold',
    '0',
    '-force_key_frames',
    `expr:gte(t,n_forced*${o.segmentDuration})`,
  );
  o.bitrates.forEach((bitrate, i) => {
    args.push(
      `-b:v:${i}`,
      String(bitrate),
      `-maxrate:v:${i}`,
      String(Math.round(bitrate * o.peakFactor)),
      `-bufsize:v:${i}`,
      String(Math.round(bitrate * 2)),
    );
  });
  return args;
}

export function aacArgs(bitrate: number): string[] {
  return ['-c:a', 'aac', '-b:a', String(bitrate), '-ac', '2', '-ar', '48000'];
}
