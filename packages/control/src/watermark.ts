import { mergeWatermarkConfig, type WatermarkConfig } from '@vigil/core';
import { type Actor, requireRole } from './actor.ts';
import { coreRule } from './core-errors.ts';
import type { StoreDeps } from './deps.ts';
import { check } from './schema.ts';

/** The tenant's watermark config (what the license path sends players in its directive). */
export const watermarkSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    mode: { type: 'string', enum: ['text', 'color'] },
    textIntervalSeconds: { type: 'number' },
    textOpacity: { type: 'number' },
    box: {
      type: 'object',
      additionalProperties: false,
      properties: {
        x: { type: 'number' },
        y: { type: 'number' },
        width: { type: 'number' },
        height: { type: 'number' },
        sizeUnit: { type: 'string', enum: ['percent', 'px'] },
      },
    },
    symbolSeconds: { type: 'number' },
    heartbeatSeconds: { type: 'number' },
    tamperPolicy: { type: 'string', enum: ['report', 'stop'] },
    legacyOptions: { type: 'object', additionalProperties: true },
  },
} as const;

export async function getWatermark(deps: StoreDeps, actor: Actor): Promise<WatermarkConfig> {
  requireRole(actor, 'readonly');
  return deps.store.getWatermarkConfig(actor.tenantId);
}

/** A partial update: the fields given replace the current ones; the result must make a valid config. */
export async function setWatermark(deps: StoreDeps, actor: Actor, patch: unknown): Promise<WatermarkConfig> {
  requireRole(actor, 'admin');
  // Not an object at all: the config's own rule says so (invalid_watermark_config).
  if (typeof patch === 'object' && patch !== null && !Array.isArray(patch)) check(watermarkSchema, patch);
  const current = await deps.store.getWatermarkConfig(actor.tenantId);
  const next = await coreRule(() => mergeWatermarkConfig(current, patch));
  await deps.store.putWatermarkConfig(actor.tenantId, next);
  return next;
}
