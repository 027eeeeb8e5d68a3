import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type ApiKeyRecord, apiKeyFromRow, type Role } from '../rows.ts';
import { Repository } from './base.ts';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Control-API keys, stored as SHA-256 hashes only. */
export class ApiKeyRepo extends Repository {
  /** Creates an API key; the key itself is returned once and only its hash is stored. */
  async createApiKey(
    tenantId: string,
    role: Role,
    name: string,
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    return this.storeApiKey(tenantId, role, name, `vk_${randomBytes(24).toString('base64url')}`);
  }

  /** Stores a key chosen by the operator (VIGIL_API_KEY); idempotent, and never undoes a revocation. */
  async storeApiKey(
    tenantId: string,
    role: Role,
    name: string,
    key: string,
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    const record: ApiKeyRecord = {
      hash: hashApiKey(key),
      tenantId,
      prefix: key.slice(0, 8),
      name,
      role,
      createdAt: Date.now(),
      revokedAt: null,
    };
    await this.db
      .insertInto('api_keys')
      .values({
        hash: record.hash,
        tenant_id: tenantId,
        prefix: record.prefix,
        name,
        role,
        created_at: record.createdAt,
        revoked_at: null,
      })
      // A revoked key stays revoked: seeding it again at the next start must not bring it back.
      .onConflict((oc) => oc.column('hash').doUpdateSet({ role, name, tenant_id: tenantId }))
      .execute();
    await this.publish(tenantId, 'apikey');
    return { key, record };
  }

  async findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.firstRow('api_keys', { hash });
    return row ? apiKeyFromRow(row) : undefined;
  }

  async listApiKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    return (await this.selectRows('api_keys', { tenant_id: tenantId }, ['created_at'])).map(apiKeyFromRow);
  }

  /** Revokes exactly the given keys of a tenant (by hash); returns how many were active. */
  async revokeApiKeysByHash(tenantId: string, hashes: string[]): Promise<number> {
    if (hashes.length === 0) return 0;
    return this.revokeWhere(tenantId, 'hash', hashes);
  }

  async revokeApiKey(tenantId: string, prefix: string): Promise<number> {
    return this.revokeWhere(tenantId, 'prefix', [prefix]);
  }

  /** Marks the tenant's active keys whose `column` is one of `values` revoked; returns how many were. */
  private async revokeWhere(tenantId: string, column: 'hash' | 'prefix', values: string[]): Promise<number> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('tenant_id', '=', tenantId)
      .where(column, 'in', values)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    await this.publish(tenantId, 'apikey');
    return Number(result.numUpdatedRows);
  }
}
