import type { StatsRow } from '../rows.ts';
import { Repository } from './base.ts';

/** Per-minute counters of license outcomes, summed over every instance. */
export class StatsRepo extends Repository {
  /** Adds per-minute counters (from every instance) into the shared table. */
  async addStats(rows: StatsRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const r of rows) {
        await tx
          .insertInto('stats_minutes')
          .values({ tenant_id: r.tenantId, minute: r.minute, outcome: r.outcome, count: r.count })
          .onConflict((oc) =>
            oc
              .columns(['tenant_id', 'minute', 'outcome'])
              .doUpdateSet((eb) => ({ count: eb(eb.ref('stats_minutes.count'), '+', r.count) })),
          )
          .execute();
      }
    });
  }

  async readStats(tenantId: string, fromMinute: number): Promise<StatsRow[]> {
    const rows = await this.db
      .selectFrom('stats_minutes')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('minute', '>=', fromMinute)
      .orderBy('minute')
      .execute();
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      minute: Number(r.minute),
      outcome: r.outcome,
      count: Number(r.count),
    }));
  }
}
