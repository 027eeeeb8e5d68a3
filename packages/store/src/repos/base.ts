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
}
