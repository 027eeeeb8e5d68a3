import { randomBytes } from 'node:crypto';
import { assertHmacSecret } from '@vigil/core';
import type { Tenant } from '../rows.ts';
import type { Database } from '../schema.ts';
import { Repository } from './base.ts';

/** Tenants: their names, sealed token secret, registered public keys and allowed browser origins. */
export class TenantRepo extends Repository {
  async createTenant(input: {
    id: string;
    name?: string;
    secret?: Buffer;
    allowedOrigins?: string[];
  }): Promise<Tenant> {
    if (input.secret) assertHmacSecret(input.secret, `the secret of tenant "${input.id}"`);
    const now = Date.now();
    // Secrets are strings to the tenant's JWT library: a generated one is random base64url text.
    const secret = input.secret ?? Buffer.from(randomBytes(32).toString('base64url'), 'utf8');
    await this.db
      .insertInto('tenants')
      .values({
        id: input.id,
        name: input.name ?? input.id,
        secret_sealed: this.envelope.seal(secret, `tenant-secret:${input.id}`),
        previous_secret_sealed: null,
        previous_secret_until: null,
        jwks: null,
        allowed_origins: JSON.stringify(input.allowedOrigins ?? ['*']),
        created_at: now,
        updated_at: now,
      })
      .execute();
    await this.publish(input.id, 'tenant');
    return {
      id: input.id,
      name: input.name ?? input.id,
      secret,
      jwks: null,
      allowedOrigins: input.allowedOrigins ?? ['*'],
      createdAt: now,
    };
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    const row = await this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const tenant: Tenant = {
      id: row.id,
      name: row.name,
      secret: this.envelope.open(row.secret_sealed, `tenant-secret:${row.id}`),
      jwks: row.jwks ? JSON.parse(row.jwks) : null,
      allowedOrigins: JSON.parse(row.allowed_origins),
      createdAt: Number(row.created_at),
    };
    if (row.previous_secret_sealed && row.previous_secret_until !== null) {
      tenant.previousSecret = {
        secret: this.envelope.open(row.previous_secret_sealed, `tenant-secret:${row.id}`),
        until: Number(row.previous_secret_until),
      };
    }
    return tenant;
  }

  /**
   * Replaces the tenant's HS256 secret with `secret`; the one it replaces keeps verifying viewer tokens
   * until `previousUntil` (ms), so tokens already handed out play on while the tenant's backend switches.
   * One transaction: a rotation that meets another leaves exactly one of them.
   */
  async rotateTenantSecret(id: string, secret: Buffer, previousUntil: number): Promise<void> {
    assertHmacSecret(secret, `the secret of tenant "${id}"`);
    await this.db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('tenants')
        .select('secret_sealed')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw new Error(`tenant "${id}" does not exist`);
      await tx
        .updateTable('tenants')
        .set({
          secret_sealed: this.envelope.seal(secret, `tenant-secret:${id}`),
          previous_secret_sealed: row.secret_sealed,
          previous_secret_until: previousUntil,
          updated_at: Date.now(),
        })
        .where('id', '=', id)
        .execute();
    });
    await this.publish(id, 'tenant');
  }

  async listTenants(): Promise<{ id: string; name: string; createdAt: number }[]> {
    const rows = await this.db
      .selectFrom('tenants')
      .select(['id', 'name', 'created_at'])
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: Number(r.created_at) }));
  }

  /** Every tenant's allowed browser origins, for answering CORS preflights (which carry no token). */
  async listAllowedOrigins(): Promise<string[]> {
    const rows = await this.db.selectFrom('tenants').select('allowed_origins').execute();
    return [...new Set(rows.flatMap((r) => JSON.parse(r.allowed_origins) as string[]))];
  }

  async updateTenant(
    id: string,
    patch: { secret?: Buffer; jwks?: Tenant['jwks']; allowedOrigins?: string[]; name?: string },
  ): Promise<void> {
    if (patch.secret) assertHmacSecret(patch.secret, `the secret of tenant "${id}"`);
    const values: Partial<Database['tenants']> = { updated_at: Date.now() };
    if (patch.secret) {
      // A secret set outright (the server's configuration) replaces the old one at once.
      values.secret_sealed = this.envelope.seal(patch.secret, `tenant-secret:${id}`);
      values.previous_secret_sealed = null;
      values.previous_secret_until = null;
    }
    if (patch.jwks !== undefined) values.jwks = patch.jwks ? JSON.stringify(patch.jwks) : null;
    if (patch.allowedOrigins) values.allowed_origins = JSON.stringify(patch.allowedOrigins);
    if (patch.name) values.name = patch.name;
    await this.db.updateTable('tenants').set(values).where('id', '=', id).execute();
    await this.publish(id, 'tenant');
  }
}
