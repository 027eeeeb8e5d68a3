import type { PageRequest, VigilStore } from '@vigil/store';

/** What every operation gets: the store. Operations needing more (config, the live manager) say so. */
export interface StoreDeps {
  store: VigilStore;
}

export type { PageRequest };

/** An ISO 8601 date-time (what the API answers with) of milliseconds since the epoch. */
export const iso = (ms: number) => new Date(ms).toISOString();
