/**
 * Media operations: the tus resumable-upload protocol's records: created, opened, adopted once whole,
 * terminated.
 */
import { VIDEO_MIME_TYPES, validFilename } from '@vigil/media';
import type { UploadRecord } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import { ControlError } from '../errors.ts';
import {
  createAssetOf,
  type MediaDeps,
  mediaError,
  newId,
  newUpload,
  refuse,
  sourceKey,
  validateSource,
} from './common.ts';

// ---- tus (the resumable-upload protocol): the upload's record, and its file once it is all there ----

/** Records a tus upload of the actor's tenant (validated like an initiation); its id is tus's. */
export async function createTusUpload(
  deps: MediaDeps,
  actor: Actor,
  input: { id: string; filename: string; filetype: string; size: number; metadata: Record<string, unknown> },
): Promise<UploadRecord> {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  if (!validFilename(input.filename))
    throw mediaError(
      'upload_invalid_filename',
      'Upload-Metadata "filename" is missing or not a valid file name',
    );
  if (!Number.isSafeInteger(input.size) || input.size < 0)
    throw mediaError('upload_invalid_size', 'Upload-Length is required (deferred lengths are not taken)');
  if (input.size === 0) throw mediaError('upload_empty', 'the file is empty (0 bytes)');
  if (input.size > deps.settings.maxUploadBytes)
    throw mediaError(
      'upload_too_large',
      `the file is ${input.size} bytes; the limit is ${deps.settings.maxUploadBytes}`,
    );
  const mime = input.filetype.toLowerCase();
  if (!VIDEO_MIME_TYPES.has(mime))
    throw mediaError(
      'upload_invalid_mime',
      `"${input.filetype.slice(0, 100)}" is not a video type Vigil takes`,
    );
  const upload = newUpload(deps, actor, now, {
    id: input.id,
    filename: input.filename,
    mimeType: mime,
    fileSize: input.size,
    chunkSize: input.size,
    totalChunks: 1,
    metadata: { ...input.metadata, protocol: 'tus' },
  });
  await deps.media.createUpload(upload);
  return upload;
}

/** The tus upload of this id in the actor's tenant, still open; refusals as for chunked uploads. */
export async function openTusUpload(deps: MediaDeps, actor: Actor, id: string): Promise<UploadRecord> {
  requireRole(actor, 'operator');
  const u = await deps.media.upload(actor.tenantId, id);
  if (!u || u.metadata.protocol !== 'tus')
    throw mediaError('upload_not_found', `no upload "${id.slice(0, 64)}"`);
  return u;
}

/**
 * A finished tus upload: its file is copied into storage as the source, verified and validated like a
 * completed chunked upload, and becomes an asset; refused, nothing of it stays.
 */
export async function adoptTusUpload(
  deps: MediaDeps,
  tenantId: string,
  id: string,
  file: AsyncIterable<Uint8Array>,
): Promise<{ assetId: string }> {
  const now = deps.now?.() ?? Date.now();
  const u = await deps.media.upload(tenantId, id);
  if (!u) throw mediaError('upload_not_found', `no upload "${id}"`);
  if (u.status === 'completed' && u.assetId) return { assetId: u.assetId };
  if (!(await deps.media.moveUpload(u.tenantId, u.id, ['uploading', 'completing'], 'completing', now)))
    throw mediaError('upload_busy', 'the upload is being completed');
  const assetId = newId('asset');
  const key = sourceKey(u.tenantId, assetId);
  const assembled = await deps.storage.put(key, file, { maxBytes: u.fileSize });
  const fail = async (e: ControlError) => {
    await deps.storage.delete(key).catch(() => {});
    return refuse(deps, u, now, e);
  };
  if (assembled.size !== u.fileSize)
    await fail(mediaError('upload_incomplete', `received ${assembled.size} bytes, not ${u.fileSize}`));
  try {
    await validateSource(deps.storage, key);
  } catch (err) {
    if (err instanceof ControlError) await fail(err);
    throw err;
  }
  await createAssetOf(deps, u, assetId, key, assembled, now);
  return { assetId };
}

/** A terminated tus upload (DELETE): ended as aborted. */
export async function terminateTusUpload(deps: MediaDeps, tenantId: string, id: string): Promise<void> {
  const now = deps.now?.() ?? Date.now();
  await deps.media.moveUpload(tenantId, id, ['uploading', 'expired'], 'aborted', now);
}
