/** The detector's public contract: frames in, a session (with evidence) or a reason out. */
import type { WatermarkConfig } from '@vigil/core';

/** One decoded picture: RGB24, `width * height * 3` bytes; `t` in seconds from the clip's start. */
export interface Frame {
  t: number;
  width: number;
  height: number;
  data: Uint8Array;
}

export type DetectMode = 'auto' | 'color' | 'text';

/** A tenant's policy for acting on a live detection. */
export interface LeakPolicy {
  autoBan: boolean;
  /** Ban only when the codec's false-match probability is at most this. */
  maxFalseMatchProbability: number;
  /** How many disjoint windows must agree on the session before a ban. */
  agreeingWindows: number;
}

export interface DetectContext {
  tenantId: string;
  /** The tenant's watermark config: box geometry, symbolSeconds, mode. */
  watermark: WatermarkConfig;
  /** Keyed colour tag -> the session ids that showed it (store.sessionsByTag). */
  sessionsForTag(tag: number): Promise<string[]>;
  /** The session ids the tenant served (access log), for text matching. */
  servedSessions(): Promise<string[]>;
  /** URL inputs (playlists, manifests, segments) are fetched with this; default global fetch. */
  fetch?: typeof fetch;
  /** Where evidence crops go (PNG); none written when absent. */
  evidenceDir?: string;
  onProgress?(p: { fraction: number; footageSeconds: number }): void;
  signal?: AbortSignal;
  /** Read at most this many seconds of the clip. */
  maxSeconds?: number;
}

export interface Evidence {
  t: number;
  file: string;
}

export type DetectResult =
  | {
      found: true;
      sessionId: string;
      tenant: string;
      mode: 'color' | 'text';
      confidence: number;
      falseMatchProbability: number | null;
      footageSeconds: number;
      evidence: Evidence[];
    }
  | { found: false; reason: string };

export type WatchEvent =
  | {
      event: 'identified';
      sessionId: string;
      atSeconds: number;
      confidence: number;
      falseMatchProbability: number | null;
      mode: 'color' | 'text';
      window: [number, number];
    }
  | { event: 'lost'; atSeconds: number }
  | { event: 'error'; message: string };

/** The input could not be read at all (missing file, unreachable URL, refused by the fetch guard). */
export class InputError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}
