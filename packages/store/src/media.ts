import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { VigilStore } from './store.ts';

/** The media pipeline's rows: chunked uploads, assets and the embedded processing queue. */

export type UploadStatus = 'uploading' | 'completing' | 'completed' | 'aborted' | 'expired';
export type MediaStatus =
  | 'uploading'
  | 'processing'
  | 'transcoding'
  | 'protecting'
  | 'ready'
  | 'failed'
  | 'expired';
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface UploadRecord {
  id: string;
  tenantId: string;
  filename: string;
  mimeType: string;
  fileSize: number;
  chunkSize: number;
  totalChunks: number;
  metadata: Record<string, unknown>;
  status: UploadStatus;
  sha256: string | null;
  assetId: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

export interface ChunkRecord {
  index: number;
  size: number;
  sha256: string;
  receivedAt: number;
}

export interface AssetRecord {
  id: string;
  tenantId: string;
  uploadId: string | null;
  title: string;
  description: string;
  uploaderId: string;
  status: MediaStatus;
  progress: number;
  errorCode: string | null;
  errorMessage: string | null;
  sourceKey: string;
  sourceSize: number;
  sourceSha256: string;
  mimeType: string;
  metadata: Record<string, unknown> | null;
  variants: Record<string, unknown>[] | null;
  createdAt: number;
  updatedAt: number;
}

export interface JobRecord {
  id: string;
  tenantId: string;
  assetId: string;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  lockedBy: string | null;
  lockedUntil: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

type UploadRow = Database['media_uploads'];
type AssetRow = Database['media_assets'];
type JobRow = Database['media_jobs'];

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function uploadOf(r: UploadRow): UploadRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    filename: r.filename,
    mimeType: r.mime_type,
    fileSize: num(r.file_size),
    chunkSize: num(r.chunk_size),
    totalChunks: num(r.total_chunks),
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    status: r.status as UploadStatus,
    sha256: r.sha256,
    assetId: r.asset_id,
    createdBy: r.created_by,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    expiresAt: num(r.expires_at),
  };
}

export function assetOf(r: AssetRow): AssetRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    uploadId: r.upload_id,
    title: r.title,
    description: r.description,
    uploaderId: r.uploader_id,
    status: r.status as MediaStatus,
    progress: num(r.progress),
    errorCode: r.error_code,
    errorMessage: r.error_message,
    sourceKey: r.source_key,
    sourceSize: num(r.source_size),
    sourceSha256: r.source_sha256,
    mimeType: r.mime_type,
    metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, unknown>),
    variants: r.variants === null ? null : (JSON.parse(r.variants) as Record<string, unknown>[]),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function jobOf(r: JobRow): JobRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    assetId: r.asset_id,
    status: r.status as JobStatus,
    attempts: num(r.attempts),
    maxAttempts: num(r.max_attempts),
    runAt: num(r.run_at),
    lockedBy: r.locked_by,
    lockedUntil: numOrNull(r.locked_until),
    lastError: r.last_error,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export type AssetPatch = Partial<
  Pick<AssetRecord, 'status' | 'progress' | 'errorCode' | 'errorMessage' | 'metadata' | 'variants'>
>;

/** The media tables over a store's database (both adapters). Every query names the tenant. */
export class MediaStore {
  readonly db: Kysely<Database>;

  constructor(store: VigilStore) {
    this.db = store.db;
  }

  // ---- uploads ----

  async createUpload(u: UploadRecord): Promise<void> {
    await this.db
      .insertInto('media_uploads')
      .values({
        id: u.id,
        tenant_id: u.tenantId,
        filename: u.filename,
        mime_type: u.mimeType,
        file_size: u.fileSize,
        chunk_size: u.chunkSize,
        total_chunks: u.totalChunks,
        metadata: JSON.stringify(u.metadata),
        status: u.status,
        sha256: u.sha256,
        asset_id: u.assetId,
        created_by: u.createdBy,
        created_at: u.createdAt,
        updated_at: u.updatedAt,
        expires_at: u.expiresAt,
      })
      .execute();
  }

  async upload(tenantId: string, id: string): Promise<UploadRecord | undefined> {
    const row = await this.db
      .selectFrom('media_uploads')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && uploadOf(row);
  }

