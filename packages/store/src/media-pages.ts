/** Pages of the media pipeline's rows (the list of a tenant's assets). */
import type { AssetRecord, MediaStatus } from './media.ts';
import { assetOf } from './media.ts';
import { keysetPage, type Page, type PageRequest } from './pages.ts';
import type { VigilStore } from './store.ts';

/**
 * A tenant's media assets, newest first (keyset on `created_at, id`, the `media_assets_tenant_created`
 * index), optionally of one status. The cursor is bound to the tenant and the filter.
 */
export function pageAssets(
  store: VigilStore,
  tenantId: string,
  filter: { status?: MediaStatus | undefined },
  req: PageRequest,
): Promise<Page<AssetRecord>> {
  let q = store.db.selectFrom('media_assets').selectAll().where('tenant_id', '=', tenantId);
  if (filter.status !== undefined) q = q.where('status', '=', filter.status);
  const order = {
    list: 'media-assets',
    scope: `${tenantId}:${filter.status ?? '*'}`,
    columns: ['created_at', 'id'],
    types: 'ns',
    direction: 'desc',
  } as const;
  return keysetPage(store, req, order, q, assetOf);
}
