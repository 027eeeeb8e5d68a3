/** The media processing a process runs: its storage, the upload sweeper and (unless left out) a worker. */
import { join } from 'node:path';
import {
  type mediaSettingsFromEnv,
  mediaStorageFor,
  mediaWorker,
  type openStore,
  startUploadSweeper,
} from '@vigil/server';

/**
 * Opens the media storage under `dataDir`, starts the sweeper of expired uploads, and makes a media
 * worker (not yet started) unless `withWorker` is false; both `vigil serve` and `vigil worker` run this.
 */
export function mediaProcessing(
  store: Awaited<ReturnType<typeof openStore>>,
  dataDir: string,
  mediaSettings: ReturnType<typeof mediaSettingsFromEnv>,
  licenseUrlBase: () => string,
  withWorker: boolean,
) {
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const storage = mediaStorageFor(dataDir);
  const worker = withWorker
    ? mediaWorker({ store, storage, originRoot: join(dataDir, 'origin'), licenseUrlBase, log })
    : undefined;
  const sweepMs = Number(process.env.VIGIL_MEDIA_SWEEP_MS || 60_000);
  const stopSweeper = startUploadSweeper(store, storage, mediaSettings, sweepMs, log);
  return { storage, worker, stopSweeper };
}
