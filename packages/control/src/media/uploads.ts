/**
 * Media operations: chunked uploads (initiate, chunk, status, abort, complete: assembled, verified, the
 * asset created and queued) and the sweeper of expired ones. Upload state is in the store, chunks in the
 * storage port, so an upload survives a restart and resumes from `status`.
 */
import { type ObjectStorage, StorageLimitExceeded, VIDEO_MIME_TYPES, validFilename } from '@vigil/media';
import type { UploadRecord } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import { ControlError } from '../errors.ts';
import {
  asControl,
  chunkKey,
  createAssetOf,
  ID,
  type MediaDeps,
  mediaError,
  newId,
  newUpload,
  refuse,
  SHA256,
  sameHex,
  sourceKey,
  uploadPrefix,
  validateSource,
} from './common.ts';

export interface InitiateInput {
  filename: string;
  fileSize: number;
  mimeType: string;
  metadata?: { title?: string; description?: string; tags?: string[]; userId?: string; [k: string]: unknown };
  /** Where chunks go (the server's public base), for the answer's `uploadUrl`. */
  baseUrl: string;
}

export interface UploadStatusAnswer {
  uploadId: string;
  status: UploadRecord['status'];
  filename: string;
  fileSize: number;
  chunkSize: number;
  totalChunks: number;
  receivedChunks: number[];
  missingChunks: number[];
  receivedBytes: number;
  expiresAt: string;
  assetId?: string;
}

function expectedChunkSize(u: UploadRecord, index: number): number {
  return index < u.totalChunks - 1 ? u.chunkSize : u.fileSize - u.chunkSize * (u.totalChunks - 1);
}

async function openUpload(deps: MediaDeps, actor: Actor, uploadId: string): Promise<UploadRecord> {
  if (!ID.test(uploadId) || !uploadId.startsWith('upload_'))
    throw mediaError('upload_not_found', `no upload "${uploadId.slice(0, 64)}"`);
  const u = await deps.media.upload(actor.tenantId, uploadId);
  if (!u) throw mediaError('upload_not_found', `no upload "${uploadId}"`);
  return u;
}

function assertOpen(u: UploadRecord, now: number): void {
  if (u.status === 'completed')
    throw mediaError('upload_completed', 'the upload is complete', { assetId: u.assetId });
  if (u.status === 'aborted') throw mediaError('upload_aborted', 'the upload was aborted');
  if (u.status === 'expired' || u.expiresAt <= now) throw mediaError('upload_expired', 'the upload expired');
}

export async function initiateUpload(deps: MediaDeps, actor: Actor, input: InitiateInput) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  const { settings } = deps;
  if (!validFilename(input.filename))
    throw mediaError(
      'upload_invalid_filename',
      '"filename" must be 1 to 255 bytes, without slashes, control characters or a leading dot',
    );
  if (!Number.isSafeInteger(input.fileSize) || input.fileSize < 0)
    throw mediaError('upload_invalid_size', '"fileSize" must be a whole number of bytes');
  if (input.fileSize === 0) throw mediaError('upload_empty', 'the file is empty (0 bytes)');
  if (input.fileSize > settings.maxUploadBytes)
    throw mediaError(
      'upload_too_large',
      `the file is ${input.fileSize} bytes; the limit is ${settings.maxUploadBytes}`,
      { limit: settings.maxUploadBytes },
    );
  const mime = input.mimeType.toLowerCase();
  if (!VIDEO_MIME_TYPES.has(mime))
    throw mediaError(
      'upload_invalid_mime',
      `"${input.mimeType.slice(0, 100)}" is not a video type Vigil takes`,
      {
        accepted: [...VIDEO_MIME_TYPES],
      },
    );
  const metadata = input.metadata ?? {};
  if (JSON.stringify(metadata).length > 16_384)
    throw mediaError('upload_invalid_size', '"metadata" is larger than 16 KiB');
  const chunkSize = settings.chunkSize;
  const totalChunks = Math.ceil(input.fileSize / chunkSize);
  const upload = newUpload(deps, actor, now, {
    id: newId('upload'),
    filename: input.filename,
    mimeType: mime,
    fileSize: input.fileSize,
    chunkSize,
    totalChunks,
    metadata,
  });
  await deps.media.createUpload(upload);
  return {
    uploadId: upload.id,
    uploadUrl: `${input.baseUrl.replace(/\/+$/, '')}/v1/media/upload/chunk?uploadId=${upload.id}`,
    chunkSize,
    totalChunks,
    expiresAt: new Date(upload.expiresAt).toISOString(),
  };
}

