// Builds dist/vigil-player.js: the <script> bundle (IIFE, global `VigilPlayer`). video.js is not in it:
// the page loads video.js first and the bundle registers the plugin with the global `videojs`; an
// import of 'video.js' resolves to that global too.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `import … from 'video.js'` → the page's global `videojs`. */
const videojsGlobal = {
  name: 'videojs-global',
  setup(b) {
    b.onResolve({ filter: /^video\.js$/ }, () => ({ path: 'video.js', namespace: 'videojs-global' }));
    b.onLoad({ filter: /.*/, namespace: 'videojs-global' }, () => ({
      contents: 'module.exports = globalThis.videojs;',
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: [join(root, 'src/browser.ts')],
  outfile: join(root, 'dist/vigil-player.js'),
  bundle: true,
  format: 'iife',
  globalName: 'VigilPlayer',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  sourcemap: true,
  minify: process.argv.includes('--minify'),
  legalComments: 'none',
  plugins: [videojsGlobal],
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
console.log(`dist/vigil-player.js: ${(bytes / 1024).toFixed(1)} KiB`);
