import { access, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PackagerError } from './errors.ts';
import { LAYOUT_FILE } from './layout.ts';

/**
 * The output folder: created if missing, used if empty, emptied of an earlier Vigil package if it holds
 * one (it has a vigil.json; a live channel's folder in it stays), refused otherwise. `discard` removes
 * what this run wrote (the folder itself too when this run created it), for failures and cancellation.
 */
export interface OutputFolder {
  path: string;
  discard(): Promise<void>;
}

/** The owner file a live channel keeps in the folder it publishes in. */
const LIVE_OWNER_FILE = '.vigil-live.json';

function unwritable(path: string, err: unknown): PackagerError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'EROFS'
        ? 'read-only file system'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a file is in the way'
          : code === 'ENOSPC'
            ? 'no space left on the device'
            : ((err as Error).message ?? String(err));
  return new PackagerError('output_unwritable', `cannot write the output folder ${path}: ${reason}`);
}

export async function prepareOutput(path: string): Promise<OutputFolder> {
  let created = false;
  try {
    const s = await stat(path);
    if (!s.isDirectory()) {
      throw new PackagerError('output_unwritable', `cannot write the output folder ${path}: it is a file`);
    }
    const entries = await readdir(path);
    if (entries.length > 0) {
      const previous = await access(join(path, LAYOUT_FILE)).then(
        () => true,
        () => false,
      );
      if (!previous) {
        throw new PackagerError(
          'output_not_empty',
          `the output folder ${path} is not empty (and holds no earlier Vigil package to replace)`,
        );
      }
    }
  } catch (err) {
    if (err instanceof PackagerError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw unwritable(path, err);
    try {
      await mkdir(path, { recursive: true });
      created = true;
    } catch (mkdirErr) {
      throw unwritable(path, mkdirErr);
    }
  }
  // Writable at all? (Permissions alone don't tell: read-only mounts, ACLs.)
  const probe = join(path, `.vigil-write-test-${process.pid}`);
  try {
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    if (created) await rm(path, { recursive: true, force: true }).catch(() => {});
    throw unwritable(path, err);
  }
  // What is not the package's stays: a live channel running beside it on the same resource (its folder
  // holds the channel's owner file, @vigil/live's OWNER_FILE) and dotfiles.
  const empty = async () => {
    for (const entry of await readdir(path)) {
      if (entry.startsWith('.')) continue;
      const claimed = await access(join(path, entry, LIVE_OWNER_FILE)).then(
        () => true,
        () => false,
      );
      if (!claimed) await rm(join(path, entry), { recursive: true, force: true });
    }
  };
  // An earlier package goes before anything new is written: a half-replaced one would mix both.
  await empty();
  return {
    path,
    async discard() {
      if (created) await rm(path, { recursive: true, force: true });
      else await empty().catch(() => {});
    },
  };
}
