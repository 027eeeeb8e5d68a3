import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packageMedia, storeKeySource } from '@vigil/packager';
import type { VigilStore } from '@vigil/store';

export const DEMO_RESOURCE = 'vigil-demo';

export interface SampleState {
  status: 'missing' | 'preparing' | 'ready' | 'failed';
  message?: string;
}

/**
 * Makes the demo's protected sample once per data folder: a 60 s test pattern (with its clock) and a tone,
 * packaged with rotating keys (a new key every 6 s) into `<data>/demo/sample`, keys in the store.
 */
export async function prepareSample(opts: {
  store: VigilStore;
  tenantId: string;
  dataDir: string;
  licenseUrlBase: string;
  onState: (state: SampleState) => void;
}): Promise<void> {
  const dir = join(opts.dataDir, 'demo');
  const out = join(dir, 'sample');
  if (existsSync(join(out, 'manifest.mpd')) && existsSync(join(out, 'master.m3u8'))) {
    opts.onState({ status: 'ready' });
    return;
  }
  opts.onState({ status: 'preparing', message: 'packaging the demo sample (first start only)' });
  try {
    await mkdir(dir, { recursive: true });
    const source = join(dir, 'source.mp4');
    // testsrc2 draws its own running clock, so a viewer sees the picture move.
    const input =
      '-f lavfi -i testsrc2=size=854x480:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000';
    const encode = '-t 60 -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 96k';
    await ffmpeg(['-y', ...input.split(' '), ...encode.split(' '), source]);
    await packageMedia({
      input: source,
      out,
      resourceId: DEMO_RESOURCE,
      segmentDuration: 2,
      keyPeriod: 3,
      hlsAes128: true,
      keys: storeKeySource({ store: opts.store, tenantId: opts.tenantId, description: 'the demo' }),
      licenseUrlBase: opts.licenseUrlBase,
    });
    await rm(source, { force: true });
    opts.onState({ status: 'ready' });
  } catch (err) {
    opts.onState({ status: 'failed', message: (err as Error).message });
  }
}

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) =>
      fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('ffmpeg is not installed') : err),
    );
    child.on('exit', (code) =>
      code === 0 ? done() : fail(new Error(`ffmpeg failed: ${stderr.trim().split('\n').pop()}`)),
    );
  });
}
