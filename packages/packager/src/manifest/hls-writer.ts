/**
 * The one HLS playlist writer (RFC 8216): media playlists (a header, then discontinuities, keys, init
 * maps and segments in the order given) and master playlists (audio renditions, variant streams). Used by
 * the on-demand fMP4 HLS (./hls.ts), the AES-128 TS set (../hls-aes/package.ts) and live
 * (@vigil/live manifests.ts); each says what its playlist holds, this file how it is written. Quoted
 * strings go through `quoted` (a `"` in a URI becomes `%22`: an attribute list has no escape).
 */

export const CLEARKEY_KEYFORMAT = 'org.w3.clearkey';

export function quoted(s: string): string {
  return `"${s.replace(/"/g, '%22')}"`;
}

/** EXTINF duration: seconds with millisecond precision. */
export function formatDuration(seconds: number): string {
  return seconds.toFixed(3);
}

/** EXT-X-TARGETDURATION: every EXTINF, rounded to the nearest integer, must not exceed it. */
export function targetDuration(durations: number[]): number {
  return Math.max(1, ...durations.map((d) => Math.round(d)));
}

/** `#EXT-X-KEY`: none, whole-segment AES-128, or sample encryption with a key format (ClearKey). */
export type HlsKey =
  | { method: 'NONE' }
  | { method: 'AES-128'; uri: string }
  | { method: 'SAMPLE-AES' | 'SAMPLE-AES-CTR'; uri: string; keyFormat: string; keyId: string };

export interface HlsSegment {
  /** seconds */
  duration: number;
  uri: string;
  /** `#EXT-X-PROGRAM-DATE-TIME` of its first sample, milliseconds since the epoch */
  programDateTime?: number;
}

/** What comes after the header, in playlist order. */
export type HlsItem = { discontinuity: true } | { key: HlsKey } | { map: string } | { segment: HlsSegment };

export interface HlsMediaPlaylist {
  version: number;
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence?: number;
  playlistType?: 'VOD' | 'EVENT';
  independentSegments?: boolean;
  items: HlsItem[];
  /** `#EXT-X-ENDLIST`: no segment will be added */
  endList?: boolean;
}

function keyTag(key: HlsKey): string {
  if (key.method === 'NONE') return '#EXT-X-KEY:METHOD=NONE';
  if (key.method === 'AES-128') return `#EXT-X-KEY:METHOD=AES-128,URI=${quoted(key.uri)}`;
  return `#EXT-X-KEY:METHOD=${key.method},KEYFORMAT=${quoted(key.keyFormat)},KEYFORMATVERSIONS="1",URI=${quoted(key.uri)},KEYID=0x${key.keyId}`;
}

export function writeMediaPlaylist(p: HlsMediaPlaylist): string {
  const lines = [
    '#EXTM3U',
    `#EXT-X-VERSION:${p.version}`,
    `#EXT-X-TARGETDURATION:${p.targetDuration}`,
    `#EXT-X-MEDIA-SEQUENCE:${p.mediaSequence}`,
  ];
  if (p.discontinuitySequence !== undefined)
    lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`);
  if (p.playlistType) lines.push(`#EXT-X-PLAYLIST-TYPE:${p.playlistType}`);
  if (p.independentSegments) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  for (const item of p.items) {
    if ('discontinuity' in item) lines.push('#EXT-X-DISCONTINUITY');
    else if ('key' in item) lines.push(keyTag(item.key));
    else if ('map' in item) lines.push(`#EXT-X-MAP:URI=${quoted(item.map)}`);
    else {
      const s = item.segment;
      if (s.programDateTime !== undefined)
        lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(Math.floor(s.programDateTime)).toISOString()}`);
      lines.push(`#EXTINF:${formatDuration(s.duration)},`, s.uri);
    }
  }
  if (p.endList) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** An `#EXT-X-MEDIA` audio rendition (the one group "audio", language und, default). */
export interface HlsAudioRendition {
  channels: number;
  uri: string;
}

export interface HlsVariant {
  bandwidth: number;
  averageBandwidth?: number;
  codecs: string;
  width?: number;
  height?: number;
  /** frames per second */
  frameRate?: number;
  /** with the audio group */
  audio?: boolean;
  uri: string;
}

export interface HlsMasterPlaylist {
  version: number;
  independentSegments?: boolean;
  audio?: HlsAudioRendition;
  variants: HlsVariant[];
}

export function writeMasterPlaylist(p: HlsMasterPlaylist): string {
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${p.version}`];
  if (p.independentSegments) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  if (p.audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="${p.audio.channels}",URI=${quoted(p.audio.uri)}`,
    );
  }
  for (const v of p.variants) {
    const attrs = [`BANDWIDTH=${v.bandwidth}`];
    if (v.averageBandwidth !== undefined) attrs.push(`AVERAGE-BANDWIDTH=${v.averageBandwidth}`);
    attrs.push(`CODECS=${quoted(v.codecs)}`);
    if (v.width && v.height) attrs.push(`RESOLUTION=${v.width}x${v.height}`);
    if (v.frameRate) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    if (v.audio) attrs.push('AUDIO="audio"');
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return `${lines.join('\n')}\n`;
}
