/**
 * Media operations: chunked uploads (initiate, chunk, complete, abort, status), processing (queue,
 * status, cancel) and an asset's metadata and variants. Chunks and sources go through the storage port;
 * upload state, assets and jobs through the store, so an upload survives a restart and resumes from
 * `status`. Refusals are the seed's `MediaException` family as codes (`upload_*`, `transcoding_*`, ...).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  MEDIA_ERRORS,
  MediaError,
  type MediaErrorCode,
  type ObjectStorage,
  StorageLimitExceeded,
  sniff,
  VIDEO_MIME_TYPES,
  validFilename,
} from '@vigil/media';
import { PackagerError, probeSource } from '@vigil/packager';
import type { AssetRecord, JobRecord, MediaStore, UploadRecord } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import { ControlError } from './errors.ts';

export interface MediaSettings {
  /** Largest file accepted (declared at initiation, enforced on every byte). */
  maxUploadBytes: number;
  /** Chunk size handed out at initiation (the last chunk may be shorter). */
  chunkSize: number;
  /** How long an upload may stay open. */
  uploadTtlMs: number;
  /** Runs of a processing job before its asset fails. */
  maxAttempts: number;
}

export const DEFAULT_MEDIA_SETTINGS: MediaSettings = {
  maxUploadBytes: 10 * 1024 ** 3,
  chunkSize: 5 * 1024 * 1024,
  uploadTtlMs: 24 * 3600_000,
  maxAttempts: 3,
};

export interface MediaDeps {
  media: MediaStore;
  storage: ObjectStorage;
  settings: MediaSettings;
  /** Tells an in-process worker that a job was queued (it polls anyway). */
  notify?: () => void;
  now?: () => number;
}

export function mediaError(code: MediaErrorCode, message: string, detail?: Record<string, unknown>) {
  return new ControlError(MEDIA_ERRORS[code], code, message, detail);
}

/** A MediaError from the media package as the control plane's one error. */
function asControl(err: unknown): unknown {
  return err instanceof MediaError ? new ControlError(err.status, err.code, err.message, err.detail) : err;
}

const ID = /^[a-z]+_[0-9a-f]{24}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const newId = (kind: string) => `${kind}_${randomBytes(12).toString('hex')}`;

const chunkKey = (u: Pick<UploadRecord, 'tenantId' | 'id'>, index: number) =>
  `uploads/${u.tenantId}/${u.id}/${index}`;
const uploadPrefix = (u: Pick<UploadRecord, 'tenantId' | 'id'>) => `uploads/${u.tenantId}/${u.id}/`;
export const sourceKey = (tenantId: string, assetId: string) => `sources/${tenantId}/${assetId}`;

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

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
  const upload: UploadRecord = {
    id: newId('upload'),
    tenantId: actor.tenantId,
    filename: input.filename,
    mimeType: mime,
    fileSize: input.fileSize,
    chunkSize,
    totalChunks,
    metadata,
    status: 'uploading',
    sha256: null,
    assetId: null,
    createdBy: actor.id,
    createdAt: now,
    updatedAt: now,
    expiresAt: now + settings.uploadTtlMs,
  };
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
async function refuse(deps: MediaDeps, u: UploadRecord, now: number, err: ControlError): Promise<never> {
  await deps.storage.deletePrefix(uploadPrefix(u)).catch(() => {});
  await deps.media.moveUpload(u.tenantId, u.id, ['completing'], 'aborted', now);
  await deps.media.deleteChunks(u.id);
  throw err;
}

const PROBE_CODES: Partial<Record<string, MediaErrorCode>> = {
  not_video: 'upload_not_video',
  truncated: 'upload_truncated',
  unsupported_codec: 'upload_unsupported_codec',
};

