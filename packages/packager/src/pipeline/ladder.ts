import type { TrackType } from '@vigil/keys';

export interface Rung {
  height: number;
  /** Target video bitrate at up to 30 fps, bits per second. */
  bitrate: number;
}

/** The default ladder; renditions above the source height are left out (no upscaling). */
export const DEFAULT_LADDER: readonly Rung[] = [
  { height: 1080, bitrate: 5_000_000 },
  { height: 720, bitrate: 3_000_000 },
  { height: 480, bitrate: 1_400_000 },
  { height: 360, bitrate: 800_000 },
];

export interface VideoRendition {
  /** Folder and representation id, e.g. "video-720p". */
  id: string;
  width: number;
  height: number;
  bitrate: number;
  /** Which key the rendition is encrypted with: SD below 720p, HD up to 1080p, UHD above (shorter side). */
  trackType: TrackType;
}

export function trackTypeForHeight(side: number): TrackType {
  if (side > 1080) return 'uhd';
  if (side >= 720) return 'hd';
  return 'sd';
}

const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));

/**
 * Chooses the renditions for a source: every rung up to the source's size, each keeping the source's
 * display aspect ratio. A rung names the shorter side (so a 1080×1920 portrait video gets "1080p" at
 * 1080×1920). A source smaller than the lowest rung gets one rendition at its own size.
 */
export function chooseRenditions(
  source: { width: number; height: number; fps: number },
  ladder: readonly Rung[] = DEFAULT_LADDER,
): VideoRendition[] {
  const portrait = source.height > source.width;
  const short = Math.min(source.width, source.height);
  const ratio = Math.max(source.width, source.height) / short;
  const fpsFactor = source.fps > 31 ? 1.5 : 1;
  const rungs = [...ladder].sort((a, b) => b.height - a.height).filter((r) => r.height <= short);
  if (rungs.length === 0) {
    const lowest = [...ladder].sort((a, b) => a.height - b.height)[0] ?? { height: 360, bitrate: 800_000 };
    const scale = (short * short) / (lowest.height * lowest.height);
    rungs.push({ height: short, bitrate: Math.max(200_000, Math.round(lowest.bitrate * scale)) });
  }
  return rungs.map((r) => {
    const side = even(r.height);
    const long = even(side * ratio);
    return {
      id: `video-${side}p`,
      width: portrait ? side : long,
      height: portrait ? long : side,
      bitrate: Math.round(r.bitrate * fpsFactor),
      trackType: trackTypeForHeight(side),
    };
  });
}
