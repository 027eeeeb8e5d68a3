import { normalizeIp } from '@vigil/core';
import { type AccessLogEntry, type AccessLogQuery, accessLogEntryOf } from '../rows.ts';
import { INSERT_CHUNK, Repository } from './base.ts';

/** The access log: every grant, refusal, heartbeat and tamper report, by session. */
export class AccessLogRepo extends Repository {
  async appendAccessLogs(entries: AccessLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
        await tx
          .insertInto('access_logs')
          .values(
            entries.slice(i, i + INSERT_CHUNK).map((e) => ({
              id: e.id,
              tenant_id: e.tenantId,
              session_id: e.sessionId,
              resource_id: e.resourceId,
              user_id: e.userId,
              ip: normalizeIp(e.ip),
              user_agent: e.userAgent,
              action: e.action,
              at: e.at,
              metadata: e.metadata ? JSON.stringify(e.metadata) : null,
            })),
          )
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      }
    });
  }

  /** Newest first. */
  async queryAccessLogs(tenantId: string, q: AccessLogQuery): Promise<AccessLogEntry[]> {
    let query = this.db.selectFrom('access_logs').selectAll().where('tenant_id', '=', tenantId);
    if (q.sessionId !== undefined) query = query.where('session_id', '=', q.sessionId);
    if (q.action !== undefined) query = query.where('action', '=', q.action);
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    if (q.until !== undefined) query = query.where('at', '<', q.until);
    const rows = await query.orderBy('at', 'desc').orderBy('id').limit(q.limit).execute();
    return rows.map(accessLogEntryOf);
  }
}
