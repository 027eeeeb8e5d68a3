import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Ban, WatermarkConfig } from '@vigil/core';
import { assertHmacSecret, canonicalBanTarget, DEFAULT_WATERMARK, normalizeIp } from '@vigil/core';
import type { ContentKey, Envelope, TrackType } from '@vigil/keys';
import { type Kysely, Migrator } from 'kysely';
import type { Change, ChangeFeed } from './changes.ts';
import { migrationProvider } from './migrations.ts';
import {
  type AccessLogEntry,
  type AccessLogQuery,
  type ApiKeyRecord,
  accessLogEntryOf,
  apiKeyFromRow,
  banFromRow,
  KEY_INFO_COLUMNS,
  keyInfoOf,
  type LiveChannelRecord,
  type LiveDesired,
  liveChannelFromRow,
  type Role,
  type StatsRow,
  type Tenant,
} from './rows.ts';

export type {
  AccessLogEntry,
  AccessLogQuery,
  ApiKeyRecord,
  BanSighting,
  LiveChannelRecord,
  LiveDesired,
  Role,
  StatsRow,
  Tenant,
} from './rows.ts';
export { ROLES } from './rows.ts';

import type { Database } from './schema.ts';

/** Rows per multi-row INSERT: 500 × 10 columns stays far below PostgreSQL's 65535 bind parameters and SQLite's 32766 variables. */
const INSERT_CHUNK = 500;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The storage port: every read and write Vigil makes, over either adapter. Secrets are sealed with the
 * envelope before they are written and opened after they are read; every write publishes a change.
 */
export class VigilStore {
  constructor(
    readonly db: Kysely<Database>,
    readonly changes: ChangeFeed,
    readonly envelope: Envelope,
    readonly kind: 'sqlite' | 'postgres',
    private readonly closeDb: () => Promise<void>,
  ) {}

