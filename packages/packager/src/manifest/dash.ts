/**
 * The DASH MPD of a package: static, one Period per key period. Each Period names its own init segment
 * per representation (whose `tenc` carries that period's kid) over the same numbered media segments,
 * through a SegmentTemplate with startNumber, presentationTimeOffset and a SegmentTimeline. Video
 * renditions with different keys (SD vs HD) sit in separate AdaptationSets marked as switchable, since
 * players read ContentProtection per AdaptationSet. URLs are relative: the package folder can be served
 * as it is. Written by the one MPD writer (./mpd-writer.ts), as the live MPD is.
 */
import type { LayoutTrack, LayoutTrackPeriod, PackageLayout } from '../pipeline/layout.ts';
import {
  adaptationSet,
  contentProtection,
  period,
  representation,
  writeMpd,
  type XmlElement,
} from './mpd-writer.ts';

interface SetPlan {
  id: number;
  kind: 'video' | 'audio';
  tracks: LayoutTrack[];
}

/** Video tracks grouped by key (track type), then audio: the AdaptationSets of every Period. */
function adaptationSets(layout: PackageLayout): SetPlan[] {
  const sets: SetPlan[] = [];
  const video = layout.tracks.filter((t) => t.kind === 'video');
  const groups = new Map<string, LayoutTrack[]>();
  for (const t of video) {
    const key = layout.scheme === 'none' ? 'all' : t.trackType;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const tracks of groups.values()) sets.push({ id: sets.length, kind: 'video', tracks });
  const audio = layout.tracks.filter((t) => t.kind === 'audio');
  if (audio.length > 0) sets.push({ id: sets.length, kind: 'audio', tracks: audio });
  return sets;
}

function trackRepresentation(track: LayoutTrack, part: LayoutTrackPeriod, periodStart: number): XmlElement {
  return representation({
    id: track.id,
    bandwidth: track.bandwidth,
    codecs: track.codec,
    width: track.width,
    height: track.height,
    frameRate: track.frameRate,
    sar: track.kind === 'video' ? '1:1' : undefined,
    audioSamplingRate: track.sampleRate,
    audioChannels: track.kind === 'audio' ? (track.channels ?? 2) : undefined,
    template: {
      timescale: track.timescale,
      presentationTimeOffset: Math.round(periodStart * track.timescale),
      startNumber: part.segments[0]!.number,
      initialization: part.init,
      media: `${track.id}/seg-$Number%05d$.m4s`,
      segments: part.segments,
    },
  });
}

export function buildMpd(layout: PackageLayout): string {
  const sets = adaptationSets(layout);
  const videoSetIds = sets.filter((s) => s.kind === 'video').map((s) => s.id);
  const maxSegment = Math.max(
    ...layout.tracks.flatMap((t) =>
      t.periods.flatMap((p) => p.segments.map((s) => s.duration / t.timescale)),
    ),
  );
  const periods = layout.periods.map((p) => {
    const xml: XmlElement[] = [];
    for (const set of sets) {
      const parts = set.tracks
        .map((t) => ({ track: t, part: t.periods.find((x) => x.period === p.index) }))
        .filter(
          (x): x is { track: LayoutTrack; part: LayoutTrackPeriod } => !!x.part && x.part.segments.length > 0,
        );
      if (parts.length === 0) continue;
      const video = set.kind === 'video';
      const kid = parts[0]!.part.kid;
      xml.push(
        adaptationSet({
          id: set.id,
          kind: set.kind,
          maxWidth: video ? Math.max(...parts.map((x) => x.track.width ?? 0)) : undefined,
          maxHeight: video ? Math.max(...parts.map((x) => x.track.height ?? 0)) : undefined,
          frameRate: video ? parts[0]!.track.frameRate : undefined,
          protection:
            layout.scheme !== 'none' && kid && layout.licenseUrl
              ? contentProtection(layout.scheme, kid, layout.licenseUrl, true)
              : undefined,
          continues: p.index > 0 ? `p${p.index - 1}` : undefined,
          switchableWith:
            video && videoSetIds.length > 1 ? videoSetIds.filter((id) => id !== set.id) : undefined,
          mainRole: set.kind === 'audio',
          representations: parts.map(({ track, part }) => trackRepresentation(track, part, p.start)),
        }),
      );
    }
    return period(`p${p.index}`, p.start, p.duration, xml);
  });
  return writeMpd({
    type: 'static',
    profiles: 'urn:mpeg:dash:profile:isoff-live:2011',
    mediaPresentationDuration: layout.duration,
    maxSegmentDuration: maxSegment,
    minBufferTime: Math.max(2, layout.segmentDuration),
    periods,
    layout: 'indented',
  });
}
