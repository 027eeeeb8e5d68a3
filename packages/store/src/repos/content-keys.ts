import type { ContentKey } from '@vigil/keys';
import { KEY_INFO_COLUMNS, keyInfoOf } from '../rows.ts';
import type { Database } from '../schema.ts';
import { Repository } from './base.ts';

/** Content keys, sealed under the master key with their (tenant, kid) as associated data. */
export class ContentKeyRepo extends Repository {
  /**
   * Stores new keys. `owner` names what made them when that is not the tenant itself (a live channel:
   * `live:<channel id>`); only keys of an owner are ever deleted for that owner (deleteOwnedKeys).
   */
  async putContentKeys(keys: ContentKey[], owner: string | null = null): Promise<void> {
    if (keys.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const k of keys) {
        await tx.insertInto('content_keys').values(this.keyRow(k, owner)).execute();
      }
    });
    for (const tenantId of new Set(keys.map((k) => k.tenantId))) await this.publish(tenantId, 'key');
  }

  /**
   * Stores keys whose kids the caller chose (SPEKE encoders pick kids, and retry): a kid the tenant already
   * has keeps its stored key, unless that one has expired, which is replaced. Returns the keys as stored, in
   * order, so a repeated request gets the same key bytes.
   */
  async putContentKeysIfAbsent(keys: ContentKey[]): Promise<ContentKey[]> {
    if (keys.length === 0) return [];
    const now = Date.now();
    const changed = new Set<string>();
    const stored = await this.db.transaction().execute(async (tx) => {
      const out: ContentKey[] = [];
      for (const k of keys) {
        // Kids chosen by an encoder are the tenant's.
        const values = this.keyRow(k, null);
        const { tenant_id: _t, kid: _k, ...replacement } = values;
        const result = await tx
          .insertInto('content_keys')
          .values(values)
          .onConflict((oc) =>
            oc
              .columns(['tenant_id', 'kid'])
              .doUpdateSet(replacement)
              .where('content_keys.expires_at', '<=', now),
          )
          .executeTakeFirst();
        if (Number(result.numInsertedOrUpdatedRows ?? 0n) > 0) changed.add(k.tenantId);
        const row = await tx
          .selectFrom('content_keys')
          .selectAll()
          .where('tenant_id', '=', k.tenantId)
          .where('kid', '=', k.kid)
          .executeTakeFirstOrThrow();
        out.push(this.contentKeyFromRow(row));
      }
      return out;
    });
    for (const tenantId of changed) await this.publish(tenantId, 'key');
    return stored;
  }

  async getContentKey(tenantId: string, kid: string): Promise<ContentKey | undefined> {
    const row = await this.findRow('content_keys', tenantId, { kid });
    return row ? this.contentKeyFromRow(row) : undefined;
  }

  async listContentKeys(
    tenantId: string,
    resourceId: string,
  ): Promise<(Omit<ContentKey, 'key'> & { owner: string | null })[]> {
    const rows = await this.db
      .selectFrom('content_keys')
      .select([...KEY_INFO_COLUMNS, 'owner'])
      .where('tenant_id', '=', tenantId)
      .where('resource_id', '=', resourceId)
      .orderBy('key_period')
      .orderBy('track_type')
      .execute();
    return rows.map((r) => ({ ...keyInfoOf(r), owner: r.owner ?? null }));
  }

  async purgeExpiredKeys(now: number): Promise<number> {
    const result = await this.db.deleteFrom('content_keys').where('expires_at', '<=', now).executeTakeFirst();
    const n = Number(result.numDeletedRows);
    if (n > 0) await this.changes.publish({ tenantId: '*', topic: 'key' });
    return n;
  }

  /**
   * Deletes the keys one owner made (a stopped live channel's, `live:<channel id>`): the key server stops
   * answering for them. Keys of the same resource made by anyone else (a package, `vigil keys create`,
   * SPEKE) are never touched.
   */
  async deleteOwnedKeys(tenantId: string, owner: string): Promise<number> {
    if (owner === '') throw new Error('deleteOwnedKeys needs an owner');
    const result = await this.db
      .deleteFrom('content_keys')
      .where('tenant_id', '=', tenantId)
      .where('owner', '=', owner)
      .executeTakeFirst();
    const n = Number(result.numDeletedRows);
    if (n > 0) await this.publish(tenantId, 'key-deleted');
    return n;
  }

  /** A key's row: the key sealed under the master key with its (tenant, kid) as associated data. */
  private keyRow(k: ContentKey, owner: string | null): Database['content_keys'] {
    return {
      tenant_id: k.tenantId,
      kid: k.kid,
      resource_id: k.resourceId,
      key_sealed: this.envelope.seal(k.key, `content-key:${k.tenantId}:${k.kid}`),
      iv: k.iv,
      key_period: k.keyPeriod,
      track_type: k.trackType,
      expires_at: k.expiresAt,
      created_at: k.createdAt,
      owner,
    };
  }

  private contentKeyFromRow(row: Database['content_keys']): ContentKey {
    return {
      ...keyInfoOf(row),
      key: this.envelope.open(row.key_sealed, `content-key:${row.tenant_id}:${row.kid}`),
    };
  }
}
