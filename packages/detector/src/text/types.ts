/**
 * The shapes text mode works with. `Frame` and `DetectResult` are the detector's own (see ../types.ts
 * once it exists); text mode keeps structural copies so it builds on its own.
 */
export interface Frame {
  /** Seconds from the clip's start. */
  t: number;
  width: number;
  height: number;
  /** RGB24, row-major, width × height × 3 bytes. */
  data: Uint8Array;
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
      mode: 'text';
      confidence: number;
      falseMatchProbability: number | null;
      footageSeconds: number;
      evidence: Evidence[];
    }
  | { found: false; reason: string };
