/**
 * The files the origin serves, from either place a package lives: the origin folder on local disk (live
 * channels, and packages when media storage is local) or the media storage port (packages published to
 * S3-compatible storage, under `packages/<tenant>/...`). Both answer the same small interface, so the
 * origin's checks, caching headers, conditional and Range requests are the same for both.
 */
import { constants, createReadStream } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { assertKey, type ObjectStorage } from '@vigil/media';

export interface OriginFile {
  size: number;
  mtimeMs: number;
  /** The whole file as UTF-8 (a playlist to rewrite). */
  text(): Promise<string>;
  /** Bytes `start..end` (inclusive), streamed; the file is closed when the stream ends. */
  stream(start: number, end: number): Promise<Readable>;
  close(): Promise<void>;
}

const GONE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR']);

/**
 * `<root>/<tenant>/<rest>` if it is a regular file that resolves inside the tenant's folder (no symlink
 * out of it); undefined when there is none.
 */
export async function openLocalFile(
  root: string,
  tenantId: string,
  rest: readonly string[],
): Promise<OriginFile | undefined> {
  const tenantRoot = join(root, tenantId);
  let file: FileHandle | undefined;
  try {
    const real = await realpath(join(tenantRoot, ...rest));
    const realRoot = await realpath(tenantRoot);
    if (!real.startsWith(realRoot + sep)) return undefined;
    file = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = await file.stat();
    if (!st.isFile()) {
      await file.close();
      return undefined;
    }
    const handle = file;
    return {
      size: st.size,
      mtimeMs: st.mtimeMs,
      text: () => handle.readFile('utf8'),
      stream: async (start, end) => createReadStream('', { fd: handle, start, end, autoClose: true }),
      close: () => handle.close().catch(() => {}),
    };
  } catch (err) {
    await file?.close().catch(() => {});
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

/** `packages/<tenant>/<rest>` in the storage, or undefined when there is no such object. */
export async function openStoredFile(
  storage: ObjectStorage,
  tenantId: string,
  rest: readonly string[],
): Promise<OriginFile | undefined> {
  const key = `packages/${tenantId}/${rest.join('/')}`;
  try {
    assertKey(key);
  } catch {
    return undefined;
  }
  const st = await storage.stat(key);
  if (!st) return undefined;
  return {
    size: st.size,
    mtimeMs: st.modifiedMs,
    text: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.read(key)) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks).toString('utf8');
    },
    stream: (start, end) => storage.read(key, { start, end }),
    close: async () => {},
  };
}
