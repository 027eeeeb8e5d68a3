/**
 * Where a processed asset's package (manifests, segments, thumbnails) goes. On local disk the packager
 * writes straight into the origin's folder (`<originRoot>/<tenant>/<asset>/`). On object storage it
 * writes into a private work folder, and the files are then put through the storage port under
 * `packages/<tenant>/<asset>/...`, which the origin serves from when it has no local file.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { ObjectStorage } from './storage.ts';

/** The storage key of a file of a published package (`path` relative to the asset's folder). */
export const packageKey = (tenantId: string, assetId: string, path = '') =>
  `packages/${tenantId}/${assetId}/${path}`;

export interface PackageTarget {
  /** The folder the packager writes into. */
  dir: string;
  /** Makes what is in `dir` what the origin serves. */
  publish(signal?: AbortSignal): Promise<void>;
  /** Removes the work folder (nothing on local disk: there it is the origin's). */
  release(): Promise<void>;
}

/** Files put at once while publishing. */
const PARALLEL = 4;

/** The package target of an asset for this storage. */
export async function packageTarget(
  storage: ObjectStorage,
  originRoot: string,
  tenantId: string,
  assetId: string,
): Promise<PackageTarget> {
  if (storage.kind === 'local')
    return { dir: join(originRoot, tenantId, assetId), publish: async () => {}, release: async () => {} };
  const work = await mkdtemp(join(tmpdir(), 'vigil-package-'));
  const dir = join(work, assetId);
  return {
    dir,
    publish: (signal) => publishFolder(storage, dir, packageKey(tenantId, assetId), signal),
    release: () => rm(work, { recursive: true, force: true }),
  };
}

/** Puts every file under `dir` at `prefix + its relative path`, after removing what an earlier run left. */
export async function publishFolder(
  storage: ObjectStorage,
  dir: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<void> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
  await storage.deletePrefix(prefix);
  const queue = [...files];
  const putNext = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      signal?.throwIfAborted();
      const key = prefix + relative(dir, file).split(sep).join('/');
      await storage.put(key, createReadStream(file));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, files.length) }, putNext));
}
