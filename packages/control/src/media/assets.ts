/**
 * Media operations: assets and their processing (queue, status, cancel), metadata, variants and
 * stream targets.
 */
import { Readable } from 'node:stream';
import type { AssetRecord } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import { ID, type MediaDeps, mediaError, newJob } from './common.ts';

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
