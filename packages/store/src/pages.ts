import { BadRequest, type Ban } from '@vigil/core';
import type { ContentKey } from '@vigil/keys';
import { type Expression, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import type { AccessLogEntry, ApiKeyRecord, BanSighting, LiveChannelRecord } from './rows.ts';
import {
  accessLogEntryOf,
  apiKeyFromRow,
  banFromRow,
  KEY_INFO_COLUMNS,
  keyInfoOf,
  liveChannelFromRow,
} from './rows.ts';
import type { Database } from './schema.ts';
import type { VigilStore } from './store.ts';

/**
 * Keyset pagination of every list the API answers: each page is read in a fixed, unique order and the
 * next one starts after the last row's sort key, so a page costs the same however deep it is, and rows
 * added or removed meanwhile neither repeat nor shift the others (unlike OFFSET).
 *
 * The cursor is that sort key sealed with the master key (AES-256-GCM, base64url), bound to its list and
 * tenant: opaque to clients (an API key's sort key includes its hash, which must not leave the server),
 * valid on every instance sharing the master key, and refused with `invalid_cursor` when forged, altered
 * or presented to another list.
 */

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;
/** Longest cursor accepted (a sealed sort key is far shorter). */
export const MAX_CURSOR_LENGTH = 1024;

export interface PageRequest {
  /** Rows per page, 1..MAX_PAGE_LIMIT; default DEFAULT_PAGE_LIMIT. */
  limit?: number | undefined;
  /** The `next` of the previous page; none for the first page. */
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** The cursor of the next page; null when this is the last one. */
  next: string | null;
}

type SortKey = (string | number)[];

/** The limit to use, or `invalid_limit`. */
export function pageLimit(limit: number | undefined, max = MAX_PAGE_LIMIT): number {
  if (limit === undefined) return Math.min(DEFAULT_PAGE_LIMIT, max);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new BadRequest('invalid_limit', `"limit" must be a whole number from 1 to ${max}`);
  }
  return limit;
}

const context = (list: string, scope: string) => `vigil-cursor-v1:${list}:${scope}`;

function sealCursor(store: VigilStore, list: string, scope: string, key: SortKey): string {
  const sealed = store.envelope.seal(Buffer.from(JSON.stringify(key), 'utf8'), context(list, scope));
  return Buffer.from(sealed, 'base64').toString('base64url');
}

/** The sort key a cursor holds, checked against the list's column types ('s' text, 'n' number). */
function openCursor(store: VigilStore, list: string, scope: string, cursor: string, types: string): SortKey {
  const invalid = () => new BadRequest('invalid_cursor', '"cursor" is not a cursor of this list');
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalid();
  }
  let key: unknown;
  try {
    const plain = store.envelope.open(
      Buffer.from(cursor, 'base64url').toString('base64'),
      context(list, scope),
    );
    key = JSON.parse(plain.toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(key) || key.length !== types.length) throw invalid();
  for (let i = 0; i < types.length; i++) {
    const v = key[i];
    if (types[i] === 'n' ? !Number.isSafeInteger(v) : typeof v !== 'string') throw invalid();
  }
  return key as SortKey;
}

/** `(a, b, …) > (x, y, …)` (or `<`): row-value comparison, understood alike by SQLite and PostgreSQL. */
export function rowCompare(columns: string[], op: '>' | '<', values: SortKey): Expression<SqlBool> {
  const left = sql.join(columns.map((c) => sql.ref(c)));
  const right = sql.join(values.map((v) => sql.val(v)));
  return sql<SqlBool>`(${left}) ${sql.raw(op)} (${right})`;
}

/**
 * The rows of `q` after the sort key `after` (or from the start), ordered by `columns` (ascending, or all
 * descending), at most `take`: the one keyset read every list makes.
 */
