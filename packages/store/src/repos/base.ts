import type { Envelope } from '@vigil/keys';
import type { Kysely } from 'kysely';
import type { Change, ChangeFeed } from '../changes.ts';
import type { Database } from '../schema.ts';

/** What every repository works over: the database, the change feed and the envelope for secrets. */
export interface StoreParts {
  readonly db: Kysely<Database>;
  readonly changes: ChangeFeed;
  readonly envelope: Envelope;
}

/** Rows per multi-row INSERT: 500 × 10 columns stays far below PostgreSQL's 65535 bind parameters and SQLite's 32766 variables. */
export const INSERT_CHUNK = 500;

/**
 * The small base of every repository: one aggregate's reads and writes. Secrets are sealed with the
 * envelope before they are written and opened after they are read; every write publishes a change.
 */
export abstract class Repository {
  constructor(protected readonly parts: StoreParts) {}

  protected get db(): Kysely<Database> {
    return this.parts.db;
  }

  protected get envelope(): Envelope {
    return this.parts.envelope;
  }

  protected get changes(): ChangeFeed {
    return this.parts.changes;
  }

  protected publish(tenantId: string, topic: Change['topic']): Promise<void> {
    return this.parts.changes.publish({ tenantId, topic });
  }

  /** Runs `work` in one transaction, given a repository of this kind whose statements are the transaction's. */
  protected inTransaction<R>(work: (repo: this) => Promise<R>): Promise<R> {
    const Kind = this.constructor as new (parts: StoreParts) => this;
    return this.db.transaction().execute((tx) => work(new Kind({ ...this.parts, db: tx })));
  }

  /** The same database, untyped by table: for the few statements every aggregate shares (below). */
  private get loose(): Kysely<LooseDatabase> {
    return this.parts.db as unknown as Kysely<LooseDatabase>;
  }

  /** The row of `table` whose columns equal `match` (an array: one of its values; null: null); the first if several. */
  protected async firstRow<T extends keyof Database>(
    table: T,
    match: Match<Database[T]>,
  ): Promise<Database[T] | undefined> {
    const q = matching(this.loose.selectFrom(table as string).selectAll(), match);
    return (await q.executeTakeFirst()) as Database[T] | undefined;
  }

  /**
   * The rows of `table` that match, in `order` (columns, each ascending or with ` desc`), at most `limit`.
   */
  protected selectRows<T extends keyof Database>(
    table: T,
    match: Match<Database[T]>,
    order: readonly Order<Database[T]>[] = [],
    limit?: number,
  ): Promise<Database[T][]> {
    let q = matching(this.loose.selectFrom(table as string).selectAll(), match);
    for (const o of order) {
      const [column, direction] = o.split(' ');
      q = q.orderBy(column as string, direction === 'desc' ? 'desc' : 'asc');
    }
    if (limit !== undefined) q = q.limit(limit);
    return q.execute() as Promise<Database[T][]>;
  }

  /** One tenant's row of `table` whose columns equal `match`. */
  protected findRow<T extends keyof Database>(
    table: T,
    tenantId: string,
    match: Match<Database[T]>,
  ): Promise<Database[T] | undefined> {
    return this.firstRow(table, { tenant_id: tenantId, ...match } as Match<Database[T]>);
  }

  /** How many rows of `table` match. */
  protected async countRows<T extends keyof Database>(table: T, match: Match<Database[T]>): Promise<number> {
    const q = this.loose.selectFrom(table as string).select((eb) => eb.fn.countAll().as('n'));
    const row = await matching(q, match).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Sets `set` on the rows of `table` that match; returns how many changed. */
  protected async updateRows<T extends keyof Database>(
    table: T,
    match: Match<Database[T]>,
    set: Partial<Database[T]>,
  ): Promise<number> {
    const q = matching(this.loose.updateTable(table as string).set(set), match);
    return Number((await q.executeTakeFirst()).numUpdatedRows);
  }

  /** Deletes the rows of `table` that match; returns how many went. */
  protected async deleteRows<T extends keyof Database>(table: T, match: Match<Database[T]>): Promise<number> {
    const q = matching(this.loose.deleteFrom(table as string), match);
    return Number((await q.executeTakeFirst()).numDeletedRows);
  }

  /** Inserts `row`, or where one clashes on `unique`, sets `update` on that one instead. */
  protected async upsertRow<T extends keyof Database>(
    table: T,
    row: Database[T],
    unique: readonly (keyof Database[T] & string)[],
    update: Partial<Database[T]>,
  ): Promise<void> {
    await this.loose
      .insertInto(table as string)
      .values(row as Record<string, unknown>)
      .onConflict((oc) => oc.columns([...unique]).doUpdateSet(update))
      .execute();
  }

  /**
   * Deletes (`set` absent) or updates one tenant's rows of `table` whose columns equal `match`; publishes
   * `topic` when a row changed. Returns how many did.
   */
  protected async changeRows<T extends keyof Database>(
    table: T,
    tenantId: string,
    match: Match<Database[T]>,
    change: { set?: Partial<Database[T]>; topic?: Change['topic'] },
  ): Promise<number> {
    const where = { tenant_id: tenantId, ...match } as Match<Database[T]>;
    const n = change.set
      ? await this.updateRows(table, where, change.set)
      : await this.deleteRows(table, where);
    if (n > 0 && change.topic) await this.publish(tenantId, change.topic);
    return n;
  }

  /**
   * Inserts rows in one transaction, INSERT_CHUNK rows a statement (one statement for a whole batch could
   * pass PostgreSQL's 65535 bind parameters, and SQLite's variable limit); rows that clash on `unique` are
   * kept as they are.
   */
  protected async insertChunked<T extends keyof Database>(
    table: T,
    rows: readonly Database[T][],
    unique: readonly (keyof Database[T] & string)[],
  ): Promise<void> {
    if (rows.length === 0) return;
    await this.loose.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await tx
          .insertInto(table as string)
          .values(rows.slice(i, i + INSERT_CHUNK) as Record<string, unknown>[])
          .onConflict((oc) => oc.columns([...unique]).doNothing())
          .execute();
      }
    });
  }
}

interface LooseDatabase {
  [table: string]: Record<string, unknown>;
}

/** Columns of a row and the value each must equal (null: be null), or the values one of which it must equal. */
export type Match<Row> = { [C in keyof Row]?: Row[C] | readonly Row[C][] };

/** A sort column of a row, ascending, or descending with ` desc`. */
export type Order<Row> = (keyof Row & string) | `${keyof Row & string} desc`;

/** A statement that narrows by column, as Kysely's select, update and delete builders do. */
interface Narrowable<Q> {
  where(column: string, op: '=' | 'in' | 'is', value: unknown): Q;
}

/** `q` narrowed to the rows whose columns equal `match`'s values (an array: one of them; null: null). */
function matching<Q extends Narrowable<Q>>(q: Q, match: object): Q {
  let out = q;
  for (const [column, value] of Object.entries(match)) {
    const op = Array.isArray(value) ? 'in' : value === null ? 'is' : '=';
    out = out.where(column, op, value);
  }
  return out;
}
