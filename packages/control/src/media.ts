/**
 * Media operations: chunked uploads (initiate, chunk, complete, abort, status), processing (queue,
 * status, cancel) and an asset's metadata and variants. Chunks and sources go through the storage port;
 * upload state, assets and jobs through the store, so an upload survives a restart and resumes from
 * `status`. Refusals are the seed's `MediaException` family as codes (`upload_*`, `transcoding_*`, ...).
 */
export * from './media/assets.ts';
export {
  DEFAULT_MEDIA_SETTINGS,
  type MediaDeps,
  type MediaSettings,
  mediaError,
  sourceKey,
} from './media/common.ts';
export * from './media/list.ts';
export * from './media/tus.ts';
export * from './media/uploads.ts';
