import { INSERT_CHUNK, Repository } from './base.ts';

/** Colour-watermark tags and the sessions they were drawn for. */
export class SessionTagRepo extends Repository {
  /** Remembers which session a colour-watermark tag stands for, so a leak can be traced back. */
  async recordSessionTags(
    rows: { tenantId: string; tag: number; sessionId: string; firstSeen: number }[],
  ): Promise<void> {
    if (rows.length === 0) return;
    // In statements of INSERT_CHUNK rows: one statement for a whole batch could pass PostgreSQL's 65535
    // bind parameters (and SQLite's variable limit), failing every flush after it.
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await tx
          .insertInto('session_tags')
          .values(
            rows.slice(i, i + INSERT_CHUNK).map((r) => ({
              tenant_id: r.tenantId,
              tag: r.tag,
              session_id: r.sessionId,
              first_seen: r.firstSeen,
            })),
          )
          .onConflict((oc) => oc.columns(['tenant_id', 'tag', 'session_id']).doNothing())
          .execute();
      }
    });
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