/** Magic bytes, then ffprobe (through the packager's probe, which also finds truncated MP4s). */
async function validateSource(storage: ObjectStorage, key: string): Promise<void> {
  const head = await storage.read(key, { start: 0, end: 4095 });
  const bytes: Buffer[] = [];
  for await (const b of head) bytes.push(b as Buffer);
  const sniffed = sniff(Buffer.concat(bytes));
  if (sniffed.kind === 'other')
    throw mediaError('upload_not_video', `the file is ${sniffed.what}, not a video`);
  const local = await storage.localFile(key);
  try {
    await probeSource(local.path, { allowNoAudio: true });
  } catch (err) {
    if (err instanceof PackagerError) {
      const code = PROBE_CODES[err.code] ?? 'upload_corrupt';
      throw mediaError(code, err.message);
    }
    throw err;
  } finally {
    await local.release();
  }
}

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
async function createAssetOf(
  deps: MediaDeps,
  u: UploadRecord,
  assetId: string,
  key: string,
  assembled: { size: number; sha256: string },
  now: number,
): Promise<void> {
  const meta = u.metadata as { title?: unknown; description?: unknown; userId?: unknown };
  const asset: AssetRecord = {
    id: assetId,
    tenantId: u.tenantId,
    uploadId: u.id,
    title: typeof meta.title === 'string' ? meta.title.slice(0, 500) : u.filename,
    description: typeof meta.description === 'string' ? meta.description.slice(0, 5000) : '',
    uploaderId: typeof meta.userId === 'string' ? meta.userId.slice(0, 200) : u.createdBy,
    status: 'processing',
    progress: 0,
    errorCode: null,
    errorMessage: null,
    sourceKey: key,
    sourceSize: assembled.size,
    sourceSha256: assembled.sha256,
    mimeType: u.mimeType,
    metadata: null,
    variants: null,
    createdAt: now,
    updatedAt: now,
  };
  await deps.media.createAsset(asset, newJob(deps, u.tenantId, assetId, now), now);
  deps.notify?.();
}

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
  const upload: UploadRecord = {
    id: input.id,
    tenantId: actor.tenantId,
    filename: input.filename,
    mimeType: mime,
    fileSize: input.size,
    chunkSize: input.size,
    totalChunks: 1,
    metadata: { ...input.metadata, protocol: 'tus' },
    status: 'uploading',
    sha256: null,
    assetId: null,
    createdBy: actor.id,
    createdAt: now,
    updatedAt: now,
    expiresAt: now + deps.settings.uploadTtlMs,
  };
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

function newJob(deps: MediaDeps, tenantId: string, assetId: string, now: number): JobRecord {
  return {
    id: newId('job'),
    tenantId,
    assetId,
    status: 'queued',
    attempts: 0,
    maxAttempts: deps.settings.maxAttempts,
    runAt: now,
    lockedBy: null,
    lockedUntil: null,
    lastError: null,
    createdAt: now,
    updatedAt: now,
  };
}

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

// ---- assets and processing ----

async function openAsset(deps: MediaDeps, actor: Actor, assetId: string): Promise<AssetRecord> {
  if (!ID.test(assetId) || !assetId.startsWith('asset_'))
    throw mediaError('asset_not_found', `no asset "${assetId.slice(0, 64)}"`);
  const a = await deps.media.asset(actor.tenantId, assetId);
  if (!a) throw mediaError('asset_not_found', `no asset "${assetId}"`);
  return a;
}

export async function processingStatus(deps: MediaDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'readonly');
  const a = await openAsset(deps, actor, assetId);
  const job = await deps.media.latestJob(a.tenantId, a.id);
  return {
    assetId: a.id,
    status: a.status,
    progress: a.progress,
    ...(a.errorCode ? { error: { code: a.errorCode, message: a.errorMessage ?? '' } } : {}),
    ...(job
      ? {
          job: {
            id: job.id,
            status: job.status,
            attempts: job.attempts,
            maxAttempts: job.maxAttempts,
            ...(job.status === 'queued' ? { runAt: new Date(job.runAt).toISOString() } : {}),
            ...(job.lastError ? { lastError: job.lastError } : {}),
            ...(job.status === 'running' && job.lockedBy ? { worker: job.lockedBy } : {}),
          },
        }
      : {}),
    updatedAt: new Date(a.updatedAt).toISOString(),
  };
}

