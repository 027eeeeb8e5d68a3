/**
 * The store adapter: a DetectContext from a tenant's store (watermark config, tag → sessions, served
 * sessions), and the access-log summary that shows who a detected session is before anyone bans it.
 */
import type { VigilStore } from '@vigil/store';
import type { DetectContext } from './types.ts';

/** At most this many access-log rows are read for one summary or for the served sessions. */
export const ACCESS_ROWS_MAX = 10_000;

export async function storeContext(
  store: VigilStore,
  tenantId: string,
  extra: Partial<Omit<DetectContext, 'tenantId' | 'watermark' | 'sessionsForTag' | 'servedSessions'>> = {},
): Promise<DetectContext> {
  return {
    ...extra,
    tenantId,
    watermark: await store.getWatermarkConfig(tenantId),
    sessionsForTag: async (tag) => (await store.sessionsByTag(tenantId, tag)).map((s) => s.sessionId),
    servedSessions: async () => {
      const rows = await store.queryAccessLogs(tenantId, { limit: ACCESS_ROWS_MAX });
      return [...new Set(rows.map((r) => r.sessionId))];
    },
  };
}

export interface AccessSummary {
  sessionId: string;
  /** Distinct IPs and user agents, most recent first. */
  ips: string[];
  userAgents: string[];
  /** Milliseconds since the epoch (ISO strings alongside), null when the log has nothing. */
  firstSeen: number | null;
  lastSeen: number | null;
  firstSeenIso: string | null;
  lastSeenIso: string | null;
  /** The resources (content ids) the session played, most recent first. */
  resources: string[];
  resource: string | null;
  userIds: string[];
  entries: number;
}

export async function accessSummary(
  store: VigilStore,
  tenantId: string,
  sessionId: string,
): Promise<AccessSummary> {
  const rows = await store.queryAccessLogs(tenantId, { sessionId, limit: ACCESS_ROWS_MAX });
  const distinct = (values: (string | null)[]) => [...new Set(values.filter((v): v is string => !!v))];
  const times = rows.map((r) => r.at);
  const first = times.length ? Math.min(...times) : null;
  const last = times.length ? Math.max(...times) : null;
  const resources = distinct(rows.map((r) => r.resourceId));
  return {
    sessionId,
    ips: distinct(rows.map((r) => r.ip)),
    userAgents: distinct(rows.map((r) => r.userAgent)),
    firstSeen: first,
    lastSeen: last,
    firstSeenIso: first === null ? null : new Date(first).toISOString(),
    lastSeenIso: last === null ? null : new Date(last).toISOString(),
    resources,
    resource: resources[0] ?? null,
    userIds: distinct(rows.map((r) => r.userId)),
    entries: rows.length,
  };
}