export interface ChunkInput {
  uploadId: string;
  index: number;
  /** Hex SHA-256 of the chunk (the `X-Chunk-Sha256` header). */
  sha256: string | undefined;
  /** The declared Content-Length, when there is one. */
  contentLength: number | undefined;
  body: AsyncIterable<Uint8Array>;
}

export async function putChunk(deps: MediaDeps, actor: Actor, input: ChunkInput) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  const u = await openUpload(deps, actor, input.uploadId);
  assertOpen(u, now);
  if (u.status !== 'uploading') throw mediaError('upload_busy', 'the upload is being completed');
  if (!Number.isInteger(input.index) || input.index < 0 || input.index >= u.totalChunks)
    throw mediaError('upload_chunk_index', `"index" must be 0 to ${u.totalChunks - 1}`);
  const sha = input.sha256?.toLowerCase();
  if (!sha || !SHA256.test(sha))
    throw mediaError('upload_chunk_checksum', "the X-Chunk-Sha256 header must be the chunk's SHA-256 in hex");
  const expected = expectedChunkSize(u, input.index);
  if (input.contentLength !== undefined && input.contentLength !== expected)
    throw mediaError(
      'upload_chunk_size',
      `chunk ${input.index} must be ${expected} bytes, not ${input.contentLength}`,
      {
        expected,
      },
    );
  try {
    const written = await deps.storage.put(chunkKey(u, input.index), input.body, {
      maxBytes: expected,
      accept: (r) => {
        if (r.size !== expected)
          throw mediaError(
            'upload_chunk_size',
            `chunk ${input.index} must be ${expected} bytes, not ${r.size}`,
            {
              expected,
            },
          );
        if (!sameHex(r.sha256, sha))
          throw mediaError('upload_chunk_checksum', `chunk ${input.index} does not match its X-Chunk-Sha256`);
      },
    });
    await deps.media.putChunk(u.tenantId, u.id, {
      index: input.index,
      size: written.size,
      sha256: written.sha256,
      receivedAt: now,
    });
    return { uploadId: u.id, index: input.index, size: written.size, sha256: written.sha256 };
  } catch (err) {
    if (err instanceof StorageLimitExceeded)
      throw mediaError('upload_chunk_size', `chunk ${input.index} must be ${expected} bytes; more arrived`, {
        expected,
      });
    throw asControl(err);
  }
}

function statusOf(u: UploadRecord, received: { index: number; size: number }[]): UploadStatusAnswer {
  const have = new Set(received.map((c) => c.index));
  const missing: number[] = [];
  for (let i = 0; i < u.totalChunks; i++) if (!have.has(i)) missing.push(i);
  return {
    uploadId: u.id,
    status: u.status,
    filename: u.filename,
    fileSize: u.fileSize,
    chunkSize: u.chunkSize,
    totalChunks: u.totalChunks,
    receivedChunks: [...have].sort((a, b) => a - b),
    missingChunks: missing,
    receivedBytes: received.reduce((a, c) => a + c.size, 0),
    expiresAt: new Date(u.expiresAt).toISOString(),
    ...(u.assetId ? { assetId: u.assetId } : {}),
  };
}

export async function uploadStatus(
  deps: MediaDeps,
  actor: Actor,
  uploadId: string,
): Promise<UploadStatusAnswer> {
  requireRole(actor, 'readonly');
  const u = await openUpload(deps, actor, uploadId);
  const now = deps.now?.() ?? Date.now();
  const shown = u.status === 'uploading' && u.expiresAt <= now ? { ...u, status: 'expired' as const } : u;
  return statusOf(shown, u.status === 'uploading' ? await deps.media.chunks(u.tenantId, u.id) : []);
}

export async function abortUpload(deps: MediaDeps, actor: Actor, uploadId: string) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  const u = await openUpload(deps, actor, uploadId);
  if (u.status === 'completed')
    throw mediaError('upload_completed', 'the upload is complete', { assetId: u.assetId });
  if (u.status !== 'aborted') {
    if (!(await deps.media.moveUpload(u.tenantId, u.id, ['uploading', 'expired'], 'aborted', now)))
      throw mediaError('upload_busy', 'the upload is being completed');
  }
  await deps.storage.deletePrefix(uploadPrefix(u));
  await deps.media.deleteChunks(u.id);
  return { uploadId: u.id, status: 'aborted' as const };
}

