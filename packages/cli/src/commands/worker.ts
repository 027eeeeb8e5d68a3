import { mediaSettingsFromEnv, openStore, storeSettingsFromEnv } from '@vigil/server';
import { type Command, common, out, str } from '../command.ts';
import { mediaProcessing } from '../media-processing.ts';
import { UsageError } from '../usage-error.ts';

/**
 * `vigil worker`: a media processing worker on its own, over the same store (`--data` or DATABASE_URL) and
 * data folder as the servers. Several may run; the queue gives each job to one, and a job of a worker that
 * dies is taken again once its lease runs out.
 */
export const workerCommand: Command = {
  options: { ...common, 'license-url-base': { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length > 0)
      throw new UsageError('usage: vigil worker [--data <dir>] [--license-url-base <url>]');
    const settings = storeSettingsFromEnv(str(values, 'data'));
    const mediaSettings = mediaSettingsFromEnv();
    const licenseUrlBase =
      str(values, 'license-url-base') ?? process.env.VIGIL_PUBLIC_URL ?? 'http://127.0.0.1:8080';
    const store = await openStore(settings);
    const processing = mediaProcessing(store, settings.dataDir, mediaSettings, () => licenseUrlBase, true);
    const { stopSweeper } = processing;
    const worker = processing.worker!;
    await worker.start();
    out(`Vigil media worker ${worker.id} running (queue: ${worker.queue.kind})`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      stopSweeper();
      await worker.close();
      await store.close();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
};
