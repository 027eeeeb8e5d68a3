import type { Envelope } from '@vigil/keys';
import { type Kysely, Migrator } from 'kysely';
import type { ChangeFeed } from './changes.ts';
import { migrationProvider } from './migrations.ts';
import { AccessLogRepo } from './repos/access-logs.ts';
import { ApiKeyRepo } from './repos/api-keys.ts';
import { BanRepo } from './repos/bans.ts';
import { ContentKeyRepo } from './repos/content-keys.ts';
import { LiveChannelRepo } from './repos/live-channels.ts';
import { SessionTagRepo } from './repos/session-tags.ts';
import { StatsRepo } from './repos/stats.ts';
import { TenantRepo } from './repos/tenants.ts';
import { WatermarkRepo } from './repos/watermark.ts';
import type { Database } from './schema.ts';

export { hashApiKey, sameHash } from './repos/api-keys.ts';
export { INSERT_CHUNK, Repository, type StoreParts } from './repos/base.ts';
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

/**
 * Which repository answers each of the store's own methods. `VigilStore` keeps the flat API every
 * caller uses (`store.upsertBan(...)`); each method is the same-named method of one repository, so a
 * rule lives once, in the repository of its aggregate (`repos/`).
 */
const FLAT = {
  tenants: [
    'createTenant',
    'getTenant',
    'listTenants',
    'listAllowedOrigins',
    'updateTenant',
    'rotateTenantSecret',
  ],
  apiKeys: [
    'createApiKey',
    'storeApiKey',
    'findApiKey',
    'listApiKeys',
    'revokeApiKeysByHash',
    'revokeApiKey',
  ],
  contentKeys: [
    'putContentKeys',
    'putContentKeysIfAbsent',
    'getContentKey',
    'listContentKeys',
    'purgeExpiredKeys',
    'deleteOwnedKeys',
  ],
  watermark: ['getWatermarkConfig', 'putWatermarkConfig'],
  bans: [
    'upsertBan',
    'activeBans',
    'deleteBan',
    'deleteBanByTarget',
    'recordBanSighting',
    'purgeExpiredBans',
  ],
  accessLogs: ['appendAccessLogs', 'queryAccessLogs'],
  sessionTags: ['recordSessionTags', 'sessionsByTag'],
  stats: ['addStats', 'readStats'],
  liveChannels: [
    'putLiveChannel',
    'getLiveChannel',
    'listLiveChannels',
    'setLiveChannelDesired',
    'setLiveChannelStatus',
    'deleteLiveChannel',
  ],
} as const satisfies { [R in keyof Repos]: readonly (keyof Repos[R])[] };

interface Repos {
  tenants: TenantRepo;
  apiKeys: ApiKeyRepo;
  contentKeys: ContentKeyRepo;
  watermark: WatermarkRepo;
  bans: BanRepo;
  accessLogs: AccessLogRepo;
  sessionTags: SessionTagRepo;
  stats: StatsRepo;
  liveChannels: LiveChannelRepo;
}
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void
  ? I
  : never;
/** The flat methods: each repository's methods listed in FLAT, under their own names. */
type FlatApi = UnionToIntersection<
  { [R in keyof typeof FLAT]: Pick<Repos[R], (typeof FLAT)[R][number] & keyof Repos[R]> }[keyof typeof FLAT]
>;

/**
 * The storage port: every read and write Vigil makes, over either adapter, one repository per aggregate
 * (`store.bans`, `store.tenants`, ...) over the same database, change feed and envelope.
 */
// The flat methods are installed on the prototype below, from FLAT.
export interface VigilStore extends FlatApi {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above.
export class VigilStore implements Repos {
  readonly tenants: TenantRepo;
  readonly apiKeys: ApiKeyRepo;
  readonly contentKeys: ContentKeyRepo;
  readonly watermark: WatermarkRepo;
  readonly bans: BanRepo;
  readonly accessLogs: AccessLogRepo;
  readonly sessionTags: SessionTagRepo;
  readonly stats: StatsRepo;
  readonly liveChannels: LiveChannelRepo;

  constructor(
    readonly db: Kysely<Database>,
    readonly changes: ChangeFeed,
    readonly envelope: Envelope,
    readonly kind: 'sqlite' | 'postgres',
    private readonly closeDb: () => Promise<void>,
  ) {
    const parts = { db, changes, envelope };
    this.tenants = new TenantRepo(parts);
    this.apiKeys = new ApiKeyRepo(parts);
    this.contentKeys = new ContentKeyRepo(parts);
    this.watermark = new WatermarkRepo(parts);
    this.bans = new BanRepo(parts);
    this.accessLogs = new AccessLogRepo(parts);
    this.sessionTags = new SessionTagRepo(parts);
    this.stats = new StatsRepo(parts);
    this.liveChannels = new LiveChannelRepo(parts);
  }

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
}

for (const [repo, methods] of Object.entries(FLAT) as [keyof typeof FLAT, readonly string[]][]) {
  for (const method of methods) {
    Object.defineProperty(VigilStore.prototype, method, {
      value(this: VigilStore, ...args: unknown[]) {
        const target = this[repo] as unknown as Record<string, (...a: unknown[]) => unknown>;
        return target[method]!(...args);
      },
      writable: true,
      configurable: true,
    });
  }
}