/** Uploads being completed by this process (a second complete of the same upload waits its turn). */

const completing = new Set<string>();

async function* concatenated(storage: ObjectStorage, keys: string[]): AsyncIterable<Uint8Array> {
  for (const key of keys) yield* (await storage.read(key)) as AsyncIterable<Uint8Array>;
}

/** A refusal found while completing: the upload ends, its chunks and the assembled file go. */

export async function completeUpload(
  deps: MediaDeps,
  actor: Actor,
  input: { uploadId: string; sha256?: string },
) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  const u = await openUpload(deps, actor, input.uploadId);
  if (u.status === 'completed' && u.assetId)
    return { uploadId: u.id, assetId: u.assetId, status: 'processing' };
  assertOpen(u, now);
  const whole = input.sha256?.toLowerCase();
  if (whole !== undefined && !SHA256.test(whole))
    throw mediaError('upload_checksum_mismatch', '"sha256" must be the file\'s SHA-256 in hex');
  if (completing.has(u.id)) throw mediaError('upload_busy', 'the upload is being completed');
  // From `completing` too: a server killed while completing left it there.
  if (!(await deps.media.moveUpload(u.tenantId, u.id, ['uploading', 'completing'], 'completing', now)))
    throw mediaError('upload_busy', 'the upload is being completed');
  completing.add(u.id);
  try {
    const received = await deps.media.chunks(u.tenantId, u.id);
    const missing = statusOf(u, received).missingChunks;
    const wrongSize = received.find((c) => c.size !== expectedChunkSize(u, c.index));
    if (missing.length > 0 || wrongSize) {
      await deps.media.moveUpload(u.tenantId, u.id, ['completing'], 'uploading', now);
      throw mediaError('upload_incomplete', `${missing.length} of ${u.totalChunks} chunks are missing`, {
        missingChunks: missing.slice(0, 1000),
      });
    }
    const assetId = newId('asset');
    const key = sourceKey(u.tenantId, assetId);
    let assembled: { size: number; sha256: string };
    try {
      assembled = await deps.storage.put(
        key,
        concatenated(
          deps.storage,
          received.map((c) => chunkKey(u, c.index)),
        ),
        { maxBytes: u.fileSize },
      );
    } catch (err) {
      // A chunk file gone (a disk that lost it): those chunks are needed again.
      await deps.media.moveUpload(u.tenantId, u.id, ['completing'], 'uploading', now);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await deps.media.deleteChunks(u.id);
        throw mediaError('upload_incomplete', 'chunks were lost; send them again');
      }
      throw err;
    }
    const fail = async (e: ControlError) => {
      await deps.storage.delete(key).catch(() => {});
      return refuse(deps, u, now, e);
    };
    if (assembled.size !== u.fileSize)
      await fail(mediaError('upload_incomplete', `assembled ${assembled.size} bytes, not ${u.fileSize}`));
    if (whole !== undefined && !sameHex(assembled.sha256, whole))
      await fail(mediaError('upload_checksum_mismatch', 'the assembled file does not match "sha256"'));
    try {
      await validateSource(deps.storage, key);
    } catch (err) {
      if (err instanceof ControlError) await fail(err);
      throw err;
    }
    await createAssetOf(deps, u, assetId, key, assembled, now);
    await deps.storage.deletePrefix(uploadPrefix(u)).catch(() => {});
    return { uploadId: u.id, assetId, status: 'processing', sha256: assembled.sha256, size: assembled.size };
  } finally {
    completing.delete(u.id);
  }
}

/** The asset of a verified, validated upload, with its first job; the upload becomes completed. */

/**
 * Ends uploads left open past their expiry and removes their chunk files; the number ended. Aborted
 * uploads lose their files when aborted. For a periodic sweeper (`vigil serve` and `vigil worker`).
 */
export async function sweepUploads(deps: MediaDeps, limit = 100): Promise<number> {
  const now = deps.now?.() ?? Date.now();
  let ended = 0;
  for (const u of await deps.media.staleUploads(now, limit)) {
    if (completing.has(u.id)) continue;
    if (!(await deps.media.moveUpload(u.tenantId, u.id, [u.status], 'expired', now))) continue;
    await deps.storage.deletePrefix(uploadPrefix(u));
    if (u.metadata.protocol === 'tus') {
      await deps.storage.delete(`tus/${u.id}`);
      await deps.storage.delete(`tus/${u.id}.json`);
    }
    await deps.media.deleteChunks(u.id);
    ended++;
  }
  return ended;
}
