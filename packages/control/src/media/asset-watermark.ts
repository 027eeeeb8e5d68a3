/**
 * An asset's own watermark (`POST /v1/media/{assetId}/watermark`): the seed's `WatermarkConfig`
 * (`type` visible | invisible | forensic | dynamic, `position`, `opacity`, `isForensic`,
 * `userSpecificData`) mapped onto Vigil's watermark config, over the tenant's, for that asset's sessions
 * only: visible and dynamic marks are the moving session-id text, invisible and forensic ones the keyed
 * colour tag the leak detector decodes; `position` places the colour box, `opacity` is the text's.
 */
import { randomBytes } from 'node:crypto';
import { mergeWatermarkConfig, type WatermarkConfig } from '@vigil/core';
import type { AssetWatermarkRecord, MediaDeliveryStore, VigilStore } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import { getAsset } from './assets.ts';
import { type MediaDeps, mediaError } from './common.ts';

/** What the media API's delivery operations need beyond the media store. */
export interface MediaApiDeps extends MediaDeps {
  store: VigilStore;
  delivery: MediaDeliveryStore;
  /** Writes the access log still buffered in memory. */
  flush?: (() => Promise<void>) | undefined;
}

export const WATERMARK_TYPES = ['visible', 'invisible', 'forensic', 'dynamic'] as const;
export const NAMED_POSITIONS = ['topLeft', 'topRight', 'bottomLeft', 'bottomRight', 'center'] as const;
type NamedPosition = (typeof NAMED_POSITIONS)[number];

export interface SeedWatermarkInput {
  watermarkId?: string;
  type: (typeof WATERMARK_TYPES)[number];
  /** A corner, the centre, or the colour box's top-left corner in percent of the picture. */
  position?: NamedPosition | { x: number; y: number };
  /** 0.05 to 1. */
  opacity?: number;
  isForensic?: boolean;
  userSpecificData?: Record<string, unknown>;
  /** Vigil's: false turns the mark off for the asset. */
  enabled?: boolean;
}

const MARGIN = 2;
/** How often a dynamic mark moves (a visible one keeps the tenant's interval). */
const DYNAMIC_INTERVAL_SECONDS = 2;

function boxAt(position: SeedWatermarkInput['position'], base: WatermarkConfig['box']) {
  const px = base.sizeUnit === 'px';
  // A box sized in pixels is placed by its corner: keep it off the far edges by its margin only.
  const w = px ? MARGIN : base.width;
  const h = px ? MARGIN : base.height;
  const at = (x: number, y: number) => ({ ...base, x, y });
  if (position === undefined) return { ...base };
  if (typeof position === 'object') return at(position.x, position.y);
  switch (position) {
    case 'topLeft':
      return at(MARGIN, MARGIN);
    case 'topRight':
      return at(100 - w - MARGIN, MARGIN);
    case 'bottomLeft':
      return at(MARGIN, 100 - h - MARGIN);
    case 'bottomRight':
      return at(100 - w - MARGIN, 100 - h - MARGIN);
    default:
      return at((100 - w) / 2, (100 - h) / 2);
  }
}

/** The Vigil config patch a seed watermark stands for (the box whole, so it holds over any tenant box). */
export function watermarkPatch(input: SeedWatermarkInput, tenant: WatermarkConfig): Record<string, unknown> {
  const forensic = input.isForensic ?? (input.type === 'forensic' || input.type === 'invisible');
  const patch: Record<string, unknown> = {
    enabled: input.enabled ?? true,
    mode: forensic ? 'color' : 'text',
    box: boxAt(input.position, tenant.box),
  };
  if (input.opacity !== undefined) patch.textOpacity = input.opacity;
  if (input.type === 'dynamic') patch.textIntervalSeconds = DYNAMIC_INTERVAL_SECONDS;
  return patch;
}

/** The config an asset's sessions get: its patch over the tenant's (the tenant's alone if it no longer fits). */
export function assetWatermarkConfig(
  tenant: WatermarkConfig,
  patch: Record<string, unknown>,
): WatermarkConfig {
  try {
    return mergeWatermarkConfig(tenant, patch);
  } catch {
    return tenant;
  }
}

function view(rec: AssetWatermarkRecord, effective: WatermarkConfig) {
  const { legacyOptions: _legacy, ...config } = effective;
  return {
    assetId: rec.assetId,
    ...(rec.seed as object),
    watermarkId: rec.watermarkId,
    config,
    updatedAt: new Date(rec.updatedAt).toISOString(),
  };
}

const USER_DATA_LIMIT = 4096;

/** Sets the asset's watermark; its sessions' directives follow within a heartbeat or key request. */
export async function setAssetWatermark(
  deps: MediaApiDeps,
  actor: Actor,
  input: { assetId: string } & SeedWatermarkInput,
) {
  requireRole(actor, 'operator');
  const asset = await getAsset(deps, actor, input.assetId);
  const { assetId: _id, ...seed } = input;
  if (seed.userSpecificData !== undefined && JSON.stringify(seed.userSpecificData).length > USER_DATA_LIMIT)
    throw mediaError(
      'watermarking_invalid',
      `"userSpecificData" holds at most ${USER_DATA_LIMIT} bytes of JSON`,
    );
  const tenant = await deps.store.getWatermarkConfig(asset.tenantId);
  const patch = watermarkPatch(seed, tenant);
  let effective: WatermarkConfig;
  try {
    effective = mergeWatermarkConfig(tenant, patch);
  } catch (err) {
    throw mediaError('watermarking_invalid', (err as Error).message);
  }
  const rec: AssetWatermarkRecord = {
    tenantId: asset.tenantId,
    assetId: asset.id,
    watermarkId: seed.watermarkId ?? `watermark_${randomBytes(12).toString('hex')}`,
    seed: { ...seed, isForensic: patch.mode === 'color' },
    config: patch,
    updatedAt: deps.now?.() ?? Date.now(),
  };
  await deps.delivery.setWatermark(rec);
  return view(rec, effective);
}

export async function getAssetWatermark(deps: MediaApiDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'readonly');
  const asset = await getAsset(deps, actor, assetId);
  const rec = await deps.delivery.watermark(asset.tenantId, asset.id);
  if (!rec) throw mediaError('watermarking_not_found', 'the asset has no watermark of its own', { assetId });
  return view(rec, assetWatermarkConfig(await deps.store.getWatermarkConfig(asset.tenantId), rec.config));
}
