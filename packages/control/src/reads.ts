import { type PageRequest, pageAccessLogs, pageSessionsByTag } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import type { StoreDeps } from './deps.ts';
import { invalid } from './errors.ts';

/**
 * What the license path recorded, read back: the access log, the sessions behind a colour tag, the
 * per-minute statistics. `flush` writes what is still buffered in memory first.
 */
export interface RecordsDeps extends StoreDeps {
  flush?: (() => Promise<void>) | undefined;
}

export interface AccessLogQuery {
  sessionId?: string | undefined;
  action?: string | undefined;
  /** RFC 3339 date-times. */
  since?: string | undefined;
  until?: string | undefined;
}

const time = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw invalid('invalid_request', `"${name}" must be a date-time`);
  return ms;
};

/** One page of the tenant's access log, newest first. */
export async function readAccessLogs(deps: RecordsDeps, actor: Actor, q: AccessLogQuery, page: PageRequest) {
  requireRole(actor, 'readonly');
  const filter = {
    sessionId: q.sessionId,
    action: q.action,
    since: time('since', q.since),
    until: time('until', q.until),
  };
  await deps.flush?.();
  return pageAccessLogs(deps.store, actor.tenantId, filter, page);
}

/** One page of the sessions whose colour watermark shows `tag` (leak tracing), first seen first. */
export async function sessionsByTag(deps: RecordsDeps, actor: Actor, tag: number, page: PageRequest) {
  requireRole(actor, 'readonly');
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff)
    throw invalid('invalid_request', '"tag" must be a whole number from 0 to 4294967295');
  await deps.flush?.();
  return pageSessionsByTag(deps.store, actor.tenantId, tag, page);
}

export interface StatsMinute {
  /** Start of the minute, ms since the epoch. */
  minute: number;
  granted: number;
  denied: number;
  denials: Record<string, number>;
}

export interface StatsDeps {
  /** The last `count` minutes of a tenant's license outcomes, oldest first. */
  minutes(tenantId: string, count: number): Promise<StatsMinute[]>;
}

/** License outcomes of the last `minutes` minutes (default 60, at most a day), with their totals. */
export async function readStats(deps: StatsDeps, actor: Actor, input: { minutes?: number | undefined }) {
  requireRole(actor, 'readonly');
  const count = input.minutes ?? 60;
  if (!Number.isInteger(count) || count < 1 || count > 1440)
    throw invalid('invalid_request', '"minutes" must be a whole number from 1 to 1440');
  const minutes = await deps.minutes(actor.tenantId, count);
  const totals = { granted: 0, denied: 0, denials: {} as Record<string, number> };
  for (const m of minutes) {
    totals.granted += m.granted;
    totals.denied += m.denied;
    for (const [reason, n] of Object.entries(m.denials))
      totals.denials[reason] = (totals.denials[reason] ?? 0) + n;
  }
  return { minutes, totals };
}
