/** Builds the console (packages/console/dist) when it is missing or older than its sources. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGE = join(import.meta.dirname, '..');
export const CONSOLE_DIST = join(PACKAGE, 'dist');

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((e) => newest(join(path, e))));
}

export function ensureConsoleBuild(): string {
  const index = join(CONSOLE_DIST, 'index.html');
  const sources = Math.max(
    newest(join(PACKAGE, 'src')),
    newest(join(PACKAGE, 'index.html')),
    newest(join(PACKAGE, 'scripts')),
    newest(join(PACKAGE, '../watermark-codec/src')),
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return CONSOLE_DIST;
  const res = spawnSync(process.execPath, [join(PACKAGE, 'scripts/build.mjs')], {
    cwd: PACKAGE,
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`building the console failed:\n${res.stdout}${res.stderr}`);
  return CONSOLE_DIST;
}