export function keyset<R>(
  // biome-ignore lint/suspicious/noExplicitAny: each list selects from a table of its own.
  q: SelectQueryBuilder<any, any, R>,
  columns: string[],
  after: SortKey | undefined,
  take: number,
  direction: 'asc' | 'desc' = 'asc',
): Promise<R[]> {
  let out = after ? q.where(rowCompare(columns, direction === 'asc' ? '>' : '<', after)) : q;
  for (const column of columns) out = out.orderBy(sql.ref(column), direction);
  return out.limit(take).execute();
}

/**
 * Reads one page: `read(after, limit + 1)` returns rows after the sort key (or from the start), in
 * order; one row more than asked tells there is a next page.
 */
export async function readPage<R, T>(
  store: VigilStore,
  list: string,
  scope: string,
  types: string,
  req: PageRequest,
  read: (after: SortKey | undefined, take: number) => Promise<R[]>,
  keyOf: (row: R) => SortKey,
  toItem: (row: R) => T,
  max = MAX_PAGE_LIMIT,
): Promise<Page<T>> {
  const limit = pageLimit(req.limit, max);
  const after = req.cursor === undefined ? undefined : openCursor(store, list, scope, req.cursor, types);
  const rows = await read(after, limit + 1);
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return {
    items: page.map(toItem),
    next: more && last !== undefined ? sealCursor(store, list, scope, keyOf(last)) : null,
  };
}

const banKey = (r: Database['bans']): SortKey => [Number(r.created_at), r.id];

/** A tenant's bans, oldest first, each with the addresses its session was seen calling from. */
export async function pageBans(
  store: VigilStore,
  tenantId: string,
  req: PageRequest,
): Promise<Page<Ban & { sightings: BanSighting[] }>> {
  const page = await readPage(
    store,
    'bans',
    tenantId,
    'ns',
    req,
    (after, take) => {
      const q = store.db.selectFrom('bans').selectAll().where('tenant_id', '=', tenantId);
      return keyset(q, ['created_at', 'id'], after, take);
    },
    banKey,
    banFromRow,
  );
  if (page.items.length === 0) return { items: [], next: page.next };
  const sightings = await store.db
    .selectFrom('ban_sightings')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where(
      'ban_id',
      'in',
      page.items.map((b) => b.id),
    )
    .orderBy('first_seen')
    .orderBy('ip')
    .execute();
  const byBan = new Map<string, BanSighting[]>();
  for (const s of sightings) {
    let list = byBan.get(s.ban_id);
    if (!list) {
      list = [];
      byBan.set(s.ban_id, list);
    }
    list.push({
      ip: s.ip,
      firstSeen: Number(s.first_seen),
      lastSeen: Number(s.last_seen),
      hits: Number(s.hits),
    });
  }
  return { items: page.items.map((b) => ({ ...b, sightings: byBan.get(b.id) ?? [] })), next: page.next };
}

/** A tenant's bans in force at `now`, oldest first (the seed-compatible `/get/`). */
export function pageActiveBans(
  store: VigilStore,
  tenantId: string,
  now: number,
  req: PageRequest,
  max = MAX_PAGE_LIMIT,
): Promise<Page<Ban>> {
  return readPage(
    store,
    'active-bans',
    tenantId,
    'ns',
    req,
    (after, take) => {
      const q = store.db
        .selectFrom('bans')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
      return keyset(q, ['created_at', 'id'], after, take);
    },
    banKey,
    banFromRow,
    max,
  );
}

/** A tenant's API keys, oldest first. */
export function pageApiKeys(
  store: VigilStore,
  tenantId: string,
  req: PageRequest,
): Promise<Page<ApiKeyRecord>> {
  return readPage(
    store,
    'api-keys',
    tenantId,
    'ns',
    req,
    (after, take) => {
      const q = store.db.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId);
      return keyset(q, ['created_at', 'hash'], after, take);
    },
    (r) => [Number(r.created_at), r.hash],
    apiKeyFromRow,
  );
}

