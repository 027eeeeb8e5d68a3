import { assetWatermarkConfig } from '@vigil/control';
import { BanIndex, colorTagKeyLabel, type TenantTokenKeys, type WatermarkConfig } from '@vigil/core';
import type { ContentKey } from '@vigil/keys';
import { type ApiKeyRecord, type Change, MediaDeliveryStore, type VigilStore } from '@vigil/store';

/** What the license path needs of one tenant, held in memory. */
export interface TenantState {
  id: string;
  tokenKeys: TenantTokenKeys;
  bans: BanIndex;
  watermark: WatermarkConfig;
  /** Media assets' own watermark configs (POST /v1/media/{id}/watermark), by asset id. */
  assetWatermarks: Map<string, WatermarkConfig>;
  /** The tenant's colour-tag key (HKDF of the master key, `color-tag:v1:<tenant>`); never sent or logged. */
  tagKey: Buffer;
  /** null allows any origin. */
  origins: Set<string> | null;
  /** Content keys by kid; `missAt` remembers a miss for NEGATIVE_TTL_MS. */
  contentKeys: Map<string, ContentKey | { missAt: number }>;
}

/** The watermark config of a resource's sessions: its own (a media asset's) or the tenant's. */
export function watermarkOf(tenant: TenantState, resourceId: string): WatermarkConfig {
  return tenant.assetWatermarks.size === 0
    ? tenant.watermark
    : (tenant.assetWatermarks.get(resourceId) ?? tenant.watermark);
}

const NEGATIVE_TTL_MS = 2_000;
const MAX_CACHED_KEYS_PER_TENANT = 100_000;

/**
 * The in-memory view the hot path reads: tenants (token keys, bans, watermark config, origins), content
 * keys and API keys. Loaded on first use and dropped when the store announces a change, so in the steady
 * state a license request makes no database round trip.
 */
export class HotState {
  readonly #tenants = new Map<string, TenantState | { missAt: number }>();
  readonly #loading = new Map<string, Promise<TenantState | undefined>>();
  readonly #apiKeys = new Map<string, ApiKeyRecord | null>();
  /** Kept apart from #tenants so that a ban or config change doesn't drop the tenant's cached keys. */
  readonly #contentKeys = new Map<string, TenantState['contentKeys']>();
  #origins: Promise<Set<string> | null> | undefined;
  /** The resolved #origins, once loaded: undefined while (re)loading. */
  #originsNow: Set<string> | null | undefined;
  /** Bumped on every change, so a load that raced with a change is not kept. */
  #generation = 0;
  readonly #onTenantKeysChange: () => void;
  readonly #unsubscribe: () => void;

  constructor(
    private readonly store: VigilStore,
    onTenantKeysChange: () => void,
  ) {
    this.#onTenantKeysChange = onTenantKeysChange;
    this.#unsubscribe = store.changes.subscribe((change) => this.#invalidate(change));
  }

  close(): void {
    this.#unsubscribe();
  }

