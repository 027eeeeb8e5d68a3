/**
 * Content monitoring of one asset: its access log (`GET /v1/media/{assetId}/access-logs`, filtered by
 * user, session, action and time, keyset-paginated) and an access report over a period
 * (`POST /v1/media/{assetId}/access-report`: views, unique users, sessions and addresses, entries by
 * action, denials by reason, the most active users). An asset of another tenant is not found.
 */
import { type PageRequest, pageAccessLogs } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import type { MediaApiDeps } from './asset-watermark.ts';
import { getAsset } from './assets.ts';
import { mediaError } from './common.ts';

export interface AssetAccessQuery {
  userId?: string | undefined;
  sessionId?: string | undefined;
  action?: string | undefined;
  /** RFC 3339 date-times: [since, until). */
  since?: string | undefined;
  until?: string | undefined;
}

function time(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw mediaError('monitoring_invalid_period', `"${name}" must be a date-time`);
  return ms;
}

/** One page of the asset's access log, newest first. */
export async function assetAccessLogs(
  deps: MediaApiDeps,
  actor: Actor,
  assetId: string,
  q: AssetAccessQuery,
  page: PageRequest,
) {
  requireRole(actor, 'readonly');
  const asset = await getAsset(deps, actor, assetId);
  const since = time('since', q.since);
  const until = time('until', q.until);
  if (since !== undefined && until !== undefined && until <= since)
    throw mediaError('monitoring_invalid_period', '"until" must come after "since"');
  await deps.flush?.();
  return pageAccessLogs(
    deps.store,
    asset.tenantId,
    { resourceId: asset.id, userId: q.userId, sessionId: q.sessionId, action: q.action, since, until },
    page,
  );
}

const DAY_MS = 86400_000;
/** The longest period one report sums up. */
export const MAX_REPORT_DAYS = 366;

/** A session's first license on an instance: one view. */
const VIEW_ACTION = 'streamStart';

/** The asset's access report over [from, to) (default: the last 24 hours up to now). */
export async function assetAccessReport(
  deps: MediaApiDeps,
  actor: Actor,
  input: { assetId: string; from?: string | undefined; to?: string | undefined },
) {
  requireRole(actor, 'readonly');
  const asset = await getAsset(deps, actor, input.assetId);
  const now = deps.now?.() ?? Date.now();
  const to = time('to', input.to) ?? now;
  const from = time('from', input.from) ?? to - DAY_MS;
  if (to <= from) throw mediaError('monitoring_invalid_period', '"to" must come after "from"');
  if (to - from > MAX_REPORT_DAYS * DAY_MS)
    throw mediaError('monitoring_invalid_period', `a report covers at most ${MAX_REPORT_DAYS} days`);
  await deps.flush?.();
  const s = await deps.delivery.accessSummary(asset.tenantId, asset.id, from, to);
  const denied = Object.values(s.denials).reduce((a, b) => a + b, 0);
  const events = Object.values(s.actions).reduce((a, b) => a + b, 0);
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    assetId: asset.id,
    period: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
    totals: {
      events,
      views: s.actions[VIEW_ACTION] ?? 0,
      uniqueUsers: s.uniqueUsers,
      uniqueSessions: s.uniqueSessions,
      uniqueIps: s.uniqueIps,
      denials: denied,
      suspiciousActivity: s.actions.suspiciousActivity ?? 0,
    },
    actions: s.actions,
    denialsByReason: s.denials,
    topUsers: s.topUsers,
    firstAccessAt: iso(s.firstAt),
    lastAccessAt: iso(s.lastAt),
    generatedAt: new Date(now).toISOString(),
  };
}
