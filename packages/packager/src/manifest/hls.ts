/**
 * fMP4 (CMAF) HLS over the same encrypted segments as the DASH MPD: a media playlist per track with an
 * `#EXT-X-MAP` per key period (`#EXT-X-DISCONTINUITY` where the init segment changes) and an
 * `#EXT-X-KEY` per period (SAMPLE-AES-CTR for cenc, SAMPLE-AES for cbcs, KEYFORMAT org.w3.clearkey, the
 * ClearKey license URL as URI, the kid as KEYID), and a master playlist with the audio as a rendition
 * group. Relative URLs throughout.
 */
import { posix } from 'node:path';
import type { LayoutTrack, PackageLayout } from '../pipeline/layout.ts';
import {
  CLEARKEY_KEYFORMAT,
  type HlsItem,
  targetDuration,
  writeMasterPlaylist,
  writeMediaPlaylist,
} from './hls-writer.ts';

export function mediaPlaylistPath(track: LayoutTrack): string {
  return `${track.id}/playlist.m3u8`;
}

export function buildCmafMediaPlaylist(layout: PackageLayout, track: LayoutTrack): string {
  const dir = track.id;
  const durations = track.periods.flatMap((p) => p.segments.map((s) => s.duration / track.timescale));
  const items: HlsItem[] = [];
  track.periods.forEach((part, i) => {
    if (part.segments.length === 0) return;
    if (i > 0) items.push({ discontinuity: true });
    if (layout.scheme !== 'none' && part.kid && layout.licenseUrl) {
      const method = layout.scheme === 'cbcs' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
      items.push({
        key: { method, keyFormat: CLEARKEY_KEYFORMAT, uri: layout.licenseUrl, keyId: part.kid },
      });
    }
    items.push({ map: posix.relative(dir, part.init) });
    for (const seg of part.segments) {
      items.push({
        segment: { duration: seg.duration / track.timescale, uri: posix.relative(dir, seg.file) },
      });
    }
  });
  return writeMediaPlaylist({
    version: 7,
    targetDuration: targetDuration(durations),
    mediaSequence: track.periods[0]?.segments[0]?.number ?? 1,
    playlistType: 'VOD',
    independentSegments: true,
    items,
    endList: true,
  });
}

export function buildCmafMasterPlaylist(layout: PackageLayout): string {
  const audio = layout.tracks.find((t) => t.kind === 'audio');
  return writeMasterPlaylist({
    version: 7,
    independentSegments: true,
    ...(audio ? { audio: { channels: audio.channels ?? 2, uri: mediaPlaylistPath(audio) } } : {}),
    variants: layout.tracks
      .filter((t) => t.kind === 'video')
      .map((video) => ({
        bandwidth: video.bandwidth + (audio?.bandwidth ?? 0),
        averageBandwidth: video.averageBandwidth + (audio?.averageBandwidth ?? 0),
        codecs: audio ? `${video.codec},${audio.codec}` : video.codec,
        width: video.width,
        height: video.height,
        frameRate: video.frameRate ? frameRateValue(video.frameRate) : undefined,
        audio: audio !== undefined,
        uri: mediaPlaylistPath(video),
      })),
  });
}

/** "30000/1001" → 29.97. */
export function frameRateValue(rate: string): number | undefined {
  const [n, d] = rate.split('/').map(Number);
  return n && d ? n / d : undefined;
}
