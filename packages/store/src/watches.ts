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
import { type Page, type PageRequest, readPage, rowCompare } from './pages.ts';
import type { Database } from './schema.ts';
import type { VigilStore } from './store.ts';

export class WatchStore {
  constructor(readonly store: VigilStore) {}

  get #db() {
    return this.store.db;
  }

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
    await this.#db.insertInto('watches').values(row).execute();
    return watchFromRow(row);
  }

  async getWatch(tenantId: string, id: string): Promise<WatchRecord | undefined> {
    const row = await this.#db
      .selectFrom('watches')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && watchFromRow(row);
  }

  /** A tenant's watches, newest first. */
  pageWatches(tenantId: string, req: PageRequest): Promise<Page<WatchRecord>> {
    return readPage(
      this.store,
      'watches',
      tenantId,
      'ns',
      req,
      (after, take) => {
        let q = this.#db.selectFrom('watches').selectAll().where('tenant_id', '=', tenantId);
        if (after) q = q.where(rowCompare(['created_at', 'id'], '<', after));
        return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(take).execute();
      },
      (r) => [Number(r.created_at), r.id],
      watchFromRow,
    );
  }

  /** Removes a watch and its events; its runner notices at its next lease renewal. */
  async deleteWatch(tenantId: string, id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      await tx
        .deleteFrom('watch_events')
        .where('tenant_id', '=', tenantId)
        .where('watch_id', '=', id)
        .execute();
      const r = await tx
        .deleteFrom('watches')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    });
  }

  /** Watches to run that nobody holds (or whose holder's lease ran out), taken for `owner`. */
  async claimWatches(owner: string, leaseUntil: number, max: number): Promise<WatchRecord[]> {
    const now = Date.now();
    const candidates = await this.#db
      .selectFrom('watches')
      .selectAll()
      .where('desired', '=', 'running')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('created_at')
      .limit(max)
      .execute();
    const taken: WatchRecord[] = [];
    for (const c of candidates) {
      let q = this.#db
        .updateTable('watches')
        .set({ lease_owner: owner, lease_until: leaseUntil })
        .where('tenant_id', '=', c.tenant_id)
        .where('id', '=', c.id);
      q =
        c.lease_until === null
          ? q.where('lease_until', 'is', null)
          : q.where('lease_until', '=', c.lease_until);
      const r = await q.executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) taken.push(watchFromRow(c));
    }
    return taken;
  }

  /** Renews this owner's lease on a watch; false when the watch is gone, stopped or held by another. */
  async renewWatch(tenantId: string, id: string, owner: string, leaseUntil: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('watches')
      .set({ lease_until: leaseUntil })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('desired', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setWatchStatus(
    tenantId: string,
    id: string,
    status: Record<string, unknown>,
    desired?: 'running' | 'stopped',
  ): Promise<void> {
    await this.#db
      .updateTable('watches')
      .set({ status: JSON.stringify(status), updated_at: Date.now(), ...(desired ? { desired } : {}) })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  /** Lets go of this owner's watches (a clean shutdown), so another instance or the next start takes them. */
  async releaseWatches(owner: string): Promise<void> {
    await this.#db
      .updateTable('watches')
      .set({ lease_owner: null, lease_until: null })
      .where('lease_owner', '=', owner)
      .execute();
  }

  /** Appends an event, keeping the WATCH_EVENTS_KEPT most recent. */
  async appendWatchEvent(tenantId: string, watchId: string, event: Record<string, unknown>): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      const last = await tx
        .selectFrom('watch_events')
        .select('seq')
        .where('tenant_id', '=', tenantId)
        .where('watch_id', '=', watchId)
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const seq = last ? Number(last.seq) + 1 : 1;
      await tx
        .insertInto('watch_events')
        .values({ tenant_id: tenantId, watch_id: watchId, seq, at: Date.now(), event: JSON.stringify(event) })
        .execute();
      await tx
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
    const rows = await this.#db
      .selectFrom('watch_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('watch_id', '=', watchId)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().map((r) => ({
      seq: Number(r.seq),
      at: Number(r.at),
      event: JSON.parse(r.event) as Record<string, unknown>,
    }));
  }
}
