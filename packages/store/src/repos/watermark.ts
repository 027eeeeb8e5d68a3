import { DEFAULT_WATERMARK, type WatermarkConfig } from '@vigil/core';
import { Repository } from './base.ts';

/** Each tenant's watermark configuration (defaults filled in on read). */
export class WatermarkRepo extends Repository {
  async getWatermarkConfig(tenantId: string): Promise<WatermarkConfig> {
    const row = await this.db
      .selectFrom('watermark_configs')
      .select('config')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return row ? { ...DEFAULT_WATERMARK, ...JSON.parse(row.config) } : { ...DEFAULT_WATERMARK };
  }

  async putWatermarkConfig(tenantId: string, config: WatermarkConfig): Promise<void> {
    const now = Date.now();
    const json = JSON.stringify(config);
    await this.db
      .insertInto('watermark_configs')
      .values({ tenant_id: tenantId, config: json, updated_at: now })
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ config: json, updated_at: now }))
      .execute();
    await this.publish(tenantId, 'config');
  }
}
