/**
 * @vigil/media: the media pipeline's parts. Pure core (error codes, magic bytes, names) and the storage
 * port with its adapters at the edge (`storage.ts`); the processing worker over the store's queue
 * (`worker.ts`).
 */
export * from './errors.ts';
export * from './magic.ts';
export * from './s3-storage.ts';
export * from './storage.ts';
export * from './worker.ts';
