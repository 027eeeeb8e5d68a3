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

  /** The same database, untyped by table: for the few statements every aggregate shares (below). */
  private get loose(): Kysely<LooseDatabase> {
    return this.parts.db as unknown as Kysely<LooseDatabase>;
  }

  /** One tenant's row of `table` whose columns equal `match`. */
  protected async findRow<T extends keyof Database>(
    table: T,
    tenantId: string,
    match: Partial<Database[T]>,
  ): Promise<Database[T] | undefined> {
    let q = this.loose
      .selectFrom(table as string)
      .selectAll()
      .where('tenant_id', '=', tenantId);
    for (const [column, value] of Object.entries(match)) q = q.where(column, '=', value);
    return (await q.executeTakeFirst()) as Database[T] | undefined;
  }

  /**
   * Deletes (`set` absent) or updates one tenant's rows of `table` whose columns equal `match`; publishes
   * `topic` when a row changed. Returns how many did.
   */
  protected async changeRows<T extends keyof Database>(
    table: T,
    tenantId: string,
    match: Partial<Database[T]>,
    change: { set?: Partial<Database[T]>; topic?: Change['topic'] },
  ): Promise<number> {
    const name = table as string;
    let n: number;
    if (change.set) {
      let q = this.loose.updateTable(name).set(change.set).where('tenant_id', '=', tenantId);
      for (const [column, value] of Object.entries(match)) q = q.where(column, '=', value);
      n = Number((await q.executeTakeFirst()).numUpdatedRows);
    } else {
      let q = this.loose.deleteFrom(name).where('tenant_id', '=', tenantId);
      for (const [column, value] of Object.entries(match)) q = q.where(column, '=', value);
      n = Number((await q.executeTakeFirst()).numDeletedRows);
    }
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
