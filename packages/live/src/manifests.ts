import {
  adaptationSet,
  contentProtection,
  representation as dashRepresentation,
  type HlsItem,
  period,
  writeMasterPlaylist,
  writeMediaPlaylist,
  writeMpd,
  type XmlElement,
} from '@vigil/packager';

/**
 * Live manifests over the channel's sliding window (pure). DASH: dynamic, one Period per key period with
 * a SegmentTimeline per Representation (numbers are Vigil's sequence numbers, gaps after an encoder
 * restart are explicit) over the channel's one init segment, CENC signalled with the period's KID as
 * `cenc:default_KID` (dash.js requests ClearKey licenses only from the MPD's KIDs; Shaka and the plugin
 * also follow each fragment's `seig` group and `pssh`), and UTCTiming. HLS: media playlists with whole-segment AES-128 on the
 * same CMAF fragments, one `#EXT-X-KEY` per key period, a clear init segment, discontinuities per restart.
 * This file says what they hold; the packager's one MPD and HLS writers (mpd-writer.ts, hls-writer.ts)
 * write them, as they write the on-demand ones.
 */

export interface WindowSegment {
  /** Vigil's sequence number: DASH `$Number$`, HLS media sequence, file name. */
  seq: number;
  /** Decode start in the track's timescale, counted from the channel's availabilityStartTime. */
  start: number;
  duration: number;
  /** Key period index (rotation). */
  period: number;
  /** Encoder run: a new one begins with a discontinuity (and its own init segment for HLS). */
  epoch: number;
  /** The CENC KID the fragment is encrypted with (32 hex digits): its DASH Period's default_KID. */
  kid?: string;
}

export interface LiveTrack {
  /** Representation id and folder name: `v360`, `a`. */
  id: string;
  kind: 'video' | 'audio';
  /** Video tracks with the same key (track type) share an AdaptationSet. */
  keyGroup?: string;
  codec: string;
  bandwidth: number;
  timescale: number;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  /** Oldest first. */
  segments: WindowSegment[];
}

export interface LiveManifestInput {
  availabilityStartTime: number;
  publishTime: number;
  segmentDuration: number;
  windowSeconds: number;
  /** The ClearKey license URL (dashif:Laurl). */
  licenseUrl: string;
  /**
   * Where each key period began (seconds since availabilityStartTime): its DASH Period's start, which must
   * not move while the Period's first segments leave the window. Absent: its first segment in the window.
   */
  periodStarts?: ReadonlyMap<number, number>;
  /** `http-iso` time source for UTCTiming. */
  utcTimingUrl: string;
  tracks: LiveTrack[];
}

export const DASH_DIR = 'dash';
export const HLS_DIR = 'hls';

export const dashInitPath = (track: string) => `${DASH_DIR}/${track}/init.mp4`;
export const dashSegmentPath = (track: string, seq: number) => `${DASH_DIR}/${track}/${seq}.m4s`;
export const hlsInitPath = (track: string, epoch: number) => `${HLS_DIR}/${track}/init-${epoch}.mp4`;
export const hlsSegmentPath = (track: string, seq: number) => `${HLS_DIR}/${track}/${seq}.m4s`;

function representation(track: LiveTrack, segments: WindowSegment[], periodStart: number): XmlElement {
  return dashRepresentation({
    id: track.id,
    bandwidth: track.bandwidth,
    codecs: track.codec,
    width: track.width || undefined,
    height: track.width ? track.height : undefined,
    frameRate: track.frameRate || undefined,
    audioSamplingRate: track.sampleRate || undefined,
    audioChannels: track.kind === 'audio' ? 2 : undefined,
    template: {
      timescale: track.timescale,
      presentationTimeOffset: Math.floor(periodStart * track.timescale),
      startNumber: segments[0]?.seq ?? 1,
      initialization: `${DASH_DIR}/${track.id}/init.mp4`,
      media: `${DASH_DIR}/${track.id}/$Number$.m4s`,
      segments,
    },
  });
}

interface SetPlan {
  id: number;
  kind: 'video' | 'audio';
  tracks: LiveTrack[];
}

