import { type LiveChannelRecord, type LiveDesired, liveChannelFromRow } from '../rows.ts';
import { Repository } from './base.ts';

/** Live channels as desired state (settings and running/stopped) plus the running instance's report. */
export class LiveChannelRepo extends Repository {
  /** Creates a channel or replaces its settings; its desired state is set as given. */
  async putLiveChannel(input: Omit<LiveChannelRecord, 'status' | 'createdAt' | 'updatedAt'>): Promise<void> {
    const now = Date.now();
    const settings = JSON.stringify(input.settings);
    await this.db
      .insertInto('live_channels')
      .values({
        tenant_id: input.tenantId,
        id: input.id,
        resource_id: input.resourceId,
        settings,
        desired: input.desired,
        status: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'id'])
          .doUpdateSet({ resource_id: input.resourceId, settings, desired: input.desired, updated_at: now }),
      )
      .execute();
    await this.publish(input.tenantId, 'live');
  }

  async getLiveChannel(tenantId: string, id: string): Promise<LiveChannelRecord | undefined> {
    const row = await this.db
      .selectFrom('live_channels')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? liveChannelFromRow(row) : undefined;
  }

  /** One tenant's channels, or every tenant's (for the instance that runs them). */
  async listLiveChannels(tenantId?: string): Promise<LiveChannelRecord[]> {
    let q = this.db.selectFrom('live_channels').selectAll();
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const rows = await q.orderBy('tenant_id').orderBy('id').execute();
    return rows.map(liveChannelFromRow);
  }

  async setLiveChannelDesired(tenantId: string, id: string, desired: LiveDesired): Promise<boolean> {
    const result = await this.db
      .updateTable('live_channels')
      .set({ desired, updated_at: Date.now() })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    const changed = Number(result.numUpdatedRows) > 0;
    if (changed) await this.publish(tenantId, 'live');
    return changed;
  }

  /** The running instance's report (no change is published: readers poll it). */
  async setLiveChannelStatus(tenantId: string, id: string, status: Record<string, unknown>): Promise<void> {
    await this.db
      .updateTable('live_channels')
      .set({ status: JSON.stringify(status) })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  async deleteLiveChannel(tenantId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('live_channels')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await this.publish(tenantId, 'live');
    return deleted;
  }
}
