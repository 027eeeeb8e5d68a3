import { EventEmitter } from 'node:events';
import { type FSWatcher, mkdirSync, watch } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clearKeyPssh, type TrackType } from '@vigil/keys';
import {
  encryptSegment,
  encryptTsSegment,
  type KeySource,
  parseInit,
  readFragmentTiming,
  readInit,
  readInitTracks,
  type TrackInfo,
  trackTypeForHeight,
} from '@vigil/packager';
import type { EncoderRegistry } from './encoder-guard.ts';
import { liveFfmpegArgs, SEGMENT_NAME } from './ffmpeg-args.ts';
import { addRotationSignalling, encryptLiveInit, setFragmentTiming } from './fragment/index.ts';
import { KeyRing } from './keyring.ts';
import {
  buildLiveMasterPlaylist,
  buildLiveMediaPlaylist,
  buildLiveMpd,
  DASH_DIR,
  dashInitPath,
  dashSegmentPath,
  HLS_DIR,
  hlsInitPath,
  hlsSegmentPath,
  type LiveManifestInput,
  type LiveTrack,
} from './manifests.ts';
import { claimFolder, removeChannelFiles, removeWorkDir } from './ownership.ts';
import { type LiveSettings, widthFor } from './settings.ts';
import { type RunExit, Supervisor, type SupervisorStatus } from './supervisor.ts';

export interface LiveChannelOptions {
  tenantId: string;
  channelId: string;
  resourceId: string;
  settings: LiveSettings;
  /**
   * Where players fetch from: manifests at its root, `dash/`, `hls/`. The channel claims it at start (it
   * must be absent, empty or this channel's) and removes only its own files from it.
   */
  publicDir: string;
  /** ffmpeg's scratch folder (clear fragments, deleted once encrypted); the channel's alone. */
  workDir: string;
  keys: KeySource;
  /** The key server's public base URL (license and HLS key URLs in the manifests). */
  keyServerUrl: () => string;
  ffmpegPath?: string;
  /** Restart ffmpeg when a started run produces no segment for this long. Default max(15 s, 4 segments). */
  stallMs?: number;
  /** First restart delay (doubles per failure). */
  minBackoffMs?: number;
  /** Records the running encoder's pid (see EncoderRegistry). */
  encoders?: EncoderRegistry | undefined;
}

export type ChannelState = 'starting' | 'running' | 'recovering' | 'stopped';

export interface ChannelStatus {
  state: ChannelState;
  encoder: SupervisorStatus;
  availabilityStartTime: number;
  /** Sequence number of the newest published segment. */
  lastSequence: number | undefined;
  lastSegmentAt: number | undefined;
  /** How far the newest segment's end is behind the wall clock, ms. */
  edgeLagMs: number | undefined;
  keyPeriod: number | undefined;
  segmentsPublished: number;
  /** Mean wall time to retime, encrypt and publish one segment group (all renditions), ms. */
  processingMsAvg: number | undefined;
  lastError: string | undefined;
}

interface EpochState {
  run: number;
  dir: string;
  next: number;
  /** seconds added to this run's media time */
  offset?: number;
  inits?: { info: ReturnType<typeof readInit>; track: TrackInfo; clear: Buffer }[];
  watcher?: FSWatcher;
}

interface TrackState {
  live: LiveTrack;
  trackType: TrackType;
  stream: number;
  ivSize?: number;
  dashInit?: Buffer;
  /** Segments that left the window, waiting for retention. */
  retired: { seq: number; epoch: number; at: number }[];
  /** Encoder runs whose HLS init is on disk, oldest first. */
  initEpochs: number[];
  discontinuitySequence: number;
}

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * One live channel: a supervised ffmpeg writing clear CMAF fragments, each fragment group (all renditions
 * of one segment) retimed onto the channel's timeline, encrypted twice — CENC with in-band key rotation
 * for DASH, whole-segment AES-128 for HLS — published, and the manifests rewritten over the sliding
 * window. Events: `segment` (seq, period, ms), `exit` (RunExit), `error` (Error).
 */
