/**
 * A live channel's settings: what it ingests, the ladder it encodes, and the timing of segments, key
 * periods, the published window and retention. Parsing is strict: a bad setting is one clear error.
 */
import { InputUrlError, type ParsedInputUrl, parseInputUrl } from './input-url.ts';

export type LiveInput =
  /** The built-in test pattern: moving colour bars, a running clock and a 440 Hz tone. */
  | { kind: 'test-pattern' }
  /** An RTMP publisher pushes to `rtmp://<host>:<port>/<app>/<key>` (ffmpeg listens). */
  | { kind: 'rtmp'; url: string }
  /** An SRT caller connects to `srt://<host>:<port>` (ffmpeg listens). */
  | { kind: 'srt'; url: string }
  /** A file, or an HLS URL, read at its own pace and looped when `loop`. */
  | { kind: 'file'; path: string; loop: boolean }
  | { kind: 'hls'; url: string; loop: boolean };

export interface LiveRung {
  height: number;
  /** Video bits per second. */
  bitrate: number;
}

export interface LiveSettings {
  input: LiveInput;
  /** Video renditions, highest first; widths follow the 16:9 output. */
  ladder: LiveRung[];
  frameRate: number;
  /** Seconds per segment (a keyframe starts each). */
  segmentDuration: number;
  /** Seconds each content key is used for; a multiple of the segment duration. */
  keyPeriodSeconds: number;
  /** Seconds of segments the manifests list (DASH timeShiftBufferDepth, HLS window). */
  windowSeconds: number;
  /** Seconds a segment stays on disk after it left the window (players fetching late). */
  retentionSeconds: number;
  audioBitrate: number;
  /** x264 preset: the channel's encoding cost. */
  preset: string;
  /**
   * Share a resource that already holds other content (an on-demand package, keys made by others): the
   * channel publishes in its own `live/` subfolder and still removes only what it made.
   */
  takeover: boolean;
}

export const DEFAULT_LIVE_LADDER: readonly LiveRung[] = [
  { height: 360, bitrate: 800_000 },
  { height: 270, bitrate: 500_000 },
  { height: 180, bitrate: 250_000 },
];

export const DEFAULT_LIVE_SETTINGS: Omit<LiveSettings, 'input'> = {
  ladder: [...DEFAULT_LIVE_LADDER],
  frameRate: 25,
  segmentDuration: 2,
  keyPeriodSeconds: 30,
  windowSeconds: 60,
  retentionSeconds: 60,
  audioBitrate: 96_000,
  preset: 'veryfast',
  takeover: false,
};

const PRESETS = new Set([
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
]);

/** A channel id or resource id as it appears in paths and URLs. */
export const CHANNEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class LiveSettingsError extends Error {
  override readonly name = 'LiveSettingsError';
  /** The control API's 400 code: `invalid_channel`, or what is wrong with an input URL (InputUrlError). */
  readonly code: string;
  constructor(message: string, code = 'invalid_channel') {
    super(message);
    this.code = code;
  }
}

function fail(message: string): never {
  throw new LiveSettingsError(message);
}

