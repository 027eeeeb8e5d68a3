/**
 * The processing worker: takes jobs from the queue port (`queue.ts`: the store's embedded queue, or pg-boss
 * on PostgreSQL; a lease renewed while it runs, so a job of a worker that died is taken again once the
 * lease runs out), and for each asset probes the source
 * (VideoMetadata), transcodes a ladder, encrypts and packages it with the packager (CENC, keys in the
 * store) into the origin folder, and makes thumbnails. MediaStatus moves processing → transcoding →
 * protecting → ready, or failed; a failure that may pass is retried with exponential backoff.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  type PackageLayout,
  PackagerError,
  type PackageSummary,
  packageMedia,
  probeSource,
  type Rung,
  type SourceInfo,
  storeKeySource,
} from '@vigil/packager';
import type { AssetRecord, JobRecord, MediaStatus, MediaStore, VigilStore } from '@vigil/store';
import { packageTarget } from './package-output.ts';
import { EmbeddedQueue, type MediaQueue } from './queue.ts';
import type { ObjectStorage } from './storage.ts';

export interface MediaWorkerOptions {
  store: VigilStore;
  media: MediaStore;
  storage: ObjectStorage;
  /** Where jobs come from; default: the store's embedded queue. */
  queue?: MediaQueue;
  /**
   * On local storage packages are written to `<originRoot>/<tenant>/<assetId>/` (what the origin serves);
   * on object storage they are published through it (`package-output.ts`).
   */
  originRoot: string;
  /** The key server the manifests name. */
  licenseUrlBase: () => string;
  /** Jobs run at once by this worker (default 1). */
  concurrency?: number;
  pollMs?: number;
  leaseMs?: number;
  /** First retry delay; doubled each further attempt (default 2 s). */
  backoffMs?: number;
  ladder?: readonly Rung[];
  preset?: string;
  segmentDuration?: number;
  keyPeriod?: number;
  workerId?: string;
  log?: (line: string) => void;
}

/** The small default ladder of uploaded assets. */
export const MEDIA_LADDER: readonly Rung[] = [
  { height: 720, bitrate: 2_500_000 },
  { height: 480, bitrate: 1_200_000 },
  { height: 240, bitrate: 400_000 },
];

/** Packager codes that no retry cures: the asset fails at once. */
const PERMANENT = new Set(['not_video', 'truncated', 'unsupported_codec', 'missing_input', 'bad_option']);

export interface VideoMetadata {
  duration: number;
  width: number;
  height: number;
  size: number;
  bitrate: number;
  codec: string;
  format: string;
  frameRate: number;
  audio: SourceInfo['audio'];
  thumbnails: string[];
  fingerprint: string;
}

export function metadataOf(source: SourceInfo, asset: AssetRecord, format: string): VideoMetadata {
  return {
    duration: Math.round(source.duration * 1000) / 1000,
    width: source.width,
    height: source.height,
    size: asset.sourceSize,
    bitrate: source.duration > 0 ? Math.round((asset.sourceSize * 8) / source.duration) : 0,
    codec: source.videoCodec,
    format,
    frameRate: Math.round(source.fps * 1000) / 1000,
    audio: source.audio,
    thumbnails: [],
    fingerprint: `sha256:${asset.sourceSha256}`,
  };
}

/** The seed's MediaVariant of each video rendition of a package. */
export function variantsOf(tenantId: string, assetId: string, layout: PackageLayout) {
  const base = `/origin/${tenantId}/${assetId}/`;
  return layout.tracks
    .filter((t) => t.kind === 'video')
    .sort((a, b) => (b.height ?? 0) - (a.height ?? 0))
    .map((t) => ({
      id: `${assetId}-${t.id}`,
      quality: `${t.height}p`,
      width: t.width ?? 0,
      height: t.height ?? 0,
      bitrate: t.averageBandwidth,
      codec: t.codec,
      format: 'DASH',
      encryptionKeyId: t.periods[0]?.kid ?? '',
      manifestUrl: `${base}${layout.files.dash}`,
      hlsManifestUrl: `${base}${layout.files.hlsCmaf}`,
      sizeBytes: t.periods.reduce((a, p) => a + p.segments.reduce((b, s) => b + s.size, 0), 0),
    }));
}

