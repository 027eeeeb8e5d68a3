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
    const row = await this.findRow('live_channels', tenantId, { id });
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
    const set = { desired, updated_at: Date.now() };
    return (await this.changeRows('live_channels', tenantId, { id }, { set, topic: 'live' })) > 0;
  }

  /** The running instance's report (no change is published: readers poll it). */
  async setLiveChannelStatus(tenantId: string, id: string, status: Record<string, unknown>): Promise<void> {
    await this.changeRows('live_channels', tenantId, { id }, { set: { status: JSON.stringify(status) } });
  }

  async deleteLiveChannel(tenantId: string, id: string): Promise<boolean> {
    return (await this.changeRows('live_channels', tenantId, { id }, { topic: 'live' })) > 0;
  }
}