export class LiveChannel extends EventEmitter {
  readonly #o: LiveChannelOptions;
  readonly #supervisor: Supervisor;
  readonly #ring: KeyRing;
  readonly #tracks: TrackState[];
  #epoch: EpochState | undefined;
  #ast = 0;
  #seq = 0;
  #lastEnd = 0;
  /** Where each key period's first fragment group began (s): the DASH Periods' starts. */
  readonly #periodStarts = new Map<number, number>();
  #state: ChannelState = 'stopped';
  #queue: Promise<void> = Promise.resolve();
  #scanTimer: NodeJS.Timeout | undefined;
  #lastSegmentAt: number | undefined;
  #keyPeriod: number | undefined;
  #published = 0;
  #processingMs = 0;
  #lastError: string | undefined;
  #scanning = false;
  #rescan = false;

  constructor(opts: LiveChannelOptions) {
    super();
    this.#o = opts;
    const s = opts.settings;
    this.#tracks = [
      ...s.ladder.map((rung, i) => ({
        live: {
          id: `v${rung.height}`,
          kind: 'video' as const,
          codec: 'avc1.64001f',
          bandwidth: rung.bitrate,
          timescale: 1,
          width: widthFor(rung.height),
          height: rung.height,
          frameRate: s.frameRate,
          keyGroup: trackTypeForHeight(rung.height),
          segments: [],
        },
        trackType: trackTypeForHeight(rung.height),
        stream: i,
        retired: [],
        initEpochs: [],
        discontinuitySequence: 0,
      })),
      {
        live: {
          id: 'a',
          kind: 'audio' as const,
          codec: 'mp4a.40.2',
          bandwidth: s.audioBitrate,
          timescale: 48_000,
          sampleRate: 48_000,
          segments: [],
        },
        trackType: 'audio' as TrackType,
        stream: s.ladder.length,
        retired: [],
        initEpochs: [],
        discontinuitySequence: 0,
      },
    ];
    this.#ring = new KeyRing(opts.keys, opts.resourceId, [...new Set(this.#tracks.map((t) => t.trackType))]);
    this.#supervisor = new Supervisor({
      command: opts.ffmpegPath ?? process.env.VIGIL_FFMPEG ?? 'ffmpeg',
      args: (run) => {
        // ffmpeg writes into the run's folder from its first second: it must exist before the spawn.
        const dir = join(opts.workDir, `run-${run}`);
        mkdirSync(dir, { recursive: true });
        return liveFfmpegArgs(s, dir);
      },
      minBackoffMs: opts.minBackoffMs ?? 500,
      registry: opts.encoders,
    });
    this.#supervisor.on('spawn', (run: number) => this.#beginEpoch(run));
    this.#supervisor.on('exit', (exit: RunExit) => {
      if (this.#state === 'stopped') return;
      this.#state = 'recovering';
      this.#lastError = lastLine(exit.stderr) ?? `ffmpeg exited (${exit.signal ?? exit.code})`;
      this.emit('exit', exit);
    });
  }

  get settings(): LiveSettings {
    return this.#o.settings;
  }

  /**
   * Claims the public folder (ResourceContentError when it holds anything this channel did not write),
   * clears what an earlier run left, and starts the encoder.
   */
  async start(): Promise<void> {
    if (this.#state !== 'stopped') return;
    await claimFolder(this.#o.publicDir, this.#o.tenantId, this.#o.channelId);
    await removeWorkDir(this.#o.workDir);
    for (const t of this.#tracks) {
      await mkdir(join(this.#o.publicDir, DASH_DIR, t.live.id), { recursive: true });
      await mkdir(join(this.#o.publicDir, HLS_DIR, t.live.id), { recursive: true });
    }
    this.#ast = Date.now();
    this.#state = 'starting';
    this.#supervisor.start();
    this.#scanTimer = setInterval(() => this.#scan(), 500);
    this.#scanTimer.unref();
  }

  /** Stops ffmpeg and removes what the channel published (only that: see removeChannelFiles). */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    clearInterval(this.#scanTimer);
    this.#epoch?.watcher?.close();
    await this.#supervisor.stop();
    await this.#queue.catch(() => {});
    await removeChannelFiles(this.#o.publicDir, this.#o.tenantId, this.#o.channelId);
    await removeWorkDir(this.#o.workDir);
  }

  /** Kills the encoder as if it had crashed (tests, operators). */
  restartEncoder(reason = 'requested'): void {
    this.#supervisor.restart(reason);
  }

  status(): ChannelStatus {
    const now = Date.now();
    const last = this.#tracks[0]!.live.segments.at(-1);
    const ts = this.#tracks[0]!.live.timescale;
    return {
      state: this.#state,
      encoder: this.#supervisor.status(),
      availabilityStartTime: this.#ast,
      lastSequence: last?.seq,
      lastSegmentAt: this.#lastSegmentAt,
      edgeLagMs: last
        ? Math.round(now - (this.#ast + ((last.start + last.duration) / ts) * 1000))
        : undefined,
      keyPeriod: this.#keyPeriod,
      segmentsPublished: this.#published,
      processingMsAvg: this.#published
        ? Number((this.#processingMs / this.#published).toFixed(2))
        : undefined,
      lastError: this.#lastError,
    };
  }

  // ---- ingest

  #beginEpoch(run: number): void {
    const previous = this.#epoch;
    previous?.watcher?.close();
    if (previous) rm(previous.dir, { recursive: true, force: true }).catch(() => {});
    const dir = join(this.#o.workDir, `run-${run}`);
    const epoch: EpochState = { run, dir, next: 1 };
    this.#epoch = epoch;
    try {
      epoch.watcher = watch(dir, () => this.#scan());
      epoch.watcher.on('error', () => {});
    } catch {
      // The interval scan still finds the fragments.
    }
  }

  /** Finds complete fragment groups of the current run and queues them in order. */
  #scan(): void {
    const epoch = this.#epoch;
    if (!epoch || this.#state === 'stopped') return;
    if (this.#scanning) {
      // A fragment finished while the folder was being read: look again right after.
      this.#rescan = true;
      return;
    }
    this.#scanning = true;
    this.#rescan = false;
    readdir(epoch.dir)
      .then((names) => {
        const have = new Set<string>();
        for (const name of names) if (SEGMENT_NAME.test(name)) have.add(name);
        const streams = this.#tracks.length;
        while (true) {
          const n = epoch.next;
          const group = Array.from(
            { length: streams },
            (_, s) => `seg-${s}-${String(n).padStart(5, '0')}.m4s`,
          );
          if (!group.every((g) => have.has(g))) break;
          epoch.next++;
          this.#queue = this.#queue
            .then(() => this.#publishGroup(epoch, group))
            .catch((err: Error) => {
              this.#lastError = err.message;
              this.emit('error', err);
            });
        }
        this.#stallCheck(epoch);
      })
      .catch(() => {})
      .finally(() => {
        this.#scanning = false;
        if (this.#rescan) this.#scan();
      });
  }

  #stallCheck(epoch: EpochState): void {
    const s = this.#o.settings;
    const stallMs = this.#o.stallMs ?? Math.max(15_000, 4 * s.segmentDuration * 1000);
    const enc = this.#supervisor.status();
    // Listening inputs wait for a publisher: only a run that has produced segments can stall.
    if (enc.state !== 'running' || epoch.next === 1 || !this.#lastSegmentAt) return;
    if (Date.now() - this.#lastSegmentAt > stallMs) this.#supervisor.restart('stalled');
  }

  async #loadInits(epoch: EpochState): Promise<NonNullable<EpochState['inits']>> {
    if (epoch.inits) return epoch.inits;
    const inits = [];
    for (const t of this.#tracks) {
      const clear = await readFile(join(epoch.dir, `init-${t.stream}.m4s`));
      const info = readInit(clear);
      const track = parseInit(clear)[0];
      if (!track) throw new Error(`ffmpeg's init segment ${t.stream} has no track`);
      inits.push({ info, track, clear });
    }
    epoch.inits = inits;
    return inits;
  }

  async #publishGroup(epoch: EpochState, names: string[]): Promise<void> {
    if (this.#state === 'stopped') return;
    const began = performance.now();
    const s = this.#o.settings;
    const inits = await this.#loadInits(epoch);
    const clear = await Promise.all(names.map((n) => readFile(join(epoch.dir, n))));
    const t0 = readFragmentTiming(clear[0]!, inits[0]!.info.defaultSampleDuration);
    const ts0 = inits[0]!.info.timescale;
    if (epoch.offset === undefined) {
      // This run's media time 0 was about when its first fragment began: place it on the channel's
      // clock, never before what is already published, on a segment boundary.
      const wall = (Date.now() - this.#ast) / 1000 - (t0.start + t0.duration) / ts0;
      const d = s.segmentDuration;
      epoch.offset = Math.max(this.#lastEnd, Math.round(Math.max(0, wall) / d) * d);
      await this.#publishInits(epoch, inits);
    }
    const startSec = epoch.offset + t0.start / ts0;
    const period = Math.floor((startSec + 1e-3) / s.keyPeriodSeconds);
    const keys = await this.#ring.keysFor(period);
    const seq = ++this.#seq;
    const pub = this.#o.publicDir;
    let groupStart = Number.POSITIVE_INFINITY;
    for (const [i, t] of this.#tracks.entries()) {
      const init = inits[i]!;
      const timing = i === 0 ? t0 : readFragmentTiming(clear[i]!, init.info.defaultSampleDuration);
      const start = Math.round(epoch.offset * init.info.timescale) + timing.start;
      const fragment = setFragmentTiming(clear[i]!, { baseMediaDecodeTime: start, sequenceNumber: seq });
      const cmaf = keys.cmaf.get(t.trackType)!;
      const hls = keys.hls.get(t.trackType)!;
      const encrypted = encryptSegment(fragment, init.track, {
        scheme: 'cenc',
        key: cmaf.key,
        kid: cmaf.kid,
        // Disjoint counter ranges per (rendition, segment) under one key.
        ivSeed: (BigInt(t.stream) << 56n) | (BigInt(seq) << 20n),
      });
      const signalled = addRotationSignalling(encrypted, {
        kid: cmaf.kid,
        ivSize: t.ivSize!,
        scheme: 'cenc',
        psshBoxes: [clearKeyPssh([cmaf.kid])],
      });
      await writeAtomic(join(pub, dashSegmentPath(t.live.id, seq)), signalled);
      await writeAtomic(join(pub, hlsSegmentPath(t.live.id, seq)), encryptTsSegment(fragment, hls.key, seq));
      t.live.segments.push({
        seq,
        start,
        duration: timing.duration,
        period,
        epoch: epoch.run,
        kid: cmaf.kid,
      });
      groupStart = Math.min(groupStart, start / init.info.timescale);
    }
    if (!this.#periodStarts.has(period)) this.#periodStarts.set(period, groupStart);
    this.#lastEnd = startSec + t0.duration / ts0;
    await Promise.all(names.map((n) => unlink(join(epoch.dir, n)).catch(() => {})));
    await this.#slideWindow();
    await this.#writeManifests();
    const ms = performance.now() - began;
    this.#published++;
    this.#processingMs += ms;
    this.#lastSegmentAt = Date.now();
    this.#keyPeriod = period;
    // (stop() may have run while this group was being written.)
    if ((this.#state as ChannelState) !== 'stopped') this.#state = 'running';
    this.#lastError = undefined;
    this.emit('segment', seq, period, ms);
  }

  async #publishInits(epoch: EpochState, inits: NonNullable<EpochState['inits']>): Promise<void> {
    const period = Math.floor((epoch.offset ?? 0) / this.#o.settings.keyPeriodSeconds);
    const keys = await this.#ring.keysFor(period);
    for (const [i, t] of this.#tracks.entries()) {
      const init = inits[i]!;
      t.live.codec = init.info.codec;
      t.live.timescale = init.info.timescale;
      if (init.info.width) t.live.width = init.info.width;
      if (init.info.height) t.live.height = init.info.height;
      if (init.info.sampleRate) t.live.sampleRate = init.info.sampleRate;
      // HLS: the run's clear init (a new run may differ; its segments follow a discontinuity).
      await writeAtomic(join(this.#o.publicDir, hlsInitPath(t.live.id, epoch.run)), init.clear);
      t.initEpochs.push(epoch.run);
      // DASH: one init for the channel's single Period; it names the first period's kid by default, each
      // fragment names its own. Same encoder settings give the same init, so later runs keep it.
      if (!t.dashInit) {
        t.dashInit = encryptLiveInit(init.clear, { scheme: 'cenc', kid: keys.cmaf.get(t.trackType)!.kid });
        // The fragments' senc must use the IV size the init's tenc declares.
        t.ivSize = readInitTracks(t.dashInit)[0]?.protection?.perSampleIvSize;
        if (!t.ivSize) throw new Error(`the encrypted init of ${t.live.id} declares no per-sample IV size`);
        await writeAtomic(join(this.#o.publicDir, dashInitPath(t.live.id)), t.dashInit);
      }
    }
  }

  /** Drops segments older than the window from the manifests, and files older than retention from disk. */
  async #slideWindow(): Promise<void> {
    const s = this.#o.settings;
    const now = Date.now();
    const keepFrom = this.#lastEnd - s.windowSeconds;
    let oldestPeriod = Number.POSITIVE_INFINITY;
    // Every track leaves the window at the same sequence number, the first track's (audio and video
    // durations differ by a few ms): players that line renditions up by position (VHS) stay aligned.
    const first = this.#tracks[0]!.live;
    let keepSeq = first.segments[0]?.seq ?? 0;
    for (const seg of first.segments.slice(0, -1)) {
      if ((seg.start + seg.duration) / first.timescale > keepFrom) break;
      keepSeq = seg.seq + 1;
    }
    for (const t of this.#tracks) {
      const segs = t.live.segments;
      while (segs.length > 1 && segs[0]!.seq < keepSeq) {
        const gone = segs.shift()!;
        if (segs[0]!.epoch !== gone.epoch) t.discontinuitySequence++;
        t.retired.push({ seq: gone.seq, epoch: gone.epoch, at: now });
      }
      oldestPeriod = Math.min(oldestPeriod, segs[0]?.period ?? oldestPeriod);
      while (t.retired.length > 0 && now - t.retired[0]!.at >= s.retentionSeconds * 1000) {
        const old = t.retired.shift()!;
        await rm(join(this.#o.publicDir, dashSegmentPath(t.live.id, old.seq)), { force: true });
        await rm(join(this.#o.publicDir, hlsSegmentPath(t.live.id, old.seq)), { force: true });
      }
      // An encoder run's HLS init goes with the last of its segments still on disk.
      const oldestEpoch = t.retired[0]?.epoch ?? segs[0]?.epoch;
      while (oldestEpoch !== undefined && t.initEpochs.length > 0 && t.initEpochs[0]! < oldestEpoch) {
        await rm(join(this.#o.publicDir, hlsInitPath(t.live.id, t.initEpochs.shift()!)), { force: true });
      }
    }
    if (Number.isFinite(oldestPeriod)) {
      this.#ring.forgetBefore(oldestPeriod);
      for (const p of this.#periodStarts.keys()) if (p < oldestPeriod) this.#periodStarts.delete(p);
    }
  }

  async #writeManifests(): Promise<void> {
    const s = this.#o.settings;
    const base = this.#o.keyServerUrl().replace(/\/+$/, '');
    const input: LiveManifestInput = {
      availabilityStartTime: this.#ast,
      publishTime: Date.now(),
      segmentDuration: s.segmentDuration,
      windowSeconds: s.windowSeconds,
      licenseUrl: `${base}/v1/license/clearkey`,
      periodStarts: this.#periodStarts,
      utcTimingUrl: `${base}/v1/time`,
      tracks: this.#tracks.map((t) => t.live),
    };
    const pub = this.#o.publicDir;
    const keyUrl = (kid: string) => `${base}/v1/license/hls/${kid}`;
    for (const t of this.#tracks) {
      const playlist = buildLiveMediaPlaylist(
        input,
        t.live,
        keyUrl,
        (_track, period) => this.#ring.peekHlsKid(period, t.trackType),
        t.discontinuitySequence,
      );
      await writeAtomic(join(pub, HLS_DIR, `${t.live.id}.m3u8`), playlist);
    }
    await writeAtomic(join(pub, 'master.m3u8'), buildLiveMasterPlaylist(input.tracks));
    await writeAtomic(join(pub, 'manifest.mpd'), buildLiveMpd(input));
  }
}

function lastLine(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.at(-1)?.slice(0, 300);
}
