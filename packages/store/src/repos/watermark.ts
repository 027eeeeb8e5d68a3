import { DEFAULT_WATERMARK, type WatermarkConfig } from '@vigil/core';
import { Repository } from './base.ts';

/** Each tenant's watermark configuration (defaults filled in on read). */
export class WatermarkRepo extends Repository {
  async getWatermarkConfig(tenantId: string): Promise<WatermarkConfig> {
    const row = await this.firstRow('watermark_configs', { tenant_id: tenantId });
    return row ? { ...DEFAULT_WATERMARK, ...JSON.parse(row.config) } : { ...DEFAULT_WATERMARK };
  }

  async putWatermarkConfig(tenantId: string, config: WatermarkConfig): Promise<void> {
    const now = Date.now();
    const json = JSON.stringify(config);
    const row = { tenant_id: tenantId, config: json, updated_at: now };
    await this.upsertRow('watermark_configs', row, ['tenant_id'], { config: json, updated_at: now });
    await this.publish(tenantId, 'config');
  }
}
