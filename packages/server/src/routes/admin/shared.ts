import type { RecordsDeps } from '@vigil/control';
import type { VigilStore } from '@vigil/store';
import type { AccessLog } from '../../access-log.ts';
import { authenticate } from '../../auth/admin.ts';
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
export { watermarkSchema } from '@vigil/control';
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

/** What every control route file gets: the app's parts and the preHandler that sets `request.actor`. */
export interface AdminContext extends AdminRoutesOptions {
  /** Admits the request's credential (401 otherwise); each operation checks the actor's role itself. */
  auth: ReturnType<typeof authenticate>;
  /** What the reads of recorded events need: the store, and the access log's buffer flushed first. */
  records: RecordsDeps;
}

export function adminContext(opts: AdminRoutesOptions): AdminContext {
  return {
    ...opts,
    auth: authenticate(opts.hot),
    records: { store: opts.store, flush: () => opts.access.flush() },
  };
}

/**
 * The options of a route behind `auth` (an API key): its preHandler, and its OpenAPI schema with the
 * tags, summary and security every such route declares, then the rest of the schema.
 */
export function guarded(
  auth: AdminContext['auth'],
  tags: string[],
  summary: string,
  schema: Record<string, unknown> = {},
) {
  return { preHandler: auth, schema: { tags, summary, security, ...schema } };
}
