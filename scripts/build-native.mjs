// Builds the optional native AES addon (packages/aes-native) with node-gyp, from the root postinstall.
// It never fails the install: without a compiler, Node's headers or OpenSSL's, it prints one line and
// packaging uses Node's crypto instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'packages', 'aes-native');
const skipped = (why) => {
  console.log(`vigil: native AES not built (${why}); packaging uses Node's crypto`);
  process.exit(0);
};

if (process.env.VIGIL_NATIVE_AES === '0') skipped('VIGIL_NATIVE_AES=0');
if (!existsSync(join(pkg, 'binding.gyp'))) skipped('no packages/aes-native');

// node-gyp: the one npm passes to scripts, else one on PATH, else the one bundled with npm
let gyp = null;
const bundled = (...at) =>
  join(dirname(process.execPath), '..', ...at, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const npmDir = process.env.npm_execpath && dirname(dirname(process.env.npm_execpath));
const candidates = [
  process.env.npm_config_node_gyp,
  npmDir && join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  bundled('lib', 'node_modules', 'npm'),
  bundled('share', 'nodejs', 'npm'),
];
for (const c of candidates) {
  if (c && existsSync(c)) {
    gyp = [process.execPath, c];
    break;
  }
}
if (!gyp && spawnSync('node-gyp', ['--version'], { stdio: 'ignore' }).status === 0) gyp = ['node-gyp'];
if (!gyp) skipped('node-gyp not found');

// Node's headers: installed next to node (distribution packages, official tarballs), so node-gyp need
// not download them
const args = ['rebuild', '--jobs', '2'];
const prefix = resolve(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const [cmd, ...pre] = gyp;
const r = spawnSync(cmd, [...pre, ...args], { cwd: pkg, encoding: 'utf8', timeout: 300_000 });
const log = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
if (r.status !== 0 || !existsSync(join(pkg, 'build', 'Release', 'vigil_aes.node'))) {
  mkdirSync(join(pkg, 'build'), { recursive: true });
  writeFileSync(join(pkg, 'build', 'build.log'), log);
  const first =
    log
      .split('\n')
      .find((l) =>
        /fatal error|error:|not found|cannot find|ENOENT|EACCES|ETIMEDOUT|gyp ERR! stack Error/i.test(l),
      )
      ?.trim()
      .slice(0, 160) ?? `node-gyp exited with ${r.status ?? r.signal}`;
  skipped(`${first}; log in packages/aes-native/build/build.log`);
}

// load it in a fresh node and check a few bytes against node:crypto (the loader checks it too)
const probe = `
const { createCipheriv } = require('node:crypto');
const aes = require(${JSON.stringify(join(pkg, 'build', 'Release', 'vigil_aes.node'))});
const key = Buffer.alloc(16, 7), iv = Buffer.alloc(16, 0xff), buf = Buffer.alloc(40, 1);
const want = createCipheriv('aes-128-ctr', key, iv).update(buf);
aes.ctr(buf, key, iv, new Float64Array([0, 40, 0, 0, 0]));
if (!buf.equals(want)) throw new Error('wrong bytes');
console.log(aes.openssl);`;
const check = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
if (check.status !== 0) {
  const why = (check.stderr || check.stdout).split('\n').find((l) => /Error/.test(l)) ?? 'unknown error';
  skipped(`built but does not load: ${why.trim().slice(0, 160)}`);
}
console.log(`vigil: native AES built (${check.stdout.trim()})`);