/** Every tenant, by id. */
export function pageTenants(
  store: VigilStore,
  req: PageRequest,
): Promise<Page<{ id: string; name: string; createdAt: number }>> {
  return readPage(
    store,
    'tenants',
    '*',
    's',
    req,
    (after, take) => {
      const q = store.db.selectFrom('tenants').select(['id', 'name', 'created_at']);
      return keyset(q, ['id'], after, take);
    },
    (r) => [r.id],
    (r) => ({ id: r.id, name: r.name, createdAt: Number(r.created_at) }),
  );
}

/** A resource's content keys without their bytes, by key period and track type. */
export function pageContentKeys(
  store: VigilStore,
  tenantId: string,
  resourceId: string,
  req: PageRequest,
): Promise<Page<Omit<ContentKey, 'key'>>> {
  return readPage(
    store,
    'content-keys',
    `${tenantId}:${resourceId}`,
    'nss',
    req,
    (after, take) => {
      const q = store.db
        .selectFrom('content_keys')
        .select(KEY_INFO_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('resource_id', '=', resourceId);
      return keyset(q, ['key_period', 'track_type', 'kid'], after, take);
    },
    (r) => [Number(r.key_period), r.track_type, r.kid],
    keyInfoOf,
  );
}

/** The sessions a colour-watermark tag stands for, first seen first. */
export function pageSessionsByTag(
  store: VigilStore,
  tenantId: string,
  tag: number,
  req: PageRequest,
): Promise<Page<{ sessionId: string; firstSeen: number }>> {
  return readPage(
    store,
    'session-tags',
    `${tenantId}:${tag}`,
    'ns',
    req,
    (after, take) => {
      const q = store.db
        .selectFrom('session_tags')
        .select(['session_id', 'first_seen'])
        .where('tenant_id', '=', tenantId)
        .where('tag', '=', tag);
      return keyset(q, ['first_seen', 'session_id'], after, take);
    },
    (r) => [Number(r.first_seen), r.session_id],
    (r) => ({ sessionId: r.session_id, firstSeen: Number(r.first_seen) }),
  );
}

/** A tenant's live channels, by id. */
export function pageLiveChannels(
  store: VigilStore,
  tenantId: string,
  req: PageRequest,
): Promise<Page<LiveChannelRecord>> {
  return readPage(
    store,
    'live-channels',
    tenantId,
    's',
    req,
    (after, take) => {
      const q = store.db.selectFrom('live_channels').selectAll().where('tenant_id', '=', tenantId);
      return keyset(q, ['id'], after, take);
    },
    (r) => [r.id],
    liveChannelFromRow,
  );
}

export interface AccessLogFilter {
  sessionId?: string | undefined;
  action?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

/**
 * A tenant's access log, newest first. The cursor is bound to the filter, so a next page is always of
 * the same query.
 */
export function pageAccessLogs(
  store: VigilStore,
  tenantId: string,
  filter: AccessLogFilter,
  req: PageRequest,
): Promise<Page<AccessLogEntry>> {
  const scope = `${tenantId}:${JSON.stringify([filter.sessionId, filter.action, filter.since, filter.until])}`;
  return readPage(
    store,
    'access-logs',
    scope,
    'ns',
    req,
    (after, take) => {
      let q = store.db.selectFrom('access_logs').selectAll().where('tenant_id', '=', tenantId);
      if (filter.sessionId !== undefined) q = q.where('session_id', '=', filter.sessionId);
      if (filter.action !== undefined) q = q.where('action', '=', filter.action);
      if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
      if (filter.until !== undefined) q = q.where('at', '<', filter.until);
      return keyset(q, ['at', 'id'], after, take, 'desc');
    },
    (r) => [Number(r.at), r.id],
    accessLogEntryOf,
  );
}

/** Every item of a paginated list, page by page (for the CLI, which prints as it reads). */
export async function* allPages<T>(
  read: (req: PageRequest) => Promise<Page<T>>,
  limit = MAX_PAGE_LIMIT,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await read({ limit, cursor });
    yield* page.items;
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
}
