export * from './changes.ts';
export * from './migrations.ts';
export type { Database } from './schema.ts';
export * from './store.ts';
