import type { Envelope } from '@vigil/keys';
import { type Change, type ChangeFeed, type Database, LocalListeners, VigilStore } from '@vigil/store';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

export interface PostgresStoreOptions {
  connectionString: string;
  envelope: Envelope;
  /** Schema to keep Vigil's tables in (created if missing); lets several deployments share a database. */
  schema?: string;
  poolSize?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// int8 columns (our millisecond times) come back as numbers; they stay far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * PostgreSQL store, for several Vigil instances over one database. Every write NOTIFYs the others, which
 * drop the cached state it touched, so a ban made on one instance is enforced by all within a second.
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<VigilStore> {
  const schema = opts.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name "${schema}"`);
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10, types });
  pool.on('connect', (client) => {
    client.query(`SET search_path TO "${schema}"`).catch(() => {});
  });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on next use.
  });
  const boot = await pool.connect();
  try {
    await boot.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await boot.query(`SET search_path TO "${schema}"`);
  } finally {
    boot.release();
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const feed = await PostgresChangeFeed.start(opts.connectionString, pool, `vigil_changes_${schema}`);
  const store = new VigilStore(db, feed, opts.envelope, 'postgres', async () => {
    await db.destroy();
  });
  try {
    await store.init(schema);
  } catch (err) {
    // Wrong master key or a failed migration: release the connections, or they keep the process alive.
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

class PostgresChangeFeed implements ChangeFeed {
  readonly #listeners = new LocalListeners();
  #listener: pg.Client | undefined;
  #closed = false;

  private constructor(
    private readonly connectionString: string,
    private readonly pool: pg.Pool,
    private readonly channel: string,
  ) {}

  static async start(connectionString: string, pool: pg.Pool, channel: string): Promise<PostgresChangeFeed> {
    const feed = new PostgresChangeFeed(connectionString, pool, channel);
    await feed.#listen();
    return feed;
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload) return;
      try {
        this.#listeners.emit(JSON.parse(msg.payload) as Change);
      } catch {
        // Not ours: ignore.
      }
    });
    client.on('error', () => this.#reconnect());
    client.on('end', () => this.#reconnect());
    await client.connect();
    await client.query(`LISTEN "${this.channel}"`);
    this.#listener = client;
  }

  #reconnect(): void {
    if (this.#closed) return;
    this.#listener = undefined;
    // While disconnected we may miss notifications: drop every cache once we are back.
    setTimeout(() => {
      if (this.#closed) return;
      this.#listen()
        .then(() => this.#listeners.emit({ tenantId: '*', topic: '*' }))
        .catch(() => this.#reconnect());
    }, 500).unref();
  }

  async publish(change: Change): Promise<void> {
    this.#listeners.emit(change);
    await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify(change)]);
  }

  subscribe(listener: (change: Change) => void): () => void {
    return this.#listeners.subscribe(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#listener;
    this.#listener = undefined;
    if (client) {
      client.removeAllListeners('end');
      client.removeAllListeners('error');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
