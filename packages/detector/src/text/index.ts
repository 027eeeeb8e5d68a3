/** Text mode (OCR of the session id). Placeholder: the text-mode reader replaces this file. */
import type { DetectResult, Frame } from '../types.ts';

export interface TextReadOptions {
  signal?: AbortSignal;
  evidenceDir?: string;
}

export async function readTextMark(
  _frames: AsyncIterable<Frame>,
  _candidates: readonly string[],
  _opts: TextReadOptions,
): Promise<DetectResult> {
  return { found: false, reason: 'text mode not built' };
}

/** The frames text mode asks the input layer for (rate, and the width pictures are scaled down to). */
export const TEXT_FRAMES: { fps: number; width?: number } = { fps: 2, width: 1280 };