/** Queues (again) the processing of an asset: after a failure, a cancel, or to redo a ready one. */
export async function processAsset(deps: MediaDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  const a = await openAsset(deps, actor, assetId);
  const job = await deps.media.latestJob(a.tenantId, a.id);
  if (job && (job.status === 'queued' || job.status === 'running'))
    throw mediaError('transcoding_in_progress', 'the asset is already queued or being processed', {
      jobId: job.id,
    });
  await deps.media.updateAsset(
    a.tenantId,
    a.id,
    { status: 'processing', progress: 0, errorCode: null, errorMessage: null },
    now,
  );
  await deps.media.enqueue(newJob(deps, a.tenantId, a.id, now));
  deps.notify?.();
  return processingStatus(deps, actor, a.id);
}

export async function cancelProcessing(deps: MediaDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  const a = await openAsset(deps, actor, assetId);
  const cancelled = await deps.media.cancelJobs(a.tenantId, a.id, now);
  if (cancelled === 0)
    throw mediaError('transcoding_cancelled', 'nothing is queued or running for the asset');
  await deps.media.updateAsset(
    a.tenantId,
    a.id,
    { status: 'failed', errorCode: 'transcoding_cancelled', errorMessage: 'processing was cancelled' },
    now,
  );
  return processingStatus(deps, actor, a.id);
}

export async function assetMetadata(deps: MediaDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'readonly');
  const a = await openAsset(deps, actor, assetId);
  if (!a.metadata)
    throw mediaError('asset_not_ready', `the asset's metadata is not known yet (status ${a.status})`, {
      status: a.status,
    });
  return { assetId: a.id, status: a.status, ...a.metadata };
}

export async function assetVariants(deps: MediaDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'readonly');
  const a = await openAsset(deps, actor, assetId);
  return { assetId: a.id, status: a.status, variants: a.variants ?? [] };
}

export async function getAsset(deps: MediaDeps, actor: Actor, assetId: string): Promise<AssetRecord> {
  requireRole(actor, 'readonly');
  return openAsset(deps, actor, assetId);
}

/** A request body as chunks (for adapters handing over a Node stream or a buffer). */
export function bodyOf(body: unknown): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) return Readable.from([body]);
  if (body && typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function')
    return body as AsyncIterable<Uint8Array>;
  return Readable.from([]);
}

export interface StreamTarget {
  asset: AssetRecord;
  /** Paths of the DASH manifest and the fMP4 HLS master under the asset's origin folder. */
  manifest: string;
  hls: string;
  /** The variant asked for (highest when none was). */
  quality: string;
  qualities: string[];
}

/** Checks a stream-url request: the asset is ready and the quality (if any) is one of its variants. */
export async function streamTarget(
  deps: MediaDeps,
  actor: Actor,
  input: { assetId: string; quality?: string | undefined },
): Promise<StreamTarget> {
  requireRole(actor, 'operator');
  const asset = await openAsset(deps, actor, input.assetId);
  if (asset.status !== 'ready' || !asset.variants)
    throw mediaError('asset_not_ready', `the asset is ${asset.status}, not ready to stream`, {
      status: asset.status,
    });
  const variants = asset.variants as { quality: string; manifestUrl: string; hlsManifestUrl?: string }[];
  const qualities = variants.map((v) => v.quality);
  const chosen =
    input.quality === undefined ? variants[0] : variants.find((v) => v.quality === input.quality);
  if (!chosen)
    throw mediaError('asset_not_ready', `the asset has no ${String(input.quality).slice(0, 20)} variant`, {
      qualities,
    });
  const prefix = `/origin/${asset.tenantId}/${asset.id}/`;
  const under = (url: string | undefined, fallback: string) =>
    url?.startsWith(prefix) ? url.slice(prefix.length) : fallback;
  return {
    asset,
    manifest: under(chosen.manifestUrl, 'manifest.mpd'),
    hls: under(chosen.hlsManifestUrl, 'master.m3u8'),
    quality: chosen.quality,
    qualities,
  };
}
