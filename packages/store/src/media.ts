import type { Kysely } from 'kysely';
import { type ColumnTypes, recordOf, rowOf } from './columns.ts';
import { Repository } from './repos/base.ts';
import type { Database } from './schema.ts';

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

type AssetRow = Database['media_assets'];

const num = (v: unknown): number => Number(v);

/** How each media table's columns convert to its record's fields (the records are their rows). */
const UPLOAD: ColumnTypes = {
  numbers: ['file_size', 'chunk_size', 'total_chunks', 'created_at', 'updated_at', 'expires_at'],
  json: ['metadata'],
};
const ASSET: ColumnTypes = {
  numbers: ['progress', 'source_size', 'created_at', 'updated_at'],
  json: ['metadata', 'variants'],
};
const JOB: ColumnTypes = {
  numbers: ['attempts', 'max_attempts', 'run_at', 'locked_until', 'created_at', 'updated_at'],
};

const uploadOf = (r: Database['media_uploads']) => recordOf<UploadRecord>(r, UPLOAD);
export const assetOf = (r: AssetRow) => recordOf<AssetRecord>(r, ASSET);
const jobOf = (r: Database['media_jobs']) => recordOf<JobRecord>(r, JOB);
const jobRow = (j: JobRecord) => rowOf<Database['media_jobs']>(j, JOB);

export type AssetPatch = Partial<
  Pick<AssetRecord, 'status' | 'progress' | 'errorCode' | 'errorMessage' | 'metadata' | 'variants'>
>;

/** The media tables over a store's database (both adapters). Every query names the tenant. */
export class MediaStore extends Repository {
  /** The database the media tables are in. */
  override get db(): Kysely<Database> {
    return this.parts.db;
  }

  // ---- uploads ----

  async createUpload(u: UploadRecord): Promise<void> {
    await this.db.insertInto('media_uploads').values(rowOf(u, UPLOAD)).execute();
  }

  async upload(tenantId: string, id: string): Promise<UploadRecord | undefined> {
    const row = await this.findRow('media_uploads', tenantId, { id });
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
    const set = { status: to, updated_at: now, ...(assetId ? { asset_id: assetId } : {}) };
    return (await this.updateRows('media_uploads', { tenant_id: tenantId, id, status: from }, set)) === 1;
  }

  /** Records a verified chunk (again: the newer one counts); one transaction, so one commit to sync. */
  async putChunk(tenantId: string, uploadId: string, c: ChunkRecord): Promise<void> {
    const chunk = { size: c.size, sha256: c.sha256, received_at: c.receivedAt };
    const row = { upload_id: uploadId, tenant_id: tenantId, idx: c.index, ...chunk };
    await this.inTransaction(async (tx) => {
      await tx.upsertRow('media_upload_chunks', row, ['upload_id', 'idx'], chunk);
      await tx.updateRows('media_uploads', { id: uploadId }, { updated_at: c.receivedAt });
    });
  }

  async chunks(tenantId: string, uploadId: string): Promise<ChunkRecord[]> {
    const rows = await this.selectRows('media_upload_chunks', { tenant_id: tenantId, upload_id: uploadId }, [
      'idx',
    ]);
    return rows.map((r) => ({
      index: num(r.idx),
      size: num(r.size),
      sha256: r.sha256,
      receivedAt: num(r.received_at),
    }));
  }

  async deleteChunks(uploadId: string): Promise<void> {
    await this.deleteRows('media_upload_chunks', { upload_id: uploadId });
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
      await tx.insertInto('media_assets').values(rowOf(asset, ASSET)).execute();
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
    const row = await this.findRow('media_assets', tenantId, { id });
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
    await this.updateRows('media_assets', { tenant_id: tenantId, id }, set);
  }

  // ---- the embedded queue ----

  async enqueue(job: JobRecord): Promise<void> {
    await this.db.insertInto('media_jobs').values(jobRow(job)).execute();
  }

  /** The newest job of an asset. */
  async latestJob(tenantId: string, assetId: string): Promise<JobRecord | undefined> {
    const match = { tenant_id: tenantId, asset_id: assetId };
    const [row] = await this.selectRows('media_jobs', match, ['created_at desc', 'id desc'], 1);
    return row && jobOf(row);
  }

