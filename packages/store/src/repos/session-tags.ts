import { Repository } from './base.ts';

/** Colour-watermark tags and the sessions they were drawn for. */
export class SessionTagRepo extends Repository {
  /** Remembers which session a colour-watermark tag stands for, so a leak can be traced back. */
  async recordSessionTags(
    rows: { tenantId: string; tag: number; sessionId: string; firstSeen: number }[],
  ): Promise<void> {
    const values = rows.map((r) => ({
      tenant_id: r.tenantId,
      tag: r.tag,
      session_id: r.sessionId,
      first_seen: r.firstSeen,
    }));
    await this.insertChunked('session_tags', values, ['tenant_id', 'tag', 'session_id']);
  }

  async sessionsByTag(tenantId: string, tag: number): Promise<{ sessionId: string; firstSeen: number }[]> {
    const rows = await this.db
      .selectFrom('session_tags')
      .select(['session_id', 'first_seen'])
      .where('tenant_id', '=', tenantId)
      .where('tag', '=', tag)
      .orderBy('first_seen')
      .execute();
    return rows.map((r) => ({ sessionId: r.session_id, firstSeen: Number(r.first_seen) }));
  }
}
