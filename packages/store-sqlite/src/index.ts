import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Envelope } from '@vigil/keys';
import type { Database } from '@vigil/store';
import { type Change, type ChangeFeed, LocalListeners, VigilStore } from '@vigil/store';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';

export interface SqliteStoreOptions {
  /** Folder holding `vigil.db` (created if missing). */
  dataDir: string;
  envelope: Envelope;
  /**
   * `full` (default) syncs every commit to disk: an acknowledged write survives a process kill and a
   * power loss. `normal` survives a process kill only (WAL bytes are with the kernel), and is faster.
   */
  synchronous?: 'full' | 'normal';
  /** How often to look for commits made by another process (e.g. the `vigil ban` CLI). */
  pollMs?: number;
}

/**
 * Embedded store: SQLite in WAL mode. Changes are announced in-process at once, and commits by other
 * processes on the same file are noticed through `PRAGMA data_version`, which moves on foreign commits only.
 */
export async function openSqliteStore(opts: SqliteStoreOptions): Promise<VigilStore> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const sqlite = new BetterSqlite3(join(opts.dataDir, 'vigil.db'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const feed = new SqliteChangeFeed(sqlite, opts.pollMs ?? 250);
  const store = new VigilStore(db, feed, opts.envelope, 'sqlite', async () => {
    await db.destroy();
  });
  try {
    await store.init();
  } catch (err) {
    // Wrong master key or a failed migration: release the connections, or they keep the process alive.
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

class SqliteChangeFeed implements ChangeFeed {
  readonly #listeners = new LocalListeners();
  readonly #timer: NodeJS.Timeout;
  #version: number;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    pollMs: number,
  ) {
    this.#version = this.#read();
    this.#timer = setInterval(() => {
      const version = this.#read();
      if (version !== this.#version) {
        this.#version = version;
        this.#listeners.emit({ tenantId: '*', topic: '*' });
      }
    }, pollMs);
    this.#timer.unref();
  }

  #read(): number {
    return this.sqlite.pragma('data_version', { simple: true }) as number;
  }

  async publish(change: Change): Promise<void> {
    this.#listeners.emit(change);
  }

  subscribe(listener: (change: Change) => void): () => void {
    return this.#listeners.subscribe(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
  }
}
