import type { VigilStore } from '@vigil/store';
import type { AccessLog } from '../../access-log.ts';
import { requireRole } from '../../auth/admin.ts';
import type { ServerConfig } from '../../config.ts';
import type { LeakTracing } from '../../detect/index.ts';
import type { HotState } from '../../hot-state.ts';
import type { StatsRecorder } from '../../stats/recorder.ts';

export interface AdminRoutesOptions {
  store: VigilStore;
  access: AccessLog;
  hot: HotState;
  stats: StatsRecorder;
  config: ServerConfig;
  /** Leak tracing: detections, watches, the guarded fetch. */
  leak: LeakTracing;
}

export const security = [{ apiKey: [] }];
export const TENANT_ID = '^[a-z0-9][a-z0-9_-]{0,63}$';
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
};
export const banSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['session', 'ip'] },
    value: { type: 'string' },
    reason: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    sightings: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ip: { type: 'string' },
          firstSeen: { type: 'string', format: 'date-time' },
          lastSeen: { type: 'string', format: 'date-time' },
          hits: { type: 'integer' },
        },
      },
    },
  },
};

export const iso = (ms: number) => new Date(ms).toISOString();

/** The control API: watermark config, bans, keys, stats, tenant settings, API keys. Scoped to the key's tenant. */

/** What every control route file gets: the app's parts and the role checks. */
export interface AdminContext extends AdminRoutesOptions {
  readonly: ReturnType<typeof requireRole>;
  operator: ReturnType<typeof requireRole>;
  admin: ReturnType<typeof requireRole>;
  platform: ReturnType<typeof requireRole>;
}

export function adminContext(opts: AdminRoutesOptions): AdminContext {
  const { hot } = opts;
  return {
    ...opts,
    readonly: requireRole(hot, 'readonly'),
    operator: requireRole(hot, 'operator'),
    admin: requireRole(hot, 'admin'),
    platform: requireRole(hot, 'platform'),
  };
}
