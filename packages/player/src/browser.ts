/// <reference lib="dom" />
/**
 * The `<script>` bundle's entry (global `VigilPlayer`): everything of the ESM entry, and the `vigil`
 * plugin registered with the page's global `videojs` if it is loaded before this script.
 */
import { registerVigilPlugin, type VideoJsStatic } from './index.ts';

export * from './index.ts';

const global = globalThis as { videojs?: VideoJsStatic };
if (global.videojs) registerVigilPlugin(global.videojs);
