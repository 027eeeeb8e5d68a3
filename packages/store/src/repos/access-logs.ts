import { normalizeIp } from '@vigil/core';
import { type AccessLogEntry, type AccessLogQuery, accessLogEntryOf } from '../rows.ts';
import { Repository } from './base.ts';

/** The access log: every grant, refusal, heartbeat and tamper report, by session. */
export class AccessLogRepo extends Repository {
  async appendAccessLogs(entries: AccessLogEntry[]): Promise<void> {
    const rows = entries.map((e) => ({
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
    }));
    await this.insertChunked('access_logs', rows, ['id']);
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
