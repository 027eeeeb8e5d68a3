/** What changed, so caches can drop exactly that. `*` means "anything, reload all". */
export interface Change {
  tenantId: string | '*';
  /** `key`: keys were added (or expired ones purged); `key-deleted`: live keys were deleted early. */
  topic: 'tenant' | 'apikey' | 'key' | 'key-deleted' | 'config' | 'ban' | 'live' | '*';
}

/**
 * How a store tells every instance that data changed: in-process for the embedded store, LISTEN/NOTIFY
 * for PostgreSQL. Listeners on the writing instance hear the change before the write's promise resolves.
 */
export interface ChangeFeed {
  publish(change: Change): Promise<void>;
  subscribe(listener: (change: Change) => void): () => void;
  close(): Promise<void>;
}

export class LocalListeners {
  readonly #listeners = new Set<(change: Change) => void>();

  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(change: Change): void {
    for (const listener of this.#listeners) listener(change);
  }
}