  #invalidate(change: Change): void {
    this.#generation++;
    const all = change.tenantId === '*';
    switch (change.topic) {
      case 'apikey':
        this.#apiKeys.clear();
        return;
      case 'key':
        // New keys, or expired ones purged: a key never changes once written, so only misses (now
        // perhaps written) and expired keys are forgotten; the keys in use stay in memory.
        for (const [id, keys] of this.#contentKeys) {
          if (all || id === change.tenantId) {
            for (const [kid, k] of keys) if ('missAt' in k || k.expiresAt <= Date.now()) keys.delete(kid);
          }
        }
        return;
      case 'key-deleted':
        // Keys withdrawn before they expired (a stopped live channel): the store does not say which.
        this.#forgetKeys(change.tenantId);
        return;
      default:
        if (change.topic === 'tenant' || change.topic === '*') {
          this.#origins = undefined;
          this.#originsNow = undefined;
          this.#onTenantKeysChange();
        }
        if (change.topic === '*') {
          // Another process changed something unnamed (SQLite's data_version, a PostgreSQL reconnect).
          this.#apiKeys.clear();
          this.#forgetKeys(change.tenantId);
        }
        if (all) this.#tenants.clear();
        else this.#tenants.delete(change.tenantId);
    }
  }

  #forgetKeys(tenantId: string): void {
    for (const [id, keys] of this.#contentKeys) if (tenantId === '*' || id === tenantId) keys.clear();
  }

  /** The tenant's state if it is in memory (the steady state), without a promise. */
  peek(tenantId: string): TenantState | undefined {
    const t = this.#tenants.get(tenantId);
    return t && 'id' in t ? t : undefined;
  }

  async tenant(tenantId: string): Promise<TenantState | undefined> {
    const cached = this.#tenants.get(tenantId);
    if (cached) {
      if ('id' in cached) return cached;
      if (Date.now() - cached.missAt < NEGATIVE_TTL_MS) return undefined;
    }
    let loading = this.#loading.get(tenantId);
    if (!loading) {
      loading = this.#load(tenantId).finally(() => this.#loading.delete(tenantId));
      this.#loading.set(tenantId, loading);
    }
    return loading;
  }

  async #load(tenantId: string): Promise<TenantState | undefined> {
    const generation = this.#generation;
    const tenant = await this.store.getTenant(tenantId);
    if (!tenant) {
      if (generation === this.#generation) this.#tenants.set(tenantId, { missAt: Date.now() });
      return undefined;
    }
    const [bans, watermark, assetMarks] = await Promise.all([
      this.store.activeBans(tenantId, Date.now()),
      this.store.getWatermarkConfig(tenantId),
      new MediaDeliveryStore(this.store).watermarks(tenantId),
    ]);
    const state: TenantState = {
      id: tenantId,
      tokenKeys: {
        tenantId,
        secret: tenant.secret,
        previousSecret: tenant.previousSecret,
        jwks: tenant.jwks as TenantTokenKeys['jwks'],
      },
      bans: new BanIndex(bans),
      watermark,
      assetWatermarks: new Map(assetMarks.map((w) => [w.assetId, assetWatermarkConfig(watermark, w.config)])),
      tagKey: this.store.envelope.deriveKey(colorTagKeyLabel(tenantId)),
      origins: tenant.allowedOrigins.includes('*') ? null : new Set(tenant.allowedOrigins),
      contentKeys: this.#keysOf(tenantId),
    };
    if (generation === this.#generation) this.#tenants.set(tenantId, state);
    return state;
  }

  #keysOf(tenantId: string): TenantState['contentKeys'] {
    let keys = this.#contentKeys.get(tenantId);
    if (!keys) {
      keys = new Map();
      this.#contentKeys.set(tenantId, keys);
    }
    return keys;
  }

  /** A content key already in memory and valid (the steady state), without a promise. */
  peekContentKey(tenant: TenantState, kid: string, now: number): ContentKey | undefined {
    const entry = tenant.contentKeys.get(kid);
    return entry !== undefined && !('missAt' in entry) && entry.expiresAt > now ? entry : undefined;
  }

  /** A content key of the tenant, from memory or (once) from the store. Expired keys are never returned. */
  async contentKey(tenant: TenantState, kid: string, now: number): Promise<ContentKey | undefined> {
    let entry = tenant.contentKeys.get(kid);
    if (entry === undefined || ('missAt' in entry && now - entry.missAt >= NEGATIVE_TTL_MS)) {
      const generation = this.#generation;
      const key = await this.store.getContentKey(tenant.id, kid);
      entry = key ?? { missAt: now };
      if (generation === this.#generation && tenant.contentKeys.size < MAX_CACHED_KEYS_PER_TENANT) {
        tenant.contentKeys.set(kid, entry);
      }
    }
    return 'missAt' in entry || entry.expiresAt <= now ? undefined : entry;
  }

  /** The API key with this hash, or undefined if unknown or revoked. */
  async apiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    let record = this.#apiKeys.get(hash);
    if (record === undefined) {
      const generation = this.#generation;
      record = (await this.store.findApiKey(hash)) ?? null;
      if (generation === this.#generation) {
        if (this.#apiKeys.size > 10_000) this.#apiKeys.clear();
        this.#apiKeys.set(hash, record);
      }
    }
    return record && record.revokedAt === null ? record : undefined;
  }

  /** Union of all tenants' allowed origins; null when some tenant allows any origin. */
  corsOrigins(): Promise<Set<string> | null> {
    if (!this.#origins) {
      const generation = this.#generation;
      const loading = this.store.listAllowedOrigins().then((list) => {
        const origins = list.includes('*') ? null : new Set(list);
        if (generation === this.#generation) this.#originsNow = origins;
        else if (this.#origins === loading) this.#origins = undefined; // raced with a change: reload next time
        return origins;
      });
      // A failed load is retried by the next request.
      loading.catch(() => {
        if (this.#origins === loading) this.#origins = undefined;
      });
      this.#origins = loading;
    }
    return this.#origins;
  }

  /** corsOrigins() without a promise, when loaded; undefined otherwise. */
  peekCorsOrigins(): Set<string> | null | undefined {
    return this.#originsNow;
  }
}
