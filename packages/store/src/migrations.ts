import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

/**
 * The migration history, shared by both adapters. Append only: never edit a migration that shipped.
 */
const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('vigil_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('jwks', 'text')
        .addColumn('allowed_origins', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('api_keys_tenant').on('api_keys').column('tenant_id').execute();
      await db.schema
        .createTable('content_keys')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('key_sealed', 'text', (c) => c.notNull())
        .addColumn('iv', 'text', (c) => c.notNull())
        .addColumn('key_period', 'bigint', (c) => c.notNull())
        .addColumn('track_type', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('content_keys_pk', ['tenant_id', 'kid'])
        .execute();
      await db.schema
        .createIndex('content_keys_resource')
        .on('content_keys')
        .columns(['tenant_id', 'resource_id', 'key_period'])
        .execute();
      await db.schema.createIndex('content_keys_expiry').on('content_keys').column('expires_at').execute();
      await db.schema
        .createTable('watermark_configs')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('bans')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addUniqueConstraint('bans_unique_target', ['tenant_id', 'kind', 'value'])
        .execute();
      await db.schema
        .createTable('ban_sightings')
        .addColumn('ban_id', 'text', (c) => c.notNull().references('bans.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('first_seen', 'bigint', (c) => c.notNull())
        .addColumn('last_seen', 'bigint', (c) => c.notNull())
        .addColumn('hits', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('ban_sightings_pk', ['ban_id', 'ip'])
        .execute();
      await db.schema
        .createTable('stats_minutes')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('minute', 'bigint', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('count', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('stats_minutes_pk', ['tenant_id', 'minute', 'outcome'])
        .execute();
    },
  },
  '0002_access_log': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('access_logs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('metadata', 'text')
        .execute();
      await db.schema
        .createIndex('access_logs_session')
        .on('access_logs')
        .columns(['tenant_id', 'session_id', 'at'])
        .execute();
      await db.schema
        .createIndex('access_logs_time')
        .on('access_logs')
        .columns(['tenant_id', 'at'])
        .execute();
      await db.schema
        .createTable('session_tags')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('tag', 'bigint', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('first_seen', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('session_tags_pk', ['tenant_id', 'tag', 'session_id'])
        .execute();
    },
  },
  '0003_live_channels': {
    async up(db: Kysely<unknown>) {
      // A channel's settings and the state an operator asked for (`desired`); the running state is
      // reported by the instance that runs it (`status`, JSON), so `vigil live status` can read it.
      await db.schema
        .createTable('live_channels')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('desired', 'text', (c) => c.notNull())
        .addColumn('status', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('live_channels_pk', ['tenant_id', 'id'])
        .execute();
    },
  },
  '0005_live_key_owner': {
    async up(db: Kysely<unknown>) {
      // What made a content key when it is not the tenant itself: `live:<channel id>` for a live channel's
      // rotating keys. A channel deletes only the keys it owns, never a package's on the same resource.
      await db.schema.alterTable('content_keys').addColumn('owner', 'text').execute();
      await db.schema
        .createIndex('content_keys_owner')
        .on('content_keys')
        .columns(['tenant_id', 'owner'])
        .execute();
      // Keys made by channels before owners were recorded: live keys live for at most about a day (two
      // key periods, window and retention), packaged and hand-made ones for days to years.
      await sql`
        UPDATE content_keys SET owner = (
          SELECT 'live:' || lc.id FROM live_channels lc
          WHERE lc.tenant_id = content_keys.tenant_id AND lc.resource_id = content_keys.resource_id
          ORDER BY lc.id LIMIT 1
        )
        WHERE expires_at - created_at <= ${2 * 86_400_000}
          AND EXISTS (
            SELECT 1 FROM live_channels lc
            WHERE lc.tenant_id = content_keys.tenant_id AND lc.resource_id = content_keys.resource_id
          )
      `.execute(db);
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