  async job(id: string): Promise<JobRecord | undefined> {
    const row = await this.firstRow('media_jobs', { id });
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
        const set = {
          status: 'running',
          locked_by: workerId,
          locked_until: now + leaseMs,
          attempts: num(c.attempts) + 1,
          updated_at: now,
        };
        const match = { id: c.id, status: c.status, attempts: c.attempts, locked_until: c.locked_until };
        if ((await this.updateRows('media_jobs', match, set)) === 1) return jobOf({ ...c, ...set });
      }
    }
    return undefined;
  }

  /** Extends a running job's lease; false when the job is no longer this worker's (lost, or cancelled). */
  async renew(jobId: string, workerId: string, until: number): Promise<boolean> {
    const match = { id: jobId, locked_by: workerId, status: 'running' };
    return (await this.updateRows('media_jobs', match, { locked_until: until })) === 1;
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
    const set = {
      status,
      locked_by: null,
      locked_until: null,
      last_error: lastError,
      updated_at: now,
      ...(runAt === undefined ? {} : { run_at: runAt }),
    };
    return (
      (await this.updateRows('media_jobs', { id: jobId, locked_by: workerId, status: 'running' }, set)) === 1
    );
  }

  /** Cancels an asset's queued and running jobs; the number cancelled. */
  async cancelJobs(tenantId: string, assetId: string, now: number): Promise<number> {
    const match = { tenant_id: tenantId, asset_id: assetId, status: ['queued', 'running'] };
    return this.updateRows('media_jobs', match, {
      status: 'cancelled',
      locked_by: null,
      locked_until: null,
      updated_at: now,
    });
  }

  // ---- the job rows under a queue library (pg-boss): it dispatches, the rows keep the record ----

  /** Jobs queued and never run, due by `now`: what a queue library has to be told about. */
  undispatched(now: number, limit: number): Promise<JobRecord[]> {
    return this.#jobsIn('queued', 'run_at', now, limit, 0);
  }

  /** Running jobs whose lease ran out by `now` (their worker died or hung). */
  lapsed(now: number, limit: number): Promise<JobRecord[]> {
    return this.#jobsIn('running', 'locked_until', now, limit);
  }

  /** Jobs in `status` whose `column` is before `now` (earliest first), never run when `attempts` is 0. */
  async #jobsIn(
    status: JobStatus,
    column: 'run_at' | 'locked_until',
    now: number,
    limit: number,
    attempts?: number,
  ): Promise<JobRecord[]> {
    let q = this.db
      .selectFrom('media_jobs')
      .selectAll()
      .where('status', '=', status)
      .where(column, column === 'run_at' ? '<=' : '<', now);
    if (attempts !== undefined) q = q.where('attempts', '=', attempts);
    const rows = await q.orderBy(column).limit(limit).execute();
    return rows.map(jobOf);
  }

  /**
   * Takes the job `jobId` for `workerId` until `now + leaseMs` (the queue library handed it to this
   * worker): a queued one, or a running one whose run the library gave up on. Undefined when it is done,
   * failed, cancelled or gone.
   */
  async take(jobId: string, workerId: string, now: number, leaseMs: number): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('media_jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
    if (!row || (row.status !== 'queued' && row.status !== 'running')) return undefined;
    const next = {
      status: 'running',
      locked_by: workerId,
      locked_until: now + leaseMs,
      attempts: num(row.attempts) + 1,
      updated_at: now,
    };
    const result = await this.db
      .updateTable('media_jobs')
      .set(next)
      .where('id', '=', jobId)
      .where('status', '=', row.status)
      .where('attempts', '=', row.attempts)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? jobOf({ ...row, ...next }) : undefined;
  }

  /** Sets when a queued job runs again (the time the queue library chose). */
  async reschedule(jobId: string, runAt: number): Promise<void> {
    await this.db
      .updateTable('media_jobs')
      .set({ run_at: runAt })
      .where('id', '=', jobId)
      .where('status', '=', 'queued')
      .execute();
  }

  // ---- license usage policies and concurrent streams ----

  async setPolicy(
    tenantId: string,
    assetId: string,
    policy: Record<string, unknown>,
    now: number,
  ): Promise<void> {
    const set = { policy: JSON.stringify(policy), updated_at: now };
    const row = { tenant_id: tenantId, asset_id: assetId, ...set };
    await this.upsertRow('media_policies', row, ['tenant_id', 'asset_id'], set);
  }

  async policy(
    tenantId: string,
    assetId: string,
  ): Promise<{ policy: Record<string, unknown>; updatedAt: number } | undefined> {
    const row = await this.findRow('media_policies', tenantId, { asset_id: assetId });
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
    const set = { asset_id: assetId, last_seen: now };
    const row = { tenant_id: tenantId, user_id: userId, device_id: deviceId, ...set };
    await this.upsertRow('media_streams', row, ['tenant_id', 'user_id', 'device_id'], set);
  }

  async endStream(tenantId: string, userId: string, deviceId: string): Promise<void> {
    await this.deleteRows('media_streams', { tenant_id: tenantId, user_id: userId, device_id: deviceId });
  }
}
