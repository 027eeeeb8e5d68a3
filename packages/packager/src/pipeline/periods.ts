import { PackagerError } from './errors.ts';
import type { LayoutPeriod } from './layout.ts';
import type { ClearTrack } from './transcode.ts';

/**
 * Key periods: every `keyPeriodSegments` video segments (one period for a clear package). The video
 * renditions share their segment boundaries (forced key frames), so their segment index decides; audio
 * segments, whose AAC frames cannot land exactly on the video boundaries, go to the period whose start
 * is nearest their own.
 */
export interface PeriodPlan {
  periods: LayoutPeriod[];
  /** For each track (same order as given), the period of each of its segments. */
  assignment: number[][];
}

export function planPeriods(tracks: ClearTrack[], keyPeriodSegments: number): PeriodPlan {
  const videos = tracks.filter((t) => t.kind === 'video');
  const reference = videos[0];
  if (!reference) throw new PackagerError('ffmpeg_failed', 'the transcode produced no video track');
  const seconds = (t: ClearTrack, ticks: number) => ticks / t.timescale;
  for (const v of videos.slice(1)) {
    const aligned =
      v.segments.length === reference.segments.length &&
      v.segments.every(
        (s, i) => Math.abs(seconds(v, s.start) - seconds(reference, reference.segments[i]!.start)) < 0.002,
      );
    if (!aligned) {
      throw new PackagerError(
        'ffmpeg_failed',
        `the segments of ${v.id} do not line up with those of ${reference.id} (${v.segments.length} vs ${reference.segments.length})`,
      );
    }
  }
  const count = reference.segments.length;
  const origin = seconds(reference, reference.segments[0]!.start);
  const periods: LayoutPeriod[] = [];
  for (let first = 0, index = 0; first < count; first += keyPeriodSegments, index++) {
    const last = Math.min(first + keyPeriodSegments, count) - 1;
    const start = seconds(reference, reference.segments[first]!.start) - origin;
    const endSeg = reference.segments[last]!;
    const end = seconds(reference, endSeg.start + endSeg.duration) - origin;
    periods.push({ index, start, duration: end - start });
  }
  const assignment = tracks.map((track) => {
    if (track.kind === 'video') return track.segments.map((_, i) => Math.floor(i / keyPeriodSegments));
    return track.segments.map((s) => {
      const mid = seconds(track, s.start) - origin + Math.min(seconds(track, s.duration) / 2, 0.5);
      let p = 0;
      while (p + 1 < periods.length && periods[p + 1]!.start <= mid) p++;
      return p;
    });
  });
  return { periods, assignment };
}
