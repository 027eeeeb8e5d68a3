/**
 * Media operations: what uploads, tus and assets share: settings, dependencies, error mapping, ids,
 * storage keys, validation of a source and the asset (and its first job) made from it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { MEDIA_ERRORS, MediaError, type MediaErrorCode, type ObjectStorage, sniff } from '@vigil/media';
import { PackagerError, probeSource } from '@vigil/packager';
import type { AssetRecord, JobRecord, MediaStore, UploadRecord } from '@vigil/store';
import type { Actor } from '../actor.ts';
import { ControlError } from '../errors.ts';

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
export function asControl(err: unknown): unknown {
  return err instanceof MediaError ? new ControlError(err.status, err.code, err.message, err.detail) : err;
}

export const ID = /^[a-z]+_[0-9a-f]{24}$/;
export const SHA256 = /^[0-9a-f]{64}$/;
export const newId = (kind: string) => `${kind}_${randomBytes(12).toString('hex')}`;

export const chunkKey = (u: Pick<UploadRecord, 'tenantId' | 'id'>, index: number) =>
  `uploads/${u.tenantId}/${u.id}/${index}`;
export const uploadPrefix = (u: Pick<UploadRecord, 'tenantId' | 'id'>) => `uploads/${u.tenantId}/${u.id}/`;
export const sourceKey = (tenantId: string, assetId: string) => `sources/${tenantId}/${assetId}`;

export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** The fields of a new upload its protocol decides: what the file is and how it arrives. */
export type UploadFile = Pick<
  UploadRecord,
  'id' | 'filename' | 'mimeType' | 'fileSize' | 'chunkSize' | 'totalChunks' | 'metadata'
>;

/** A new upload's record: the actor's, open from `now` for the settings' upload lifetime. */
export function newUpload(deps: MediaDeps, actor: Actor, now: number, file: UploadFile): UploadRecord {
  const { id, ...rest } = file;
  return {
    id,
    tenantId: actor.tenantId,
    ...rest,
    status: 'uploading',
    sha256: null,
    assetId: null,
    createdBy: actor.id,
    createdAt: now,
    updatedAt: now,
    expiresAt: now + deps.settings.uploadTtlMs,
  };
}

export function newJob(deps: MediaDeps, tenantId: string, assetId: string, now: number): JobRecord {
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

export async function refuse(
  deps: MediaDeps,
  u: UploadRecord,
  now: number,
  err: ControlError,
): Promise<never> {
  await deps.storage.deletePrefix(uploadPrefix(u)).catch(() => {});
  await deps.media.moveUpload(u.tenantId, u.id, ['completing'], 'aborted', now);
  await deps.media.deleteChunks(u.id);
  throw err;
}

export const PROBE_CODES: Partial<Record<string, MediaErrorCode>> = {
  not_video: 'upload_not_video',
  truncated: 'upload_truncated',
  unsupported_codec: 'upload_unsupported_codec',
};

/** Magic bytes, then ffprobe (through the packager's probe, which also finds truncated MP4s). */
export async function validateSource(storage: ObjectStorage, key: string): Promise<void> {
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

export async function createAssetOf(
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
