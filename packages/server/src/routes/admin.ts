import type { FastifyInstance } from 'fastify';
import { accessLogsRoutes } from './admin/access-logs.ts';
import { apikeysRoutes } from './admin/apikeys.ts';
import { bansRoutes } from './admin/bans.ts';
import { detectionsRoutes } from './admin/detections.ts';
import { keysRoutes } from './admin/keys.ts';
import { operatorsRoutes } from './admin/operators.ts';
import { sessionsRoutes } from './admin/sessions.ts';
import { type AdminRoutesOptions, adminContext } from './admin/shared.ts';
import { statsRoutes } from './admin/stats.ts';
import { tenantsRoutes } from './admin/tenants.ts';
import { watchesRoutes } from './admin/watches.ts';
import { watermarkRoutes } from './admin/watermark.ts';

export type { AdminRoutesOptions } from './admin/shared.ts';

/** The control API (`/v1/*` under an API key): one file per resource in `admin/`. */
export async function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  const ctx = adminContext(opts);
  watermarkRoutes(app, ctx);
  bansRoutes(app, ctx);
  keysRoutes(app, ctx);
  statsRoutes(app, ctx);
  tenantsRoutes(app, ctx);
  apikeysRoutes(app, ctx);
  accessLogsRoutes(app, ctx);
  sessionsRoutes(app, ctx);
  operatorsRoutes(app, ctx);
  detectionsRoutes(app, ctx);
  watchesRoutes(app, ctx);
}
