/** Pages of the media pipeline's rows (the list of a tenant's assets). */
import type { AssetRecord, MediaStatus } from './media.ts';
import { assetOf } from './media.ts';
import { keyset, type Page, type PageRequest, readPage } from './pages.ts';
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
  return readPage(
    store,
    'media-assets',
    `${tenantId}:${filter.status ?? '*'}`,
    'ns',
    req,
    (after, take) => {
      let q = store.db.selectFrom('media_assets').selectAll().where('tenant_id', '=', tenantId);
      if (filter.status !== undefined) q = q.where('status', '=', filter.status);
      return keyset(q, ['created_at', 'id'], after, take, 'desc');
    },
    (r) => [Number(r.created_at), r.id],
    assetOf,
  );
}
