import { canonicalBanTarget, normalizeIp } from '@vigil/core';
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
  '0006_addr_canonical_addresses': {
    // Addresses used to be stored as typed (`2001:0DB8:0000::0001`, `::ffff:203.0.113.9`); they are now
    // compared in one canonical form (see @vigil/core ip.ts), so stored ones are rewritten to it. IP bans
    // that become the same target are merged into one: the one already canonical (else the oldest),
    // permanent if any was, else expiring last, with their sightings added together.
    async up(db: Kysely<unknown>) {
      const t = db as unknown as Kysely<AddressTables>;
      const ipBans = await t
        .selectFrom('bans')
        .select(['id', 'tenant_id', 'value', 'created_at', 'expires_at'])
        .where('kind', '=', 'ip')
        .execute();
      const groups = new Map<string, { canonical: string; members: typeof ipBans }>();
      for (const ban of ipBans) {
        const canonical = canonicalBanTarget(ban.value);
        if (canonical === null) continue;
        const key = `${ban.tenant_id}\n${canonical}`;
        const group = groups.get(key) ?? { canonical, members: [] };
        group.members.push(ban);
        groups.set(key, group);
      }
      /** Ban id → the ban it is merged into. */
      const mergedInto = new Map<string, string>();
      const rewrites: { id: string; value: string; expiresAt: number | null }[] = [];
      for (const { canonical, members } of groups.values()) {
        if (members.length === 1 && members[0]!.value === canonical) continue;
        const keeper =
          members.find((m) => m.value === canonical) ??
          [...members].sort((a, b) => Number(a.created_at) - Number(b.created_at))[0]!;
        const expiries = members.map((m) => (m.expires_at === null ? null : Number(m.expires_at)));
        const expiresAt = expiries.includes(null) ? null : Math.max(...(expiries as number[]));
        for (const m of members) if (m.id !== keeper.id) mergedInto.set(m.id, keeper.id);
        rewrites.push({ id: keeper.id, value: canonical, expiresAt });
      }

      // Sightings first (a merged ban's go to the ban it joins), before the merged bans go.
      const sightings = await t.selectFrom('ban_sightings').selectAll().execute();
      const merged = new Map<string, { row: (typeof sightings)[number]; sources: typeof sightings }>();
      for (const s of sightings) {
        const banId = mergedInto.get(s.ban_id) ?? s.ban_id;
        const ip = normalizeIp(s.ip);
        const key = `${banId}\n${ip}`;
        const entry = merged.get(key);
        if (!entry) {
          merged.set(key, { row: { ...s, ban_id: banId, ip }, sources: [s] });
          continue;
        }
        entry.sources.push(s);
        entry.row.first_seen = Math.min(Number(entry.row.first_seen), Number(s.first_seen));
        entry.row.last_seen = Math.max(Number(entry.row.last_seen), Number(s.last_seen));
        entry.row.hits = Number(entry.row.hits) + Number(s.hits);
      }
      const changed = [...merged.values()].filter(
        ({ row, sources }) =>
          sources.length > 1 || sources[0]!.ban_id !== row.ban_id || sources[0]!.ip !== row.ip,
      );
      for (const { sources } of changed) {
        for (const s of sources) {
          await t.deleteFrom('ban_sightings').where('ban_id', '=', s.ban_id).where('ip', '=', s.ip).execute();
        }
      }
      for (const { row } of changed) {
        await t
          .insertInto('ban_sightings')
          .values({
            ...row,
            first_seen: Number(row.first_seen),
            last_seen: Number(row.last_seen),
            hits: Number(row.hits),
          })
          .execute();
      }

      for (const id of mergedInto.keys()) await t.deleteFrom('bans').where('id', '=', id).execute();
      for (const r of rewrites) {
        await t
          .updateTable('bans')
          .set({ value: r.value, expires_at: r.expiresAt })
          .where('id', '=', r.id)
          .execute();
      }

      // Access logs: only IPv6 (and IPv4-mapped) entries can be written otherwise; page through them.
      let after = '';
      for (;;) {
        const rows = await t
          .selectFrom('access_logs')
          .select(['id', 'ip'])
          .where('ip', 'like', '%:%')
          .where('id', '>', after)
          .orderBy('id')
          .limit(1000)
          .execute();
        for (const row of rows) {
          const ip = normalizeIp(row.ip);
          if (ip !== row.ip)
            await t.updateTable('access_logs').set({ ip }).where('id', '=', row.id).execute();
        }
        if (rows.length < 1000) break;
        after = rows[rows.length - 1]!.id;
      }
    },
  },
  '0006_addr_keyed_color_tags': {
    // Colour tags used to be an unkeyed hash of the session id, which anyone could compute and paint over
    // a restream to frame another viewer. Tags are now keyed per tenant; the old rows can't be trusted.
    async up(db: Kysely<unknown>) {
      await (db as unknown as Kysely<AddressTables>).deleteFrom('session_tags').execute();
    },
  },
  '0007_bounds_indexes': {
    // What paginated lists (keyset order), retention purges (time) and filtered queries read by.
    async up(db: Kysely<unknown>) {
      const index = (name: string, table: string, columns: string[]) =>
        db.schema.createIndex(name).ifNotExists().on(table).columns(columns).execute();
      await index('bans_tenant_created', 'bans', ['tenant_id', 'created_at', 'id']);
      await index('bans_expiry', 'bans', ['expires_at']);
      await index('api_keys_tenant_created', 'api_keys', ['tenant_id', 'created_at', 'hash']);
      await index('access_logs_at', 'access_logs', ['at']);
      await index('access_logs_action', 'access_logs', ['tenant_id', 'action', 'at']);
      await index('session_tags_first_seen', 'session_tags', ['first_seen']);
      await index('session_tags_tag', 'session_tags', ['tenant_id', 'tag', 'first_seen']);
      await index('stats_minutes_minute', 'stats_minutes', ['minute']);
      await index('ban_sightings_last_seen', 'ban_sightings', ['last_seen']);
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
  '0008_con_operators': {
    // Console operators (password hashes only) and their sessions (cookie hashes only).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('operators')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('operators_pk', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('console_sessions')
        .ifNotExists()
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('operator_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text', (c) => c.notNull())
        .execute();
      const index = (name: string, table: string, columns: string[]) =>
        db.schema.createIndex(name).ifNotExists().on(table).columns(columns).execute();
      await index('operators_tenant_created', 'operators', ['tenant_id', 'created_at', 'name']);
      await index('console_sessions_operator', 'console_sessions', ['tenant_id', 'operator_name']);
      await index('console_sessions_expiry', 'console_sessions', ['expires_at']);
      await index('console_sessions_last_seen', 'console_sessions', ['last_seen_at']);
    },
  },
  '0008_con_signin_failures': {
    // Sign-in throttling shared by every instance on one database.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('signin_failures')
        .ifNotExists()
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('last_at', 'bigint', (c) => c.notNull())
        .addColumn('blocked_until', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('signin_failures_last_at')
        .ifNotExists()
        .on('signin_failures')
        .column('last_at')
        .execute();
    },
  },
  '0008_det_tables': {
    // Leak tracing: detection jobs (a persisted queue), watched restreams and their recent events, and
    // each tenant's leak policy.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('detections')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('source_kind', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('progress', 'integer', (c) => c.notNull())
        .addColumn('footage_seconds', 'integer', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('error', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint('detections_pk', ['tenant_id', 'id'])
        .execute();
      await db.schema
        .createIndex('detections_tenant_created')
        .ifNotExists()
        .on('detections')
        .columns(['tenant_id', 'created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('detections_status')
        .ifNotExists()
        .on('detections')
        .columns(['status', 'created_at'])
        .execute();
      await db.schema
        .createTable('watches')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('auto_ban', 'integer', (c) => c.notNull())
        .addColumn('desired', 'text', (c) => c.notNull())
        .addColumn('status', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('watches_pk', ['tenant_id', 'id'])
        .execute();
      await db.schema
        .createIndex('watches_tenant_created')
        .ifNotExists()
        .on('watches')
        .columns(['tenant_id', 'created_at', 'id'])
        .execute();
      await db.schema
        .createTable('watch_events')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('watch_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('watch_events_pk', ['tenant_id', 'watch_id', 'seq'])
        .execute();
      await db.schema
        .createTable('leak_policies')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0008_med_media': {
    // The media pipeline: chunked uploads, their chunks, assets and the embedded processing queue.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('media_uploads')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('filename', 'text', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('file_size', 'bigint', (c) => c.notNull())
        .addColumn('chunk_size', 'bigint', (c) => c.notNull())
        .addColumn('total_chunks', 'integer', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text')
        .addColumn('asset_id', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('media_uploads_expiry')
        .ifNotExists()
        .on('media_uploads')
        .columns(['status', 'expires_at'])
        .execute();
      await db.schema
        .createTable('media_upload_chunks')
        .ifNotExists()
        .addColumn('upload_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('media_upload_chunks_pk', ['upload_id', 'idx'])
        .execute();
      await db.schema
        .createTable('media_assets')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('upload_id', 'text')
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('uploader_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('progress', 'integer', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('source_key', 'text', (c) => c.notNull())
        .addColumn('source_size', 'bigint', (c) => c.notNull())
        .addColumn('source_sha256', 'text', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text')
        .addColumn('variants', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('media_assets_tenant_created')
        .ifNotExists()
        .on('media_assets')
        .columns(['tenant_id', 'created_at', 'id'])
        .execute();
      await db.schema
        .createTable('media_jobs')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('run_at', 'bigint', (c) => c.notNull())
        .addColumn('locked_by', 'text')
        .addColumn('locked_until', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('media_jobs_due')
        .ifNotExists()
        .on('media_jobs')
        .columns(['status', 'run_at'])
        .execute();
      await db.schema
        .createIndex('media_jobs_asset')
        .ifNotExists()
        .on('media_jobs')
        .columns(['asset_id', 'created_at'])
        .execute();
    },
  },
  '0008_med_protection': {
    // License usage policies of assets, and the recent licenses that concurrent-stream limits count.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('media_policies')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('media_policies_pk', ['tenant_id', 'asset_id'])
        .execute();
      await db.schema
        .createTable('media_streams')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('last_seen', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('media_streams_pk', ['tenant_id', 'user_id', 'device_id'])
        .execute();
      await db.schema
        .createIndex('media_streams_last_seen')
        .ifNotExists()
        .on('media_streams')
        .column('last_seen')
        .execute();
    },
  },
  '0009_mapi_watermarks': {
    // Per-asset watermark configs, and the access log read by asset (GET /v1/media/{id}/access-logs).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('media_watermarks')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('watermark_id', 'text', (c) => c.notNull())
        .addColumn('seed', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('media_watermarks_pk', ['tenant_id', 'asset_id'])
        .execute();
      await db.schema
        .createIndex('access_logs_resource')
        .ifNotExists()
        .on('access_logs')
        .columns(['tenant_id', 'resource_id', 'at'])
        .execute();
    },
  },
  '0009_mapi_cloudfront': {
    // A tenant's CloudFront signer for stream-url (the private key sealed with the master key).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('media_cloudfront')
        .ifNotExists()
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('key_pair_id', 'text', (c) => c.notNull())
        .addColumn('private_key_sealed', 'text', (c) => c.notNull())
        .addColumn('domain', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0009_tok_secret_rotation': {
    // A rotated HS256 viewer-token secret: the previous one (still sealed) verifies until a time.
    // Idempotent like every migration after 0006: the columns are added only where missing.
    async up(db: Kysely<unknown>) {
      const have = await columnsOf(db, 'tenants');
      if (!have.has('previous_secret_sealed'))
        await db.schema.alterTable('tenants').addColumn('previous_secret_sealed', 'text').execute();
      if (!have.has('previous_secret_until'))
        await db.schema.alterTable('tenants').addColumn('previous_secret_until', 'bigint').execute();
    },
  },
};

/**
 * The columns `table` has now, in this store's schema (PostgreSQL's introspection lists every schema's
 * tables: only the one first on the search path counts; SQLite has one).
 */
async function columnsOf(db: Kysely<unknown>, table: string): Promise<Set<string>> {
  const tables = (await db.introspection.getTables()).filter((t) => t.name === table);
  let meta = tables[0];
  if (tables.some((t) => t.schema !== undefined)) {
    const { rows } = await sql<{ s: string }>`select current_schema() as s`.execute(db);
    meta = tables.find((t) => t.schema === rows[0]?.s);
  }
  return new Set(meta?.columns.map((c) => c.name) ?? []);
}

/** The tables the 0006_addr_ migrations read, as they were then. */
interface AddressTables {
  bans: {
    id: string;
    tenant_id: string;
    kind: string;
    value: string;
    created_at: number | string;
    expires_at: number | string | null;
  };
  ban_sightings: {
    ban_id: string;
    tenant_id: string;
    ip: string;
    first_seen: number | string;
    last_seen: number | string;
    hits: number | string;
  };
  access_logs: { id: string; ip: string };
  session_tags: { tenant_id: string };
}

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
