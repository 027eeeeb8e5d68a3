/**
 * @vigil/detector: leak tracing. From a recording or a live restream (file, progressive HTTP, HLS, DASH)
 * to the session it was captured from, with evidence; and the pure rule for banning from a live watch.
 */

export type { WatermarkConfig } from '@vigil/core';
export {
  COLOR_WIDTH,
  ColorReader,
  colorFps,
  colorFrames,
  configuredBox,
  readColorMark,
} from './color/index.ts';
export { DEFAULT_MAX_SECONDS, detect } from './detect.ts';
export { type Crop, type FramesOptions, frames, NoVideoError } from './input/index.ts';
export { banDecision, DEFAULT_LEAK_POLICY } from './policy.ts';
export { ACCESS_ROWS_MAX, type AccessSummary, accessSummary, storeContext } from './store.ts';
export {
  type DetectContext,
  type DetectMode,
  type DetectResult,
  type Evidence,
  type Frame,
  InputError,
  type LeakPolicy,
  type WatchEvent,
} from './types.ts';
export { watch } from './watch.ts';
