// Runs every *.test.ts and *.test.tsx under packages/, examples/ and test/ with node's test runner (Node 20 has no
// glob for --test). Test files run one at a time: the machine has two shared cores.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) find(path, found);
    else if (/\.test\.tsx?$/.test(entry.name)) found.push(path);
  }
  return found;
}

const filter = process.argv.slice(2);
const files = ['packages', 'examples', 'test']
  .flatMap((d) => find(d))
  .filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
