/**
 * The DASH MPD of a package: static, one Period per key period. Each Period names its own init segment
 * per representation (whose `tenc` carries that period's kid) over the same numbered media segments,
 * through a SegmentTemplate with startNumber, presentationTimeOffset and a SegmentTimeline. Video
 * renditions with different keys (SD vs HD) sit in separate AdaptationSets marked as switchable, since
 * players read ContentProtection per AdaptationSet. URLs are relative: the package folder can be served
 * as it is.
 */
import { hexToUuid, xmlEscape } from '@vigil/keys';
import type { LayoutTrack, LayoutTrackPeriod, PackageLayout } from '../pipeline/layout.ts';

export const MP4_PROTECTION_SCHEME = 'urn:mpeg:dash:mp4protection:2011';
/** DASH-IF ClearKey: the system dash.js and Shaka read `dashif:Laurl` from. */
export const DASHIF_CLEARKEY_SCHEME = 'urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e';
export const DASHIF_CPS_NS = 'https://dashif.org/CPS';

/** xs:duration with millisecond precision. */
export function isoDuration(seconds: number): string {
  return `PT${(Math.round(seconds * 1000) / 1000).toFixed(3)}S`;
}

const attrs = (pairs: [string, string | number | undefined][]) =>
  pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('');

/** `<S t d r>` runs of equal, contiguous durations (`t` only where the timeline starts or jumps). */
export function segmentTimeline(segs: readonly { start: number; duration: number }[], indent = ''): string[] {
  const lines: string[] = [];
  let i = 0;
  while (i < segs.length) {
    const first = segs[i]!;
    let repeat = 0;
    while (
      i + repeat + 1 < segs.length &&
      segs[i + repeat + 1]!.duration === first.duration &&
      segs[i + repeat + 1]!.start === segs[i + repeat]!.start + segs[i + repeat]!.duration
    ) {
      repeat++;
    }
    const contiguous = i > 0 && first.start === segs[i - 1]!.start + segs[i - 1]!.duration;
    lines.push(
      `${indent}<S${attrs([
        ['t', contiguous ? undefined : first.start],
        ['d', first.duration],
        ['r', repeat > 0 ? repeat : undefined],
      ])}/>`,
    );
    i += repeat + 1;
  }
  return lines;
}

function trackDir(track: LayoutTrack): string {
  return track.id;
}

function representation(
  track: LayoutTrack,
  part: LayoutTrackPeriod,
  periodStart: number,
  indent: string,
): string[] {
  const first = part.segments[0]!;
  const lines = [
    `${indent}<Representation${attrs([
      ['id', track.id],
      ['bandwidth', track.bandwidth],
      ['codecs', track.codec],
      ['width', track.width],
      ['height', track.height],
      ['frameRate', track.frameRate],
      ['sar', track.kind === 'video' ? '1:1' : undefined],
      ['audioSamplingRate', track.sampleRate],
    ])}>`,
  ];
  if (track.kind === 'audio') {
    lines.push(
      `${indent}  <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${track.channels ?? 2}"/>`,
    );
  }
  lines.push(
    `${indent}  <SegmentTemplate${attrs([
      ['timescale', track.timescale],
      ['presentationTimeOffset', Math.round(periodStart * track.timescale)],
      ['startNumber', first.number],
      ['initialization', part.init],
      ['media', `${trackDir(track)}/seg-$Number%05d$.m4s`],
    ])}>`,
    `${indent}    <SegmentTimeline>`,
    ...segmentTimeline(part.segments, `${indent}      `),
    `${indent}    </SegmentTimeline>`,
    `${indent}  </SegmentTemplate>`,
    `${indent}</Representation>`,
  );
  return lines;
}

function contentProtection(
  scheme: 'cenc' | 'cbcs',
  kid: string,
  licenseUrl: string,
  indent: string,
): string[] {
  return [
    `${indent}<ContentProtection schemeIdUri="${MP4_PROTECTION_SCHEME}" value="${scheme}" cenc:default_KID="${hexToUuid(kid)}"/>`,
    `${indent}<ContentProtection schemeIdUri="${DASHIF_CLEARKEY_SCHEME}" value="ClearKey1.0">`,
    `${indent}  <dashif:Laurl xmlns:dashif="${DASHIF_CPS_NS}">${xmlEscape(licenseUrl)}</dashif:Laurl>`,
    `${indent}</ContentProtection>`,
  ];
}

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

export function buildMpd(layout: PackageLayout): string {
  const sets = adaptationSets(layout);
  const videoSetIds = sets.filter((s) => s.kind === 'video').map((s) => s.id);
  const maxSegment = Math.max(
    ...layout.tracks.flatMap((t) =>
      t.periods.flatMap((p) => p.segments.map((s) => s.duration / t.timescale)),
    ),
  );
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013"${attrs([
      ['profiles', 'urn:mpeg:dash:profile:isoff-live:2011'],
      ['type', 'static'],
      ['mediaPresentationDuration', isoDuration(layout.duration)],
      ['maxSegmentDuration', isoDuration(maxSegment)],
      ['minBufferTime', isoDuration(Math.max(2, layout.segmentDuration))],
    ])}>`,
  ];
  for (const period of layout.periods) {
    lines.push(
      `  <Period${attrs([
        ['id', `p${period.index}`],
        ['start', isoDuration(period.start)],
        ['duration', isoDuration(period.duration)],
      ])}>`,
    );
    for (const set of sets) {
      const parts = set.tracks
        .map((t) => ({ track: t, part: t.periods.find((p) => p.period === period.index) }))
        .filter(
          (x): x is { track: LayoutTrack; part: LayoutTrackPeriod } => !!x.part && x.part.segments.length > 0,
        );
      if (parts.length === 0) continue;
      const widths = parts.map((p) => p.track.width ?? 0);
      const heights = parts.map((p) => p.track.height ?? 0);
      lines.push(
        `    <AdaptationSet${attrs([
          ['id', set.id],
          ['contentType', set.kind],
          ['mimeType', set.kind === 'video' ? 'video/mp4' : 'audio/mp4'],
          ['segmentAlignment', 'true'],
          ['startWithSAP', '1'],
          ['maxWidth', set.kind === 'video' ? Math.max(...widths) : undefined],
          ['maxHeight', set.kind === 'video' ? Math.max(...heights) : undefined],
          ['frameRate', set.kind === 'video' ? parts[0]!.track.frameRate : undefined],
          ['lang', set.kind === 'audio' ? 'und' : undefined],
        ])}>`,
      );
      const kid = parts[0]!.part.kid;
      if (layout.scheme !== 'none' && kid && layout.licenseUrl) {
        lines.push(...contentProtection(layout.scheme, kid, layout.licenseUrl, '      '));
      }
      if (period.index > 0) {
        lines.push(
          `      <SupplementalProperty schemeIdUri="urn:mpeg:dash:period-continuity:2015" value="p${period.index - 1}"/>`,
        );
      }
      if (set.kind === 'video' && videoSetIds.length > 1) {
        lines.push(
          `      <SupplementalProperty schemeIdUri="urn:mpeg:dash:adaptation-set-switching:2016" value="${videoSetIds.filter((id) => id !== set.id).join(',')}"/>`,
        );
      }
      if (set.kind === 'audio')
        lines.push('      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="main"/>');
      for (const { track, part } of parts) lines.push(...representation(track, part, period.start, '      '));
      lines.push('    </AdaptationSet>');
    }
    lines.push('  </Period>');
  }
  lines.push('</MPD>');
  return `${lines.join('\n')}\n`;
}