/** The window's tracks grouped into AdaptationSets: video by key (track type), then each audio track. */
function adaptationSets(tracks: LiveTrack[]): SetPlan[] {
  const groups = new Map<string, LiveTrack[]>();
  for (const t of tracks.filter((x) => x.kind === 'video')) {
    const key = t.keyGroup ?? 'video';
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const sets: SetPlan[] = [...groups.values()].map((g, id) => ({ id, kind: 'video', tracks: g }));
  for (const t of tracks.filter((x) => x.kind === 'audio'))
    sets.push({ id: sets.length, kind: 'audio', tracks: [t] });
  return sets;
}

/** Where key period `period` begins (seconds since availabilityStartTime, whole milliseconds). */
function periodStart(m: LiveManifestInput, tracks: LiveTrack[], period: number): number {
  const known = m.periodStarts?.get(period);
  const first = Math.min(
    ...tracks.map((t) => {
      const s = t.segments.find((x) => x.period === period);
      return s ? s.start / t.timescale : Number.POSITIVE_INFINITY;
    }),
  );
  return Math.floor(Math.min(known ?? first, first) * 1000) / 1000;
}

/**
 * A Period's segments with the last one ending where the next Period begins, when they differ by a few
 * milliseconds (audio frames do not fall on video's segment boundaries): players that pick each
 * rendition's segment by time (VHS) then never see audio in one Period and video in the next. A real gap
 * (an encoder restart) stays a gap.
 */
function endAt(track: LiveTrack, segments: WindowSegment[], nextStart: number | undefined): WindowSegment[] {
  const last = segments.at(-1);
  if (!last || nextStart === undefined) return segments;
  const excess = last.start + last.duration - Math.floor(nextStart * track.timescale);
  if (excess === 0 || Math.abs(excess) > last.duration / 4) return segments;
  return [...segments.slice(0, -1), { ...last, duration: last.duration - excess }];
}

export function buildLiveMpd(m: LiveManifestInput): string {
  const tracks = m.tracks.filter((t) => t.segments.length > 0);
  const sets = adaptationSets(tracks);
  const videoSetIds = sets.filter((s) => s.kind === 'video').map((s) => s.id);
  const keyPeriods = [...new Set(tracks.flatMap((t) => t.segments.map((s) => s.period)))].sort(
    (a, b) => a - b,
  );
  const periods: XmlElement[] = [];
  let previous: { id: string; sets: Set<number> } | undefined;
  const starts = keyPeriods.map((p) => periodStart(m, tracks, p));
  for (const [i, keyPeriod] of keyPeriods.entries()) {
    const start = starts[i]!;
    const next = starts[i + 1];
    const present = new Set<number>();
    const xml: XmlElement[] = [];
    for (const set of sets) {
      const parts = set.tracks
        .map((track) => ({
          track,
          segments: endAt(
            track,
            track.segments.filter((s) => s.period === keyPeriod),
            next,
          ),
        }))
        .filter((p) => p.segments.length > 0);
      if (parts.length === 0) continue;
      present.add(set.id);
      xml.push(
        adaptationSet({
          id: set.id,
          kind: set.kind,
          protection: contentProtection('cenc', parts[0]!.segments[0]!.kid, m.licenseUrl, false),
          continues: previous?.sets.has(set.id) ? previous.id : undefined,
          switchableWith:
            set.kind === 'video' && videoSetIds.length > 1
              ? videoSetIds.filter((id) => id !== set.id)
              : undefined,
          representations: parts.map((p) => representation(p.track, p.segments, start)),
        }),
      );
    }
    const id = `p${keyPeriod}`;
    periods.push(period(id, start, undefined, xml));
    previous = { id, sets: present };
  }
  const d = m.segmentDuration;
  return writeMpd({
    type: 'dynamic',
    profiles: 'urn:mpeg:dash:profile:isoff-live:2011,http://dashif.org/guidelines/dash-if-simple',
    dashifNamespace: true,
    availabilityStartTime: m.availabilityStartTime,
    publishTime: m.publishTime,
    minimumUpdatePeriod: d,
    minBufferTime: d * 2,
    timeShiftBufferDepth: m.windowSeconds,
    suggestedPresentationDelay: d * 3,
    maxSegmentDuration: d * 1.5,
    periods,
    utcTiming: m.utcTimingUrl,
    layout: 'periods',
  });
}

/** The HLS AES-128 key of a track's key period: the kid the key server knows it by. */
export type HlsKeyLookup = (track: LiveTrack, period: number) => string | undefined;

export function buildLiveMediaPlaylist(
  m: LiveManifestInput,
  track: LiveTrack,
  keyUrl: (kid: string) => string,
  hlsKid: HlsKeyLookup,
  discontinuitySequence: number,
): string {
  const segs = track.segments;
  const items: HlsItem[] = [];
  let epoch: number | undefined;
  let kid: string | undefined;
  for (const s of segs) {
    if (epoch !== undefined && s.epoch !== epoch) items.push({ discontinuity: true });
    if (s.epoch !== epoch) {
      // The init segment is clear: no key may be in effect where EXT-X-MAP appears.
      if (kid !== undefined) items.push({ key: { method: 'NONE' } });
      items.push({ map: `${track.id}/init-${s.epoch}.mp4` });
      kid = undefined;
      epoch = s.epoch;
    }
    const segKid = hlsKid(track, s.period);
    if (!segKid) continue;
    if (segKid !== kid) {
      // A key tag only where the key changes; without an IV attribute the IV is the media sequence
      // number (RFC 8216 §5.2), which is how Vigil encrypts.
      items.push({ key: { method: 'AES-128', uri: keyUrl(segKid) } });
      kid = segKid;
    }
    items.push({
      segment: {
        duration: s.duration / track.timescale,
        uri: `${track.id}/${s.seq}.m4s`,
        programDateTime: m.availabilityStartTime + (s.start / track.timescale) * 1000,
      },
    });
  }
  return writeMediaPlaylist({
    version: 7,
    targetDuration: Math.max(
      m.segmentDuration,
      ...segs.map((s) => Math.ceil(s.duration / track.timescale - 0.001)),
    ),
    mediaSequence: segs[0]?.seq ?? 0,
    discontinuitySequence,
    independentSegments: true,
    items,
  });
}

export function buildLiveMasterPlaylist(tracks: LiveTrack[]): string {
  const audio = tracks.find((t) => t.kind === 'audio');
  return writeMasterPlaylist({
    version: 7,
    independentSegments: true,
    ...(audio ? { audio: { channels: 2, uri: `${HLS_DIR}/${audio.id}.m3u8` } } : {}),
    variants: tracks
      .filter((t) => t.kind === 'video')
      .map((v) => ({
        bandwidth: v.bandwidth + (audio?.bandwidth ?? 0),
        codecs: audio ? `${v.codec},${audio.codec}` : v.codec,
        width: v.width,
        height: v.height,
        frameRate: v.frameRate,
        audio: audio !== undefined,
        uri: `${HLS_DIR}/${v.id}.m3u8`,
      })),
  });
}