function containerOf(mime: string): string {
  if (mime.includes('webm')) return 'webm';
  if (mime.includes('matroska')) return 'matroska';
  if (mime.includes('quicktime')) return 'mov';
  if (mime.includes('mp2t')) return 'mpegts';
  return 'mp4';
}

export class MediaWorker {
  readonly id: string;
  readonly queue: MediaQueue;
  readonly #o: Required<Omit<MediaWorkerOptions, 'workerId' | 'log' | 'ladder' | 'preset' | 'queue'>> &
    Pick<MediaWorkerOptions, 'ladder' | 'preset' | 'log'>;
  #running = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #polling = false;
  #aborts = new Map<string, AbortController>();
  #started = false;

  constructor(opts: MediaWorkerOptions) {
    this.id = opts.workerId ?? `worker-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.queue = opts.queue ?? new EmbeddedQueue(opts.media);
    this.#o = {
      concurrency: 1,
      pollMs: 1000,
      leaseMs: 30_000,
      backoffMs: 2000,
      segmentDuration: 2,
      keyPeriod: 100_000,
      ...opts,
    };
  }

  /** Connects the queue, then polls it. */
  async start(): Promise<void> {
    await this.queue.start();
    this.#started = true;
    this.#timer = setInterval(() => this.poke(), this.#o.pollMs);
    this.#timer.unref?.();
    this.poke();
  }

  /** Looks for work now (a job was queued in this process). */
  poke(): void {
    if (this.#closed || this.#polling || !this.#started) return;
    this.#polling = true;
    void this.#fill()
      .catch((err) => this.#o.log?.(`media worker: ${(err as Error).message}`))
      .finally(() => {
        this.#polling = false;
      });
  }

  async #fill(): Promise<void> {
    while (!this.#closed && this.#running.size < this.#o.concurrency) {
      const job = await this.queue.take(this.id, this.#o.leaseMs);
      if (!job) return;
      const run = this.#run(job).finally(() => {
        this.#running.delete(job.id);
        this.poke();
      });
      this.#running.set(job.id, run);
    }
  }

  /** Stops taking jobs; running ones are abandoned (their lease runs out and another worker retries). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const a of this.#aborts.values()) a.abort();
    await Promise.allSettled([...this.#running.values()]);
    await this.queue.close();
  }

  async #run(job: JobRecord): Promise<void> {
    const { media } = this.#o;
    const abort = new AbortController();
    this.#aborts.set(job.id, abort);
    const lease = setInterval(
      () => {
        void this.queue.renew(job, this.id, this.#o.leaseMs).then(
          (mine) => {
            if (!mine) abort.abort();
          },
          () => {},
        );
      },
      Math.max(200, Math.floor(this.#o.leaseMs / 3)),
    );
    try {
      const asset = await media.asset(job.tenantId, job.assetId);
      if (!asset) {
        await this.queue.end(job, this.id, 'failed', 'the asset is gone');
        return;
      }
      this.#o.log?.(
        `media worker ${this.id}: job ${job.id} (${job.assetId}) attempt ${job.attempts} started`,
      );
      const timings = await this.#process(job, asset, abort.signal);
      if (await this.queue.end(job, this.id, 'done', null)) {
        await media.updateAsset(job.tenantId, job.assetId, { status: 'ready', progress: 100 }, Date.now());
        this.#o.log?.(`media worker ${this.id}: ${job.assetId} took ${timings}`);
        this.#o.log?.(`media worker ${this.id}: job ${job.id} (${job.assetId}) done`);
      }
    } catch (err) {
      await this.#failed(job, err, abort.signal.aborted);
    } finally {
      clearInterval(lease);
      this.#aborts.delete(job.id);
    }
  }

  async #failed(job: JobRecord, err: unknown, aborted: boolean): Promise<void> {
    const { media } = this.#o;
    const now = Date.now();
    // Cancelled (the lease is no longer ours) or this worker closing: nothing to record.
    if (aborted) {
      await this.queue.abandon(job, this.id).catch(() => {});
      return;
    }
    const message = (err as Error)?.message ?? String(err);
    const code = err instanceof PackagerError ? err.code : 'internal';
    const permanent = err instanceof PackagerError && PERMANENT.has(err.code);
    if (!permanent && job.attempts < job.maxAttempts) {
      const runAt = await this.queue.retry(
        job,
        this.id,
        message,
        this.#o.backoffMs * 2 ** (job.attempts - 1),
      );
      if (runAt !== undefined) {
        await media.updateAsset(job.tenantId, job.assetId, { status: 'processing', progress: 0 }, now);
        this.#o.log?.(
          `media worker: ${job.assetId} attempt ${job.attempts} failed (${message}); retry in ${runAt - now} ms`,
        );
      }
      return;
    }
    if (await this.queue.end(job, this.id, 'failed', message)) {
      await media.updateAsset(
        job.tenantId,
        job.assetId,
        {
          status: 'failed',
          errorCode: code === 'truncated' || code === 'not_video' ? `upload_${code}` : 'transcoding_failed',
          errorMessage: message.slice(0, 1000),
        },
        now,
      );
    }
  }

  /** Processes the asset; answers where the time went ("probe 1.2 s, transcode 80.1 s, ..."). */
  async #process(job: JobRecord, asset: AssetRecord, signal: AbortSignal): Promise<string> {
    const { media, storage } = this.#o;
    const spans: string[] = [];
    let mark = Date.now();
    const span = (name: string) => {
      const now = Date.now();
      spans.push(`${name} ${((now - mark) / 1000).toFixed(1)} s`);
      mark = now;
    };
    let status: MediaStatus = 'processing';
    let lastWrite = 0;
    let lastPercent = -1;
    const report = async (next: MediaStatus, percent: number, force = false) => {
      const now = Date.now();
      const p = Math.floor(percent);
      if (!force && next === status && (p === lastPercent || now - lastWrite < 500)) return;
      status = next;
      lastPercent = p;
      lastWrite = now;
      await media.updateAsset(job.tenantId, job.assetId, { status: next, progress: p }, now);
    };
    await report('processing', 1, true);
    const local = await storage.localFile(asset.sourceKey);
    const target = await packageTarget(storage, this.#o.originRoot, job.tenantId, job.assetId);
    try {
      const source = await probeSource(local.path, { allowNoAudio: true, signal });
      span('probe');
      const metadata = metadataOf(source, asset, containerOf(asset.mimeType));
      await media.updateAsset(job.tenantId, job.assetId, { metadata: { ...metadata } }, Date.now());
      const out = target.dir;
      // What an earlier, interrupted run left (no package description yet) would refuse the folder.
      await rm(out, { recursive: true, force: true });
      let pending = Promise.resolve();
      let phase = 'probe';
      const summary: PackageSummary = await packageMedia(
        {
          input: local.path,
          out,
          resourceId: job.assetId,
          scheme: 'cenc',
          segmentDuration: this.#o.segmentDuration,
          keyPeriod: this.#o.keyPeriod,
          keys: storeKeySource({
            store: this.#o.store,
            tenantId: job.tenantId,
            owner: `media:${job.assetId}`,
          }),
          licenseUrlBase: this.#o.licenseUrlBase(),
          allowNoAudio: true,
          source,
          // Three stills (at 10%, 50% and 90%), 320 wide, from the transcode's own decode.
          thumbnails: { at: [0.1, 0.5, 0.9], width: 320 },
          ladder: this.#o.ladder ?? MEDIA_LADDER,
          ...(this.#o.preset ? { preset: this.#o.preset } : {}),
        },
        {
          signal,
          onProgress: (p) => {
            if (p.phase === 'transcode' && phase !== 'transcode') span('prepare');
            if (p.phase !== 'transcode' && phase === 'transcode') span('transcode');
            phase = p.phase;
            const next: MediaStatus =
              p.phase === 'probe' ? 'processing' : p.phase === 'transcode' ? 'transcoding' : 'protecting';
            // 2..95 for packaging; thumbnails after.
            pending = pending.then(() => report(next, 2 + p.percent * 0.93)).catch(() => {});
          },
        },
      );
      await pending;
      span('encrypt, manifests');
      await report('protecting', 96, true);
      metadata.thumbnails = summary.thumbnails.map((t) => `/origin/${job.tenantId}/${job.assetId}/${t}`);
      await target.publish(signal);
      await media.updateAsset(
        job.tenantId,
        job.assetId,
        { metadata: { ...metadata }, variants: variantsOf(job.tenantId, job.assetId, summary.layout) },
        Date.now(),
      );
    } finally {
      await target.release();
      await local.release();
    }
    return spans.join(', ');
  }
}
