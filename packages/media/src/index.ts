/**
 * @vigil/media: the media pipeline's parts. Pure core (error codes, magic bytes, names) and the storage
 * port with its adapters at the edge (`storage.ts`); the queue port with its adapters (`queue.ts`: the
 * store's embedded queue; `pg-boss-queue.ts`) and the processing worker over it (`worker.ts`).
 */
export * from './errors.ts';
export * from './magic.ts';
export * from './package-output.ts';
export * from './pg-boss-queue.ts';
export * from './queue.ts';
export * from './s3-storage.ts';
export * from './storage.ts';
export * from './worker.ts';
