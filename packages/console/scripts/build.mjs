// Builds the console (dist/, served by `vigil serve` at /admin). Run by the root postinstall and by the
// console's tests when dist/ is missing or older than the sources.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  root,
  base: '/admin/',
  configFile: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: join(root, 'dist'), emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1000 },
});
console.log('vigil: console built (packages/console/dist)');
