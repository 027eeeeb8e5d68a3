export * from './changes.ts';
export * from './detections.ts';
export * from './media.ts';
export * from './migrations.ts';
export * from './operators.ts';
export * from './pages.ts';
export * from './retention.ts';
export type { Database } from './schema.ts';
export * from './store.ts';