  /** Moves an upload from one of `from` to `to`; false when it was in none of them (someone else won). */
  async moveUpload(
    tenantId: string,
    id: string,
    from: UploadStatus[],
    to: UploadStatus,
    now: number,
    assetId?: string,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('media_uploads')
      .set({ status: to, updated_at: now, ...(assetId ? { asset_id: assetId } : {}) })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Records a verified chunk (again: the newer one counts). */
  async putChunk(tenantId: string, uploadId: string, c: ChunkRecord): Promise<void> {
    await this.db
      .insertInto('media_upload_chunks')
      .values({
        upload_id: uploadId,
        tenant_id: tenantId,
        idx: c.index,
        size: c.size,
        sha256: c.sha256,
        received_at: c.receivedAt,
      })
      .onConflict((oc) =>
        oc
          .columns(['upload_id', 'idx'])
          .doUpdateSet({ size: c.size, sha256: c.sha256, received_at: c.receivedAt }),
      )
      .execute();
    await this.db
      .updateTable('media_uploads')
      .set({ updated_at: c.receivedAt })
      .where('id', '=', uploadId)
      .execute();
  }

  async chunks(tenantId: string, uploadId: string): Promise<ChunkRecord[]> {
    const rows = await this.db
      .selectFrom('media_upload_chunks')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('upload_id', '=', uploadId)
      .orderBy('idx')
      .execute();
    return rows.map((r) => ({
      index: num(r.idx),
      size: num(r.size),
      sha256: r.sha256,
      receivedAt: num(r.received_at),
    }));
  }

  async deleteChunks(uploadId: string): Promise<void> {
    await this.db.deleteFrom('media_upload_chunks').where('upload_id', '=', uploadId).execute();
  }

  /** Uploads still open past their expiry, oldest first (for the sweeper). */
  async staleUploads(now: number, limit: number): Promise<UploadRecord[]> {
    const rows = await this.db
      .selectFrom('media_uploads')
      .selectAll()
      .where('status', 'in', ['uploading', 'completing'])
      .where('expires_at', '<=', now)
      .orderBy('expires_at')
      .limit(limit)
      .execute();
    return rows.map(uploadOf);
  }

  // ---- assets ----

  /** The asset, its first job and the upload's completion, in one transaction. */
  async createAsset(asset: AssetRecord, job: JobRecord | undefined, now: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('media_assets')
        .values({
          id: asset.id,
          tenant_id: asset.tenantId,
          upload_id: asset.uploadId,
          title: asset.title,
          description: asset.description,
          uploader_id: asset.uploaderId,
          status: asset.status,
          progress: asset.progress,
          error_code: asset.errorCode,
          error_message: asset.errorMessage,
          source_key: asset.sourceKey,
          source_size: asset.sourceSize,
          source_sha256: asset.sourceSha256,
          mime_type: asset.mimeType,
          metadata: asset.metadata === null ? null : JSON.stringify(asset.metadata),
          variants: asset.variants === null ? null : JSON.stringify(asset.variants),
          created_at: asset.createdAt,
          updated_at: asset.updatedAt,
        })
        .execute();
      if (job) await tx.insertInto('media_jobs').values(jobRow(job)).execute();
      if (asset.uploadId) {
        await tx
          .updateTable('media_uploads')
          .set({ status: 'completed', asset_id: asset.id, updated_at: now })
          .where('id', '=', asset.uploadId)
          .execute();
        await tx.deleteFrom('media_upload_chunks').where('upload_id', '=', asset.uploadId).execute();
      }
    });
  }

  async asset(tenantId: string, id: string): Promise<AssetRecord | undefined> {
    const row = await this.db
      .selectFrom('media_assets')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && assetOf(row);
  }

  async updateAsset(tenantId: string, id: string, patch: AssetPatch, now: number): Promise<void> {
    const set: Partial<AssetRow> = { updated_at: now };
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.progress !== undefined) set.progress = Math.round(patch.progress);
    if (patch.errorCode !== undefined) set.error_code = patch.errorCode;
    if (patch.errorMessage !== undefined) set.error_message = patch.errorMessage;
    if (patch.metadata !== undefined)
      set.metadata = patch.metadata === null ? null : JSON.stringify(patch.metadata);
    if (patch.variants !== undefined)
      set.variants = patch.variants === null ? null : JSON.stringify(patch.variants);
    await this.db
      .updateTable('media_assets')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  // ---- the embedded queue ----

  async enqueue(job: JobRecord): Promise<void> {
    await this.db.insertInto('media_jobs').values(jobRow(job)).execute();
  }

  /** The newest job of an asset. */
  async latestJob(tenantId: string, assetId: string): Promise<JobRecord | undefined> {
    const row = await this.db
      .selectFrom('media_jobs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return row && jobOf(row);
  }

  async job(id: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('media_jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row && jobOf(row);
  }

  /**
   * Takes the next due job for `workerId` until `now + leaseMs`: a queued one whose time has come, or a
   * running one whose lease ran out (its worker died). A conditional update decides between workers.
   */
  async claim(workerId: string, now: number, leaseMs: number): Promise<JobRecord | undefined> {
    for (let round = 0; round < 5; round++) {
      const candidates = await this.db
        .selectFrom('media_jobs')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', now)]),
            eb.and([eb('status', '=', 'running'), eb('locked_until', '<', now)]),
          ]),
        )
        .orderBy('run_at')
        .limit(4)
        .execute();
      if (candidates.length === 0) return undefined;
      for (const c of candidates) {
        let q = this.db
          .updateTable('media_jobs')
          .set({
            status: 'running',
            locked_by: workerId,
            locked_until: now + leaseMs,
            attempts: num(c.attempts) + 1,
            updated_at: now,
          })
          .where('id', '=', c.id)
          .where('status', '=', c.status)
          .where('attempts', '=', c.attempts);
        q =
          c.locked_until === null
            ? q.where('locked_until', 'is', null)
            : q.where('locked_until', '=', c.locked_until);
        const result = await q.executeTakeFirst();
        if (Number(result.numUpdatedRows) === 1) {
          return jobOf({
            ...c,
            status: 'running',
            locked_by: workerId,
            locked_until: now + leaseMs,
            attempts: num(c.attempts) + 1,
            updated_at: now,
          });
        }
      }
    }
    return undefined;
  }

  /** Extends a running job's lease; false when the job is no longer this worker's (lost, or cancelled). */
  async renew(jobId: string, workerId: string, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('media_jobs')
      .set({ locked_until: until })
      .where('id', '=', jobId)
      .where('locked_by', '=', workerId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Ends this worker's run of a job: done, failed, or queued again at `runAt` (a retry). */
  async finish(
    jobId: string,
    workerId: string,
    status: 'done' | 'failed' | 'queued',
    now: number,
    lastError: string | null,
    runAt?: number,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('media_jobs')
      .set({
        status,
        locked_by: null,
        locked_until: null,
        last_error: lastError,
        updated_at: now,
        ...(runAt === undefined ? {} : { run_at: runAt }),
      })
      .where('id', '=', jobId)
      .where('locked_by', '=', workerId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Cancels an asset's queued and running jobs; the number cancelled. */
  async cancelJobs(tenantId: string, assetId: string, now: number): Promise<number> {
    const result = await this.db
      .updateTable('media_jobs')
      .set({ status: 'cancelled', locked_by: null, locked_until: null, updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  // ---- license usage policies and concurrent streams ----

  async setPolicy(
    tenantId: string,
    assetId: string,
    policy: Record<string, unknown>,
    now: number,
  ): Promise<void> {
    const text = JSON.stringify(policy);
    await this.db
      .insertInto('media_policies')
      .values({ tenant_id: tenantId, asset_id: assetId, policy: text, updated_at: now })
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'asset_id']).doUpdateSet({ policy: text, updated_at: now }),
      )
      .execute();
  }

  async policy(
    tenantId: string,
    assetId: string,
  ): Promise<{ policy: Record<string, unknown>; updatedAt: number } | undefined> {
    const row = await this.db
      .selectFrom('media_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .executeTakeFirst();
    return (
      row && { policy: JSON.parse(row.policy) as Record<string, unknown>, updatedAt: num(row.updated_at) }
    );
  }

  /** The user's other devices with a license since `since` (what a concurrent-stream limit counts). */
  async otherStreams(tenantId: string, userId: string, deviceId: string, since: number): Promise<number> {
    const row = await this.db
      .selectFrom('media_streams')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('device_id', '!=', deviceId)
      .where('last_seen', '>=', since)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async touchStream(
    tenantId: string,
    userId: string,
    deviceId: string,
    assetId: string,
    now: number,
  ): Promise<void> {
    await this.db
      .insertInto('media_streams')
      .values({
        tenant_id: tenantId,
        user_id: userId,
        device_id: deviceId,
        asset_id: assetId,
        last_seen: now,
      })
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'user_id', 'device_id']).doUpdateSet({ asset_id: assetId, last_seen: now }),
      )
      .execute();
  }

  async endStream(tenantId: string, userId: string, deviceId: string): Promise<void> {
    await this.db
      .deleteFrom('media_streams')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .execute();
  }
}

function jobRow(j: JobRecord): JobRow {
  return {
    id: j.id,
    tenant_id: j.tenantId,
    asset_id: j.assetId,
    status: j.status,
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    run_at: j.runAt,
    locked_by: j.lockedBy,
    locked_until: j.lockedUntil,
    last_error: j.lastError,
    created_at: j.createdAt,
    updated_at: j.updatedAt,
  };
}
