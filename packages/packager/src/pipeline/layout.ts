import type { TrackType } from '@vigil/keys';

/**
 * The description of a package, written as `<out>/vigil.json`: what the manifests are built from and what
 * `vigil inspect` checks. Key ids only, never key bytes.
 */

export type PackageScheme = 'cenc' | 'cbcs' | 'none';

export interface LayoutSegment {
  /** Segment number (1-based, the `$Number$` of the DASH template). */
  number: number;
  /** Path relative to the package folder. */
  file: string;
  /** Decode time of the first sample, in the track timescale. */
  start: number;
  /** In the track timescale. */
  duration: number;
  size: number;
}

/** A track's share of one key period: its own init segment (naming the period's kid) and segments. */
export interface LayoutTrackPeriod {
  period: number;
  /** Path relative to the package folder. */
  init: string;
  /** 32 hex digits; absent for a clear package. */
  kid?: string;
  segments: LayoutSegment[];
}

export interface LayoutTrack {
  /** "video-720p" or "audio"; also the folder of its files. */
  id: string;
  kind: 'video' | 'audio';
  /** RFC 6381 codec string. */
  codec: string;
  timescale: number;
  trackType: TrackType;
  /** Peak bitrate over any segment, bits per second. */
  bandwidth: number;
  averageBandwidth: number;
  width?: number;
  height?: number;
  /** Rational, e.g. "30/1". */
  frameRate?: string;
  sampleRate?: number;
  channels?: number;
  periods: LayoutTrackPeriod[];
}

export interface LayoutPeriod {
  index: number;
  /** Seconds from the start of the presentation. */
  start: number;
  duration: number;
}

export interface LayoutTsSegment {
  /** HLS media sequence number; the AES-128 IV is this number, big-endian in 16 bytes. */
  sequence: number;
  file: string;
  /** Seconds. */
  duration: number;
  size: number;
  period: number;
  kid: string;
}

export interface LayoutTsVariant {
  id: string;
  /** The media playlist, relative to the package folder. */
  playlist: string;
  width: number;
  height: number;
  trackType: TrackType;
  bandwidth: number;
  averageBandwidth: number;
  codecs: string;
  segments: LayoutTsSegment[];
}

export interface PackageLayout {
  format: 'vigil-package';
  version: 1;
  resourceId: string;
  scheme: PackageScheme;
  /** Target segment duration, seconds. */
  segmentDuration: number;
  /** Segments per key period. */
  keyPeriodSegments: number;
  /** Seconds. */
  duration: number;
  /** The ClearKey license URL the manifests name (null for a clear package). */
  licenseUrl: string | null;
  /** Base of the HLS AES-128 key URIs (`<base>/<kid>`), when there is an AES-128 set. */
  hlsKeyUrlBase: string | null;
  periods: LayoutPeriod[];
  tracks: LayoutTrack[];
  hlsAes128: { variants: LayoutTsVariant[] } | null;
  files: {
    dash: string;
    /** The default HLS master: the AES-128 one when there is one, else the fMP4 one. */
    hls: string;
    /** fMP4 (CMAF) HLS over the same segments as DASH. */
    hlsCmaf: string;
    hlsAes128: string | null;
    poster: string;
  };
  createdAt: string;
}

export const LAYOUT_FILE = 'vigil.json';