  /**
   * Applies pending migrations and checks the master key is the one the data was sealed with.
   * `migrationSchema` (PostgreSQL): the schema of the migration bookkeeping tables, so that another
   * schema's in the same database is never taken for this one's.
   */
  async init(migrationSchema?: string): Promise<void> {
    const { error, results } = await new Migrator({
      db: this.db,
      provider: migrationProvider,
      ...(migrationSchema ? { migrationTableSchema: migrationSchema } : {}),
    }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`database migration ${failed} failed: ${(error as Error).message}`);
    }
    const fingerprint = this.envelope.fingerprint();
    const row = await this.db
      .selectFrom('vigil_meta')
      .select('value')
      .where('key', '=', 'master_key_check')
      .executeTakeFirst();
    if (!row) {
      await this.db
        .insertInto('vigil_meta')
        .values({ key: 'master_key_check', value: fingerprint })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
    } else if (row.value !== fingerprint) {
      throw new Error(
        'the master key does not match the one this data was written with (check VIGIL_MASTER_KEY)',
      );
    }
  }

  async close(): Promise<void> {
    await this.changes.close();
    await this.closeDb();
  }

  private publish(tenantId: string, topic: Change['topic']): Promise<void> {
    return this.changes.publish({ tenantId, topic });
  }

  // ---- tenants

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
    return {
      id: row.id,
      name: row.name,
      secret: this.envelope.open(row.secret_sealed, `tenant-secret:${row.id}`),
      jwks: row.jwks ? JSON.parse(row.jwks) : null,
      allowedOrigins: JSON.parse(row.allowed_origins),
      createdAt: Number(row.created_at),
    };
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
    if (patch.secret) values.secret_sealed = this.envelope.seal(patch.secret, `tenant-secret:${id}`);
    if (patch.jwks !== undefined) values.jwks = patch.jwks ? JSON.stringify(patch.jwks) : null;
    if (patch.allowedOrigins) values.allowed_origins = JSON.stringify(patch.allowedOrigins);
    if (patch.name) values.name = patch.name;
    await this.db.updateTable('tenants').set(values).where('id', '=', id).execute();
    await this.publish(id, 'tenant');
  }

  // ---- API keys

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
    const row = await this.db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row ? apiKeyFromRow(row) : undefined;
  }

  async listApiKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .execute();
    return rows.map(apiKeyFromRow);
  }

  /** Revokes exactly the given keys of a tenant (by hash); returns how many were active. */
  async revokeApiKeysByHash(tenantId: string, hashes: string[]): Promise<number> {
    if (hashes.length === 0) return 0;
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('tenant_id', '=', tenantId)
      .where('hash', 'in', hashes)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    await this.publish(tenantId, 'apikey');
    return Number(result.numUpdatedRows);
  }

  async revokeApiKey(tenantId: string, prefix: string): Promise<number> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('tenant_id', '=', tenantId)
      .where('prefix', '=', prefix)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    await this.publish(tenantId, 'apikey');
    return Number(result.numUpdatedRows);
  }

  // ---- content keys

  /**
   * Stores new keys. `owner` names what made them when that is not the tenant itself (a live channel:
   * `live:<channel id>`); only keys of an owner are ever deleted for that owner (deleteOwnedKeys).
   */
  async putContentKeys(keys: ContentKey[], owner: string | null = null): Promise<void> {
    if (keys.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const k of keys) {
        await tx
          .insertInto('content_keys')
          .values({
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
          })
          .execute();
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
        const values = {
          tenant_id: k.tenantId,
          kid: k.kid,
          resource_id: k.resourceId,
          key_sealed: this.envelope.seal(k.key, `content-key:${k.tenantId}:${k.kid}`),
          iv: k.iv,
          key_period: k.keyPeriod,
          track_type: k.trackType,
          expires_at: k.expiresAt,
          created_at: k.createdAt,
          // Kids chosen by an encoder are the tenant's.
          owner: null,
        };
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
    const row = await this.db
      .selectFrom('content_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('kid', '=', kid)
      .executeTakeFirst();
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

  private contentKeyFromRow(row: Database['content_keys']): ContentKey {
    return {
      tenantId: row.tenant_id,
      kid: row.kid,
      resourceId: row.resource_id,
      key: this.envelope.open(row.key_sealed, `content-key:${row.tenant_id}:${row.kid}`),
      iv: row.iv,
      keyPeriod: Number(row.key_period),
      trackType: row.track_type as TrackType,
      expiresAt: Number(row.expires_at),
      createdAt: Number(row.created_at),
    };
  }

  // ---- watermark config

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

  // ---- bans

  /** Bans a session or an IP; banning the same target again updates reason and expiry. */
  async upsertBan(input: Omit<Ban, 'id' | 'createdAt'>): Promise<Ban> {
    const ban: Ban = {
      ...input,
      value: banValue(input.kind, input.value),
      id: randomUUID(),
      createdAt: Date.now(),
    };
    await this.db
      .insertInto('bans')
      .values({
        id: ban.id,
        tenant_id: ban.tenantId,
        kind: ban.kind,
        value: ban.value,
        reason: ban.reason,
        created_at: ban.createdAt,
        expires_at: ban.expiresAt,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'kind', 'value'])
          .doUpdateSet({ reason: ban.reason, expires_at: ban.expiresAt }),
      )
      .execute();
    await this.publish(ban.tenantId, 'ban');
    const stored = await this.db
      .selectFrom('bans')
      .selectAll()
      .where('tenant_id', '=', ban.tenantId)
      .where('kind', '=', ban.kind)
      .where('value', '=', ban.value)
      .executeTakeFirstOrThrow();
    return banFromRow(stored);
  }

  async activeBans(tenantId: string, now: number): Promise<Ban[]> {
    const rows = await this.db
      .selectFrom('bans')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    return rows.map(banFromRow);
  }

  async deleteBan(tenantId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('bans')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await this.publish(tenantId, 'ban');
    return deleted;
  }

  async deleteBanByTarget(tenantId: string, kind: Ban['kind'], target: string): Promise<boolean> {
    const value = kind === 'ip' ? canonicalBanTarget(target) : target;
    if (value === null) return false;
    const result = await this.db
      .deleteFrom('bans')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('value', '=', value)
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await this.publish(tenantId, 'ban');
    return deleted;
  }

  /** Records that a banned session called from an IP, so an operator can ban that IP too. */
  async recordBanSighting(tenantId: string, banId: string, ip: string, now: number): Promise<void> {
    await this.db
      .insertInto('ban_sightings')
      .values({
        ban_id: banId,
        tenant_id: tenantId,
        ip: normalizeIp(ip),
        first_seen: now,
        last_seen: now,
        hits: 1,
      })
      .onConflict((oc) =>
        oc.columns(['ban_id', 'ip']).doUpdateSet((eb) => ({
          last_seen: now,
          hits: eb(eb.ref('ban_sightings.hits'), '+', 1),
        })),
      )
      .execute();
  }

  async purgeExpiredBans(now: number): Promise<number> {
    const result = await this.db
      .deleteFrom('bans')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // ---- access logs and session tags

  async appendAccessLogs(entries: AccessLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
        await tx
          .insertInto('access_logs')
          .values(
            entries.slice(i, i + INSERT_CHUNK).map((e) => ({
              id: e.id,
              tenant_id: e.tenantId,
              session_id: e.sessionId,
              resource_id: e.resourceId,
              user_id: e.userId,
              ip: normalizeIp(e.ip),
              user_agent: e.userAgent,
              action: e.action,
              at: e.at,
              metadata: e.metadata ? JSON.stringify(e.metadata) : null,
            })),
          )
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      }
    });
  }

  /** Newest first. */
  async queryAccessLogs(tenantId: string, q: AccessLogQuery): Promise<AccessLogEntry[]> {
    let query = this.db.selectFrom('access_logs').selectAll().where('tenant_id', '=', tenantId);
    if (q.sessionId !== undefined) query = query.where('session_id', '=', q.sessionId);
    if (q.action !== undefined) query = query.where('action', '=', q.action);
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    if (q.until !== undefined) query = query.where('at', '<', q.until);
    const rows = await query.orderBy('at', 'desc').orderBy('id').limit(q.limit).execute();
    return rows.map(accessLogEntryOf);
  }

  /** Remembers which session a colour-watermark tag stands for, so a leak can be traced back. */
  async recordSessionTags(
    rows: { tenantId: string; tag: number; sessionId: string; firstSeen: number }[],
  ): Promise<void> {
    if (rows.length === 0) return;
    // In statements of INSERT_CHUNK rows: one statement for a whole batch could pass PostgreSQL's 65535
    // bind parameters (and SQLite's variable limit), failing every flush after it.
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await tx
          .insertInto('session_tags')
          .values(
            rows.slice(i, i + INSERT_CHUNK).map((r) => ({
              tenant_id: r.tenantId,
              tag: r.tag,
              session_id: r.sessionId,
              first_seen: r.firstSeen,
            })),
          )
          .onConflict((oc) => oc.columns(['tenant_id', 'tag', 'session_id']).doNothing())
          .execute();
      }
    });
  }

  async sessionsByTag(tenantId: string, tag: number): Promise<{ sessionId: string; firstSeen: number }[]> {
    const rows = await this.db
      .selectFrom('session_tags')
      .select(['session_id', 'first_seen'])
      .where('tenant_id', '=', tenantId)
      .where('tag', '=', tag)
      .orderBy('first_seen')
      .execute();
    return rows.map((r) => ({ sessionId: r.session_id, firstSeen: Number(r.first_seen) }));
  }

  // ---- stats

  /** Adds per-minute counters (from every instance) into the shared table. */
  async addStats(rows: StatsRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const r of rows) {
        await tx
          .insertInto('stats_minutes')
          .values({ tenant_id: r.tenantId, minute: r.minute, outcome: r.outcome, count: r.count })
          .onConflict((oc) =>
            oc
              .columns(['tenant_id', 'minute', 'outcome'])
              .doUpdateSet((eb) => ({ count: eb(eb.ref('stats_minutes.count'), '+', r.count) })),
          )
          .execute();
      }
    });
  }

  async readStats(tenantId: string, fromMinute: number): Promise<StatsRow[]> {
    const rows = await this.db
      .selectFrom('stats_minutes')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('minute', '>=', fromMinute)
      .orderBy('minute')
      .execute();
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      minute: Number(r.minute),
      outcome: r.outcome,
      count: Number(r.count),
    }));
  }

  // ---- live channels

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

/** An IP ban's target in its one canonical form (so the unique constraint sees one ban per address or range). */
function banValue(kind: Ban['kind'], value: string): string {
  if (kind !== 'ip') return value;
  const canonical = canonicalBanTarget(value);
  if (canonical === null) throw new Error('an IP ban needs an IP address or CIDR range');
  return canonical;
}
