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

/** Reconnection delays of the change listener: from the first, doubling per failed attempt up to the last. */
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;

const ignore = () => {};

/** Ends a client we are done with, whatever state it is in, without ever throwing. */
function discard(client: pg.Client): Promise<void> {
  client.removeAllListeners();
  client.on('error', ignore);
  return client.end().catch(ignore);
}

/**
 * LISTEN on one dedicated connection. At most one is open at any time: when it drops, it is ended and one
 * reconnection is scheduled, with backoff, until one succeeds (then every cache is dropped once, since
 * notifications may have been missed meanwhile).
 */
class PostgresChangeFeed implements ChangeFeed {
  readonly #listeners = new LocalListeners();
  #listener: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
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
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'vigil-change-listener',
    });
    // Until it listens, a failure rejects connect() or the LISTEN below.
    client.on('error', ignore);
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      await discard(client);
      throw err;
    }
    if (this.#closed) {
      await discard(client);
      return;
    }
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload) return;
      try {
        this.#listeners.emit(JSON.parse(msg.payload) as Change);
      } catch {
        // Not ours: ignore.
      }
    });
    // A drop shows as 'error' then 'end', or 'end' alone: handled once.
    const dropped = () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      void discard(client);
      this.#scheduleReconnect();
    };
    client.on('error', dropped);
    client.on('end', dropped);
    this.#listener = client;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#failures);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed) return;
      this.#listen().then(
        () => {
          this.#failures = 0;
          // While disconnected we may have missed notifications: drop every cache.
          if (!this.#closed) this.#listeners.emit({ tenantId: '*', topic: '*' });
        },
        () => {
          this.#failures++;
          this.#scheduleReconnect();
        },
      );
    }, delay);
    this.#retry.unref();
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
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const client = this.#listener;
    this.#listener = undefined;
    if (client) await discard(client);
  }
}
