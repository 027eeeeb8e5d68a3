import { LocalDiskStorage } from '@vigil/media';
import type { FastifyInstance } from 'fastify';
import { cloudFrontRoutes } from './cloudfront.ts';
import { drmRoutes } from './drm.ts';
import { listRoutes } from './list.ts';
import { monitoringRoutes } from './monitoring.ts';
import { processRoutes } from './process.ts';
import { type MediaRoutesOptions, mediaContext } from './shared.ts';
import { streamRoutes } from './stream.ts';
import { tusRoutes } from './tus.ts';
import { uploadRoutes } from './upload.ts';
import { watermarkRoutes } from './watermark.ts';

export type { MediaRoutesOptions } from './shared.ts';

/** The media pipeline's API (`/v1/media/*` under an API key): uploads, processing, delivery. */
export async function mediaRoutes(app: FastifyInstance, opts: MediaRoutesOptions): Promise<void> {
  const ctx = mediaContext(opts);
  uploadRoutes(app, ctx);
  listRoutes(app, ctx);
  processRoutes(app, ctx);
  streamRoutes(app, ctx);
  drmRoutes(app, ctx);
  watermarkRoutes(app, ctx);
  monitoringRoutes(app, ctx);
  cloudFrontRoutes(app, ctx);
  // tus keeps its files on local disk: offered when the media storage is local.
  if (opts.deps.storage instanceof LocalDiskStorage) tusRoutes(app, ctx, opts.deps.storage);
}
