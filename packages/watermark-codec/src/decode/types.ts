import type { CodecParams } from '../params.ts';

export interface ColourSample {
  /** Time in ms (any origin, e.g. the capture's presentation time). */
  t: number;
  /** Mean colour of the box's inner pixels, 0..255. */
  rgb: readonly [number, number, number];
}

export interface DecodeOptions {
  /** Seconds per symbol the player used (the directive's symbolSeconds). */
  symbolSeconds: number;
  params?: CodecParams;
  /** Relative playback-speed change of the capture to search for, default 0.02 (±2%). 0 turns it off. */
  speedTolerance?: number;
}

export interface DecodeResult {
  tag: number;
  /** Data symbols (after combining the cycles seen) that disagree with the decoded sequence: corrected errors. */
  symbolErrors: number;
  /** Data symbols never seen (or without a usable sample), decoded as erasures. */
  erasures: number;
  /** When (ms, in the samples' clock) the first sync symbol within the samples started. */
  startedAt: number;
  /** The symbol duration measured in the samples, ms. */
  symbolMs: number;
  /** How many times each data symbol was seen, on average. */
  cycles: number;
  /**
   * The chance that a capture of unrelated colours decodes as well as this one did (to some tag): the share of
   * received words within the corrected distance of a valid codeword, times the decoding attempts made.
   * About 2e-16 for a clean full cycle, 2e-8 with 3 corrected RS symbols. A detector that acts on a decode
   * should want it small, or the same tag again from a second, disjoint window.
   */
  falseMatchProbability: number;
}
