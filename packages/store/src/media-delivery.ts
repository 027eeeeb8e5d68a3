/**
 * What the media API keeps about an asset's delivery beyond its usage policy: its own watermark config
 * (over the tenant's; a write announces a `config` change, so every instance's license path reloads the
 * tenant) and the access log read by asset (the figures of an access report). Every query names the tenant.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { VigilStore } from './store.ts';

export interface AssetWatermarkRecord {
  tenantId: string;
  assetId: string;
  watermarkId: string;
  /** The seed's WatermarkConfig as posted. */
  seed: Record<string, unknown>;
  /** The Vigil watermark config patch it maps to (over the tenant's config). */
  config: Record<string, unknown>;
  updatedAt: number;
}

/** The access log of one asset over a period, summed up. */
export interface AccessSummary {
  /** Entries by action (streamStart, streamProgress, accessDenied, ...). */
  actions: Record<string, number>;
  uniqueUsers: number;
  uniqueSessions: number;
  uniqueIps: number;
  /** accessDenied entries by their reason (at most the last 10,000 read). */
  denials: Record<string, number>;
  /** The users with the most entries (at most 10). */
  topUsers: { userId: string; events: number; sessions: number }[];
  firstAt: number | null;
  lastAt: number | null;
}

const MAX_DENIALS_READ = 10_000;

export class MediaDeliveryStore {
  readonly db: Kysely<Database>;

  constructor(private readonly store: VigilStore) {
    this.db = store.db;
  }

  async setWatermark(w: AssetWatermarkRecord): Promise<void> {
    const values = {
      tenant_id: w.tenantId,
      asset_id: w.assetId,
      watermark_id: w.watermarkId,
      seed: JSON.stringify(w.seed),
      config: JSON.stringify(w.config),
      updated_at: w.updatedAt,
    };
    await this.db
      .insertInto('media_watermarks')
      .values(values)
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'asset_id']).doUpdateSet({
          watermark_id: values.watermark_id,
          seed: values.seed,
          config: values.config,
          updated_at: values.updated_at,
        }),
      )
      .execute();
    await this.store.changes.publish({ tenantId: w.tenantId, topic: 'config' });
  }

  async watermark(tenantId: string, assetId: string): Promise<AssetWatermarkRecord | undefined> {
    const row = await this.db
      .selectFrom('media_watermarks')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .executeTakeFirst();
    return row && watermarkOf(row);
  }

  /** Every asset watermark config of a tenant (what the license path holds in memory). */
  async watermarks(tenantId: string): Promise<AssetWatermarkRecord[]> {
    const rows = await this.db
      .selectFrom('media_watermarks')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .execute();
    return rows.map(watermarkOf);
  }

  /** The asset's access log in [from, to), summed up in the database. */
  async accessSummary(tenantId: string, assetId: string, from: number, to: number): Promise<AccessSummary> {
    const base = this.db
      .selectFrom('access_logs')
      .where('tenant_id', '=', tenantId)
      .where('resource_id', '=', assetId)
      .where('at', '>=', from)
      .where('at', '<', to);
    const [byAction, distinct, denied, users] = await Promise.all([
      base
        .select(['action', (eb) => eb.fn.countAll().as('n')])
        .groupBy('action')
        .execute(),
      base
        .select((eb) => [
          eb.fn.count('user_id').distinct().as('users'),
          eb.fn.count('session_id').distinct().as('sessions'),
          eb.fn.count('ip').distinct().as('ips'),
          eb.fn.min('at').as('first'),
          eb.fn.max('at').as('last'),
        ])
        .executeTakeFirst(),
      base
        .select('metadata')
        .where('action', '=', 'accessDenied')
        .orderBy('at', 'desc')
        .limit(MAX_DENIALS_READ)
        .execute(),
      base
        .select((eb) => [
          'user_id',
          eb.fn.countAll().as('events'),
          eb.fn.count('session_id').distinct().as('sessions'),
        ])
        .where('user_id', 'is not', null)
        .groupBy('user_id')
        .orderBy('events', 'desc')
        .orderBy('user_id')
        .limit(10)
        .execute(),
    ]);
    const denials: Record<string, number> = {};
    for (const { metadata } of denied) {
      let reason = 'unknown';
      try {
        const m = metadata ? (JSON.parse(metadata) as { reason?: unknown }) : {};
        if (typeof m.reason === 'string') reason = m.reason;
      } catch {
        // A row written by something else: counted as unknown.
      }
      denials[reason] = (denials[reason] ?? 0) + 1;
    }
    const at = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      actions: Object.fromEntries(byAction.map((r) => [r.action, Number(r.n)])),
      uniqueUsers: Number(distinct?.users ?? 0),
      uniqueSessions: Number(distinct?.sessions ?? 0),
      uniqueIps: Number(distinct?.ips ?? 0),
      denials,
      topUsers: users.map((u) => ({
        userId: u.user_id ?? '',
        events: Number(u.events),
        sessions: Number(u.sessions),
      })),
      firstAt: at(distinct?.first),
      lastAt: at(distinct?.last),
    };
  }
}

/** A tenant's CloudFront signer, its private key opened. */
export interface CloudFrontSignerRecord {
  keyPairId: string;
  privateKey: string;
  /** The distribution's base URL (`https://d111111abcdef8.cloudfront.net`). */
  domain: string;
  updatedAt: number;
}

const cloudFrontContext = (tenantId: string) => `cloudfront-key:${tenantId}`;

/** CloudFront signers by tenant: the private key sealed at rest like every tenant secret. */
export class CloudFrontSigners {
  constructor(private readonly store: VigilStore) {}

  async set(tenantId: string, s: CloudFrontSignerRecord): Promise<void> {
    const values = {
      key_pair_id: s.keyPairId,
      private_key_sealed: this.store.envelope.seal(
        Buffer.from(s.privateKey, 'utf8'),
        cloudFrontContext(tenantId),
      ),
      domain: s.domain,
      updated_at: s.updatedAt,
    };
    await this.store.db
      .insertInto('media_cloudfront')
      .values({ tenant_id: tenantId, ...values })
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
      .execute();
  }

  async get(tenantId: string): Promise<CloudFrontSignerRecord | undefined> {
    const row = await this.store.db
      .selectFrom('media_cloudfront')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      keyPairId: row.key_pair_id,
      privateKey: this.store.envelope
        .open(row.private_key_sealed, cloudFrontContext(tenantId))
        .toString('utf8'),
      domain: row.domain,
      updatedAt: Number(row.updated_at),
    };
  }
}

function watermarkOf(r: Database['media_watermarks']): AssetWatermarkRecord {
  return {
    tenantId: r.tenant_id,
    assetId: r.asset_id,
    watermarkId: r.watermark_id,
    seed: JSON.parse(r.seed) as Record<string, unknown>,
    config: JSON.parse(r.config) as Record<string, unknown>,
    updatedAt: Number(r.updated_at),
  };
}
