/**
 * The HLS AES-128 set: MPEG-TS segments remuxed (not re-encoded) from the same clear CMAF encode, each
 * encrypted here whole with AES-128-CBC, keys rotating every key period through successive
 * `#EXT-X-KEY:METHOD=AES-128,URI="<server>/v1/license/hls/<kid>"` tags. The player appends its viewer
 * token to the key URI; no key material is ever written to disk.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrackType } from '@vigil/keys';
import type { PackagingKey } from '../keys/source.ts';
import {
  type HlsItem,
  targetDuration,
  writeMasterPlaylist,
  writeMediaPlaylist,
} from '../manifest/hls-writer.ts';
import { throwIfAborted } from '../pipeline/errors.ts';
import { ffmpeg } from '../pipeline/ffmpeg.ts';
import type { LayoutTsSegment, LayoutTsVariant } from '../pipeline/layout.ts';
import type { ClearTrack } from '../pipeline/transcode.ts';
import { encryptTsSegment } from './cipher.ts';

export const HLS_AES_DIR = 'hls-aes';

async function concatTrack(track: ClearTrack, path: string): Promise<void> {
  const out = createWriteStream(path);
  for (const file of [track.init, ...track.segments.map((s) => s.path)]) {
    if (!out.write(await readFile(file))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Parses the EXTINF entries of ffmpeg's playlist. */
function readPlaylist(text: string): { file: string; duration: number }[] {
  const entries: { file: string; duration: number }[] = [];
  let duration: number | undefined;
  for (const line of text.split('\n').map((l) => l.trim())) {
    const m = /^#EXTINF:([0-9.]+)/.exec(line);
    if (m) duration = Number(m[1]);
    else if (line && !line.startsWith('#') && duration !== undefined) {
      entries.push({ file: line, duration });
      duration = undefined;
    }
  }
  return entries;
}

export interface TsPackagingOptions {
  videoTracks: (ClearTrack & { trackType: TrackType })[];
  audioTrack: ClearTrack | undefined;
  segmentDuration: number;
  keyPeriodSegments: number;
  /** The key of (period, track type) for the TS set. */
  keyFor(period: number, trackType: TrackType): PackagingKey;
  workDir: string;
  outDir: string;
  signal?: AbortSignal | undefined;
  onProgress?: (fraction: number) => void;
}

export async function packageTsVariants(opts: TsPackagingOptions): Promise<LayoutTsVariant[]> {
  const srcDir = join(opts.workDir, 'ts-src');
  const tsDir = join(opts.workDir, 'ts');
  await rm(srcDir, { recursive: true, force: true });
  await rm(tsDir, { recursive: true, force: true });
  await mkdir(srcDir, { recursive: true });
  try {
    let audioPath: string | undefined;
    if (opts.audioTrack) {
      audioPath = join(srcDir, 'audio.mp4');
      await concatTrack(opts.audioTrack, audioPath);
    }
    const variants: LayoutTsVariant[] = [];
    for (const [v, video] of opts.videoTracks.entries()) {
      throwIfAborted(opts.signal);
      const videoPath = join(srcDir, `${video.id}.mp4`);
      await concatTrack(video, videoPath);
      const clearDir = join(tsDir, video.id);
      await mkdir(clearDir, { recursive: true });
      await ffmpeg(
        [
          '-loglevel',
          'error',
          '-i',
          videoPath,
          ...(audioPath ? ['-i', audioPath] : []),
          '-map',
          '0:v:0',
          ...(audioPath ? ['-map', '1:a:0'] : []),
          '-c',
          'copy',
          '-f',
          'hls',
          '-hls_time',
          String(opts.segmentDuration),
          '-hls_list_size',
          '0',
          '-hls_playlist_type',
          'vod',
          '-hls_segment_type',
          'mpegts',
          '-start_number',
          '0',
          '-hls_segment_filename',
          join(clearDir, 'seg-%05d.ts'),
          join(clearDir, 'index.m3u8'),
        ],
        'remuxing to MPEG-TS',
        { signal: opts.signal },
      );
      const entries = readPlaylist(await readFile(join(clearDir, 'index.m3u8'), 'utf8'));
      const variantDir = join(opts.outDir, HLS_AES_DIR, video.id);
      await mkdir(variantDir, { recursive: true });
      const lastPeriod = Math.max(0, Math.ceil(video.segments.length / opts.keyPeriodSegments) - 1);
      const segments: LayoutTsSegment[] = [];
      for (const [i, entry] of entries.entries()) {
        throwIfAborted(opts.signal);
        const period = Math.min(Math.floor(i / opts.keyPeriodSegments), lastPeriod);
        const key = opts.keyFor(period, video.trackType);
        const sequence = i;
        const name = `seg-${String(sequence).padStart(5, '0')}.ts`;
        const encrypted = encryptTsSegment(await readFile(join(clearDir, entry.file)), key.key, sequence);
        await writeFile(join(variantDir, name), encrypted);
        segments.push({
          sequence,
          file: `${HLS_AES_DIR}/${video.id}/${name}`,
          duration: entry.duration,
          size: encrypted.length,
          period,
          kid: key.kid,
        });
      }
      const total = segments.reduce((a, s) => a + s.duration, 0);
      const bytes = segments.reduce((a, s) => a + s.size, 0);
      variants.push({
        id: video.id,
        playlist: `${HLS_AES_DIR}/${video.id}/playlist.m3u8`,
        width: video.width ?? 0,
        height: video.height ?? 0,
        trackType: video.trackType,
        bandwidth: Math.round(Math.max(...segments.map((s) => (s.size * 8) / Math.max(s.duration, 0.001)))),
        averageBandwidth: Math.round((bytes * 8) / Math.max(total, 0.001)),
        codecs: opts.audioTrack ? `${video.codec},${opts.audioTrack.codec}` : video.codec,
        segments,
      });
      await rm(videoPath, { force: true });
      await rm(clearDir, { recursive: true, force: true });
      opts.onProgress?.((v + 1) / opts.videoTracks.length);
    }
    return variants;
  } finally {
    await rm(srcDir, { recursive: true, force: true });
    await rm(tsDir, { recursive: true, force: true });
  }
}

/** A TS media playlist: a new `#EXT-X-KEY` wherever the key changes; IV implicit (the media sequence). */
export function buildTsMediaPlaylist(variant: LayoutTsVariant, keyUrlBase: string): string {
  const items: HlsItem[] = [];
  let kid: string | undefined;
  for (const seg of variant.segments) {
    if (seg.kid !== kid) {
      kid = seg.kid;
      items.push({ key: { method: 'AES-128', uri: `${keyUrlBase}/${kid}` } });
    }
    items.push({ segment: { duration: seg.duration, uri: seg.file.split('/').at(-1)! } });
  }
  return writeMediaPlaylist({
    version: 3,
    targetDuration: targetDuration(variant.segments.map((s) => s.duration)),
    mediaSequence: variant.segments[0]?.sequence ?? 0,
    playlistType: 'VOD',
    items,
    endList: true,
  });
}

export function buildTsMasterPlaylist(variants: LayoutTsVariant[], frameRate?: number): string {
  return writeMasterPlaylist({
    version: 3,
    variants: variants.map((v) => ({
      bandwidth: v.bandwidth,
      averageBandwidth: v.averageBandwidth,
      codecs: v.codecs,
      width: v.width,
      height: v.height,
      frameRate,
      uri: v.playlist,
    })),
  });
}
