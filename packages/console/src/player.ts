/**
 * The video player, loaded on demand (its own chunk: video.js and the Vigil plugin are large): video.js 8
 * with `@vigil/player`'s plugin registered, and video.js's stylesheet.
 */
import { registerVigilPlugin, type VideoJsStatic, type VigilPluginOptions } from '@vigil/player';
import videojs from 'video.js';
import 'video.js/dist/video-js.css';

/** What the console uses of a video.js player with the plugin. */
export interface PreviewPlayer {
  vigil(options: VigilPluginOptions): unknown;
  src(source: { src: string; type: string }): void;
  play(): Promise<void> | undefined;
  on(type: string, fn: (event: unknown, detail?: { reason?: string; message?: string }) => void): void;
  error(): { code?: number; message?: string } | null;
  currentTime(): number;
  dispose(): void;
}

registerVigilPlugin(videojs as unknown as VideoJsStatic);

/** A video.js player (VHS for DASH and HLS, muted so it may start by itself) on `video`. */
export function createPlayer(video: HTMLVideoElement): PreviewPlayer {
  const make = videojs as unknown as (el: HTMLVideoElement, options: object) => PreviewPlayer;
  return make(video, { fluid: true, muted: true, html5: { vhs: { overrideNative: true } } });
}
