/** The list of a tenant's media assets: one page, newest first, each as a summary (status, progress, size). */
import { type AssetRecord, type MediaStatus, type PageRequest, pageAssets } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import { iso, type StoreDeps } from '../deps.ts';

export const ASSET_STATUSES: readonly MediaStatus[] = [
  'uploading',
  'processing',
  'transcoding',
  'protecting',
  'ready',
  'failed',
  'expired',
];

export interface AssetSummary {
  assetId: string;
  title: string;
  description: string;
  uploaderId: string;
  uploadId: string | null;
  status: MediaStatus;
  progress: number;
  error?: { code: string; message: string };
  mimeType: string;
  size: number;
  duration?: number;
  width?: number;
  height?: number;
  variantCount: number;
  createdAt: string;
  updatedAt: string;
}

/** What the list shows of an asset (its metadata and variants have routes of their own). */
export function assetSummary(a: AssetRecord): AssetSummary {
  const m = (a.metadata ?? {}) as { duration?: unknown; width?: unknown; height?: unknown };
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const duration = num(m.duration);
  const width = num(m.width);
  const height = num(m.height);
  return {
    assetId: a.id,
    title: a.title,
    description: a.description,
    uploaderId: a.uploaderId,
    uploadId: a.uploadId,
    status: a.status,
    progress: a.progress,
    ...(a.errorCode ? { error: { code: a.errorCode, message: a.errorMessage ?? '' } } : {}),
    mimeType: a.mimeType,
    size: a.sourceSize,
    ...(duration === undefined ? {} : { duration }),
    ...(width === undefined ? {} : { width }),
    ...(height === undefined ? {} : { height }),
    variantCount: a.variants?.length ?? 0,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

/** One page of the tenant's assets, newest first, optionally of one status. */
export async function listAssets(
  deps: StoreDeps,
  actor: Actor,
  input: { status?: MediaStatus | undefined; page: PageRequest },
): Promise<{ assets: AssetSummary[]; next: string | null }> {
  requireRole(actor, 'readonly');
  const page = await pageAssets(deps.store, actor.tenantId, { status: input.status }, input.page);
  return { assets: page.items.map(assetSummary), next: page.next };
}