function num(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${name} must be a number`);
  if (value < min || value > max) fail(`${name} must be between ${min} and ${max}`);
  return value;
}

/**
 * Reads an input given as text the way the CLI takes it: `test`, `rtmp://…`, `srt://…`, `http(s)://….m3u8`
 * or a file path.
 */
export function inputFromText(text: string, loop = true): LiveInput {
  const t = text.trim();
  if (t === '' || t === 'test' || t === 'test-pattern') return { kind: 'test-pattern' };
  if (/^rtmp:\/\//i.test(t)) return { kind: 'rtmp', url: t };
  if (/^srt:\/\//i.test(t)) return { kind: 'srt', url: t };
  if (/^https?:\/\//i.test(t)) return { kind: 'hls', url: t, loop };
  return { kind: 'file', path: t, loop };
}

/** An RTMP or SRT input URL read strictly and rebuilt (see parseInputUrl); LiveSettingsError with its code. */
export function listenUrl(kind: 'rtmp' | 'srt', url: string): ParsedInputUrl {
  try {
    return parseInputUrl(kind, url);
  } catch (err) {
    if (err instanceof InputUrlError) throw new LiveSettingsError(err.message, err.code);
    throw err;
  }
}

function httpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LiveSettingsError('the hls input is not a valid URL', 'input_url_invalid');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new LiveSettingsError('the hls input must be an http(s) URL', 'input_url_invalid');
  return url.href;
}

/** An input as given (text or object), checked and with its URL rebuilt. */
export function parseInput(raw: unknown): LiveInput {
  if (raw === undefined) return { kind: 'test-pattern' };
  if (typeof raw === 'string') {
    const input = inputFromText(raw);
    if (input.kind === 'rtmp' || input.kind === 'srt')
      return { kind: input.kind, url: listenUrl(input.kind, input.url).url };
    return input.kind === 'hls' ? { ...input, url: httpUrl(input.url) } : input;
  }
  if (typeof raw !== 'object' || raw === null) fail('input must be an object or a string');
  const r = raw as Record<string, unknown>;
  const loop = r.loop === undefined ? true : r.loop === true;
  switch (r.kind) {
    case 'test-pattern':
      return { kind: 'test-pattern' };
    case 'rtmp':
    case 'srt': {
      if (typeof r.url !== 'string' || !r.url.toLowerCase().startsWith(`${r.kind}://`))
        fail(`input.url must be an ${r.kind}:// URL`);
      return { kind: r.kind, url: listenUrl(r.kind, r.url).url };
    }
    case 'hls':
      if (typeof r.url !== 'string' || !/^https?:\/\//i.test(r.url)) fail('input.url must be an http(s) URL');
      return { kind: 'hls', url: httpUrl(r.url), loop };
    case 'file':
      if (typeof r.path !== 'string' || r.path === '') fail('input.path must be a file path');
      return { kind: 'file', path: r.path, loop };
    default:
      fail('input.kind must be one of test-pattern, rtmp, srt, file, hls');
  }
}

/** Settings from JSON (API body, stored record) with defaults filled in; throws LiveSettingsError. */
export function parseLiveSettings(raw: unknown): LiveSettings {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r !== 'object' || Array.isArray(r)) fail('settings must be an object');
  const d = DEFAULT_LIVE_SETTINGS;
  const segmentDuration = num(r.segmentDuration, 'segmentDuration', 1, 10, d.segmentDuration);
  if (!Number.isInteger(segmentDuration)) fail('segmentDuration must be a whole number of seconds');
  const keyPeriodSeconds = num(
    r.keyPeriodSeconds,
    'keyPeriodSeconds',
    segmentDuration,
    3600,
    d.keyPeriodSeconds,
  );
  if (keyPeriodSeconds % segmentDuration !== 0)
    fail('keyPeriodSeconds must be a multiple of segmentDuration');
  const windowSeconds = num(r.windowSeconds, 'windowSeconds', segmentDuration * 3, 3600, d.windowSeconds);
  const retentionSeconds = num(r.retentionSeconds, 'retentionSeconds', 0, 86_400, d.retentionSeconds);
  const frameRate = num(r.frameRate, 'frameRate', 1, 60, d.frameRate);
  if (!Number.isInteger(frameRate)) fail('frameRate must be a whole number');
  const audioBitrate = num(r.audioBitrate, 'audioBitrate', 16_000, 512_000, d.audioBitrate);
  const preset = r.preset === undefined ? d.preset : r.preset;
  if (typeof preset !== 'string' || !PRESETS.has(preset)) fail('preset must be an x264 preset name');
  if (r.takeover !== undefined && typeof r.takeover !== 'boolean') fail('takeover must be true or false');
  let ladder = d.ladder;
  if (r.ladder !== undefined) {
    if (!Array.isArray(r.ladder) || r.ladder.length === 0 || r.ladder.length > 6)
      fail('ladder must list 1 to 6 renditions');
    ladder = r.ladder.map((rung: unknown, i: number) => {
      const g = (rung ?? {}) as Record<string, unknown>;
      if (g.height === undefined || g.bitrate === undefined) fail(`ladder[${i}] needs height and bitrate`);
      const height = num(g.height, `ladder[${i}].height`, 90, 2160, Number.NaN);
      if (!Number.isInteger(height) || height % 2 !== 0)
        fail(`ladder[${i}].height must be an even whole number`);
      const bitrate = num(g.bitrate, `ladder[${i}].bitrate`, 50_000, 50_000_000, Number.NaN);
      return { height, bitrate: Math.round(bitrate) };
    });
    if (new Set(ladder.map((x) => x.height)).size !== ladder.length) fail('ladder heights must differ');
    ladder = [...ladder].sort((a, b) => b.height - a.height);
  }
  return {
    input: parseInput(r.input),
    ladder,
    frameRate,
    segmentDuration,
    keyPeriodSeconds,
    windowSeconds,
    retentionSeconds,
    audioBitrate: Math.round(audioBitrate),
    preset,
    takeover: r.takeover === true,
  };
}

/** 16:9 width for a height, even. */
export function widthFor(height: number): number {
  return Math.round((height * 16) / 9 / 2) * 2;
}
