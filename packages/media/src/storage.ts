import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * The storage port of the media pipeline: uploaded chunks, assembled sources and packaged output live
 * under keys (`uploads/<tenant>/<upload>/<n>`, `sources/<tenant>/<asset>`), never paths. The local-disk
 * adapter is the default; an S3-compatible one implements the same port.
 */
export interface PutResult {
  size: number;
  /** Hex SHA-256 of what was written. */
  sha256: string;
}

export interface PutOptions {
  /** Refuse (nothing kept) once more than this many bytes arrive. */
  maxBytes?: number;
  /**
   * Decides, before the object becomes visible, whether to keep it: a checksum or size that is wrong
   * leaves the earlier object (if any) untouched. Throwing refuses the write.
   */
  accept?: (result: PutResult) => void;
}

export class StorageLimitExceeded extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'StorageLimitExceeded';
  }
}

export interface ObjectStorage {
  readonly kind: string;
  /** Writes `source` under `key` atomically (all or nothing), hashing as it goes. */
  put(key: string, source: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<PutResult>;
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** The object's size, or undefined when there is none. */
  size(key: string): Promise<number | undefined>;
  /** The object's size and last change, or undefined when there is none (what an origin answers with). */
  stat(key: string): Promise<{ size: number; modifiedMs: number } | undefined>;
  delete(key: string): Promise<void>;
  /** Deletes every object under `prefix` (a key ending in `/`). */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * A local file holding the object, for tools that need a path (ffprobe, ffmpeg): the file itself on
   * local disk; a downloaded copy elsewhere, removed by `release`.
   */
  localFile(key: string): Promise<{ path: string; release(): Promise<void> }>;
}

const KEY = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/?$/;

export function assertKey(key: string): void {
  if (!KEY.test(key) || key.split('/').some((part) => part === '.' || part === '..'))
    throw new Error(`invalid storage key "${key}"`);
}

/** Bytes gathered into one write of {@link LocalDiskStorage.put}. */
const WRITE_BATCH = 1024 * 1024;

/** Opens `path` for writing (0600), making its folder first when there is none. */
async function openCreating(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'w', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return open(path, 'w', 0o600);
  }
}

/** Writes `pieces` at the handle's position, all of them (a short `writev` is continued). */
async function writeAll(handle: FileHandle, pieces: Uint8Array[]): Promise<void> {
  let rest = pieces;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest);
    let i = 0;
    while (i < rest.length && bytesWritten >= rest[i]!.byteLength) bytesWritten -= rest[i++]!.byteLength;
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

/** Objects as files under a root folder; writes go to a temporary file renamed into place after fsync. */
export class LocalDiskStorage implements ObjectStorage {
  readonly kind = 'local';
  readonly root: string;
  #tmpSeq = 0;

  constructor(root: string) {
    this.root = resolve(root);
  }

  path(key: string): string {
    assertKey(key);
    const p = join(this.root, ...key.split('/').filter(Boolean));
    if (p !== this.root && !p.startsWith(this.root + sep)) throw new Error(`invalid storage key "${key}"`);
    return p;
  }

  /**
   * One pass over `source`: each piece hashed and counted as it arrives, gathered into writes of about
   * {@link WRITE_BATCH} bytes (one `writev`, no copy) with one in flight while the next is gathered; then
   * one fsync, and the rename that makes the object visible.
   */
  async put(key: string, source: AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.path(key);
    const tmp = `${target}.${process.pid}.${++this.#tmpSeq}.part`;
    const handle = await openCreating(tmp);
    const hash = createHash('sha256');
    let size = 0;
    let batch: Uint8Array[] = [];
    let batched = 0;
    let writing: Promise<void> = Promise.resolve();
    try {
      try {
        for await (const piece of source) {
          size += piece.byteLength;
          if (opts.maxBytes !== undefined && size > opts.maxBytes)
            throw new StorageLimitExceeded(opts.maxBytes);
          hash.update(piece);
          batch.push(piece);
          batched += piece.byteLength;
          if (batched >= WRITE_BATCH) {
            await writing;
            writing = writeAll(handle, batch);
            batch = [];
            batched = 0;
          }
        }
        await writing;
        if (batch.length > 0) await writeAll(handle, batch);
        const result = { size, sha256: hash.digest('hex') };
        opts.accept?.(result);
        await handle.sync();
        await handle.close();
        await rename(tmp, target);
        return result;
      } finally {
        await writing.catch(() => {});
      }
    } catch (err) {
      await handle.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.path(key);
    await stat(path);
    return createReadStream(path, range ? { start: range.start, end: range.end } : {});
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  async stat(key: string): Promise<{ size: number; modifiedMs: number } | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size, modifiedMs: s.mtimeMs } : undefined;
    } catch {
      return undefined;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.path(prefix), { recursive: true, force: true });
  }

  async localFile(key: string): Promise<{ path: string; release(): Promise<void> }> {
    const path = this.path(key);
    await stat(path);
    return { path, release: async () => {} };
  }
}
