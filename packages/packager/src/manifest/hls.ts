/**
 * fMP4 (CMAF) HLS over the same encrypted segments as the DASH MPD: a media playlist per track with an
 * `#EXT-X-MAP` per key period (`#EXT-X-DISCONTINUITY` where the init segment changes) and an
 * `#EXT-X-KEY` per period (SAMPLE-AES-CTR for cenc, SAMPLE-AES for cbcs, KEYFORMAT org.w3.clearkey, the
 * ClearKey license URL as URI, the kid as KEYID), and a master playlist with the audio as a rendition
 * group. Relative URLs throughout.
 */
import { posix } from 'node:path';
import type { LayoutTrack, PackageLayout } from '../pipeline/layout.ts';

export const CLEARKEY_KEYFORMAT = 'org.w3.clearkey';

export function quoted(s: string): string {
  return `"${s.replace(/"/g, '%22')}"`;
}

export function formatDuration(seconds: number): string {
  return seconds.toFixed(3);
}

/** EXT-X-TARGETDURATION: every EXTINF, rounded to the nearest integer, must not exceed it. */
export function targetDuration(durations: number[]): number {
  return Math.max(1, ...durations.map((d) => Math.round(d)));
}

export function mediaPlaylistPath(track: LayoutTrack): string {
  return `${track.id}/playlist.m3u8`;
}

export function buildCmafMediaPlaylist(layout: PackageLayout, track: LayoutTrack): string {
  const dir = track.id;
  const durations = track.periods.flatMap((p) => p.segments.map((s) => s.duration / track.timescale));
  const firstNumber = track.periods[0]?.segments[0]?.number ?? 1;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${targetDuration(durations)}`,
    `#EXT-X-MEDIA-SEQUENCE:${firstNumber}`,
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  track.periods.forEach((part, i) => {
    if (part.segments.length === 0) return;
    if (i > 0) lines.push('#EXT-X-DISCONTINUITY');
    if (layout.scheme !== 'none' && part.kid && layout.licenseUrl) {
      const method = layout.scheme === 'cbcs' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
      lines.push(
        `#EXT-X-KEY:METHOD=${method},KEYFORMAT=${quoted(CLEARKEY_KEYFORMAT)},KEYFORMATVERSIONS="1",URI=${quoted(layout.licenseUrl)},KEYID=0x${part.kid}`,
      );
    }
    lines.push(`#EXT-X-MAP:URI=${quoted(posix.relative(dir, part.init))}`);
    for (const seg of part.segments) {
      lines.push(`#EXTINF:${formatDuration(seg.duration / track.timescale)},`, posix.relative(dir, seg.file));
    }
  });
  lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

export function buildCmafMasterPlaylist(layout: PackageLayout): string {
  const audio = layout.tracks.find((t) => t.kind === 'audio');
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="${audio.channels ?? 2}",URI=${quoted(mediaPlaylistPath(audio))}`,
    );
  }
  for (const video of layout.tracks.filter((t) => t.kind === 'video')) {
    const codecs = audio ? `${video.codec},${audio.codec}` : video.codec;
    const fps = video.frameRate ? frameRateValue(video.frameRate) : undefined;
    const attrs = [
      `BANDWIDTH=${video.bandwidth + (audio?.bandwidth ?? 0)}`,
      `AVERAGE-BANDWIDTH=${video.averageBandwidth + (audio?.averageBandwidth ?? 0)}`,
      `CODECS=${quoted(codecs)}`,
      `RESOLUTION=${video.width}x${video.height}`,
    ];
    if (fps) attrs.push(`FRAME-RATE=${fps.toFixed(3)}`);
    if (audio) attrs.push('AUDIO="audio"');
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, mediaPlaylistPath(video));
  }
  return `${lines.join('\n')}\n`;
}

/** "30000/1001" → 29.97. */
export function frameRateValue(rate: string): number | undefined {
  const [n, d] = rate.split('/').map(Number);
  return n && d ? n / d : undefined;
}
