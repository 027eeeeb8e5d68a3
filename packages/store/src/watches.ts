/**
 * Watched restreams and their recent events: created, listed, leased by the instance that runs them
 * (renewed, released), their status and event log.
 */

import {
  newWatchId,
  WATCH_EVENTS_KEPT,
  type WatchEventRecord,
  type WatchRecord,
  watchFromRow,
} from './detection-records.ts';
import { keysetPage, newestFirst, type Page, type PageRequest } from './pages.ts';
import { Repository } from './repos/base.ts';
import type { Database } from './schema.ts';

/** Watches and their event logs, over a VigilStore's database (both adapters). */
export class WatchStore extends Repository {
  async createWatch(input: {
    tenantId: string;
    url: string;
    mode: string;
    autoBan: boolean;
  }): Promise<WatchRecord> {
    const now = Date.now();
    const row: Database['watches'] = {
      tenant_id: input.tenantId,
      id: newWatchId(),
      url: input.url,
      mode: input.mode,
      auto_ban: input.autoBan ? 1 : 0,
      desired: 'running',
      status: JSON.stringify({ state: 'starting' }),
      lease_owner: null,
      lease_until: null,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('watches').values(row).execute();
    return watchFromRow(row);
  }

  async getWatch(tenantId: string, id: string): Promise<WatchRecord | undefined> {
    const row = await this.findRow('watches', tenantId, { id });
    return row && watchFromRow(row);
  }

  /** A tenant's watches, newest first. */
  pageWatches(tenantId: string, req: PageRequest): Promise<Page<WatchRecord>> {
    const q = this.db.selectFrom('watches').selectAll().where('tenant_id', '=', tenantId);
    return keysetPage(this.parts, req, newestFirst('watches', tenantId), q, watchFromRow);
  }

  /** Removes a watch and its events; its runner notices at its next lease renewal. */
  async deleteWatch(tenantId: string, id: string): Promise<boolean> {
    return this.inTransaction(async (tx) => {
      await tx.deleteRows('watch_events', { tenant_id: tenantId, watch_id: id });
      return (await tx.deleteRows('watches', { tenant_id: tenantId, id })) === 1;
    });
  }

  /** Watches to run that nobody holds (or whose holder's lease ran out), taken for `owner`. */
  async claimWatches(owner: string, leaseUntil: number, max: number): Promise<WatchRecord[]> {
    const now = Date.now();
    const candidates = await this.db
      .selectFrom('watches')
      .selectAll()
      .where('desired', '=', 'running')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('created_at')
      .limit(max)
      .execute();
    const taken: WatchRecord[] = [];
    for (const c of candidates) {
      const match = { tenant_id: c.tenant_id, id: c.id, lease_until: c.lease_until };
      const n = await this.updateRows('watches', match, { lease_owner: owner, lease_until: leaseUntil });
      if (n === 1) taken.push(watchFromRow(c));
    }
    return taken;
  }

  /** Renews this owner's lease on a watch; false when the watch is gone, stopped or held by another. */
  async renewWatch(tenantId: string, id: string, owner: string, leaseUntil: number): Promise<boolean> {
    const match = { tenant_id: tenantId, id, lease_owner: owner, desired: 'running' };
    return (await this.updateRows('watches', match, { lease_until: leaseUntil })) === 1;
  }

  async setWatchStatus(
    tenantId: string,
    id: string,
    status: Record<string, unknown>,
    desired?: 'running' | 'stopped',
  ): Promise<void> {
    const set = { status: JSON.stringify(status), updated_at: Date.now(), ...(desired ? { desired } : {}) };
    await this.updateRows('watches', { tenant_id: tenantId, id }, set);
  }

  /** Lets go of this owner's watches (a clean shutdown), so another instance or the next start takes them. */
  async releaseWatches(owner: string): Promise<void> {
    await this.updateRows('watches', { lease_owner: owner }, { lease_owner: null, lease_until: null });
  }

  /** Appends an event, keeping the WATCH_EVENTS_KEPT most recent. */
  async appendWatchEvent(tenantId: string, watchId: string, event: Record<string, unknown>): Promise<void> {
    await this.inTransaction(async (tx) => {
      const [last] = await tx.watchEvents(tenantId, watchId, 1);
      const seq = last ? last.seq + 1 : 1;
      await tx.db
        .insertInto('watch_events')
        .values({ tenant_id: tenantId, watch_id: watchId, seq, at: Date.now(), event: JSON.stringify(event) })
        .execute();
      await tx.db
        .deleteFrom('watch_events')
        .where('tenant_id', '=', tenantId)
        .where('watch_id', '=', watchId)
        .where('seq', '<=', seq - WATCH_EVENTS_KEPT)
        .execute();
    });
  }

  async watchEvents(
    tenantId: string,
    watchId: string,
    limit = WATCH_EVENTS_KEPT,
  ): Promise<WatchEventRecord[]> {
    const match = { tenant_id: tenantId, watch_id: watchId };
    const rows = await this.selectRows('watch_events', match, ['seq desc'], limit);
    return rows.reverse().map((r) => ({
      seq: Number(r.seq),
      at: Number(r.at),
      event: JSON.parse(r.event) as Record<string, unknown>,
    }));
  }
}
