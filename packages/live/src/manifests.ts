import { xmlEscape } from '@vigil/keys';
import { isoDuration, segmentTimeline } from '@vigil/packager';

/**
 * Live manifests over the channel's sliding window (pure). DASH: one dynamic Period, a SegmentTimeline
 * per Representation (numbers are Vigil's sequence numbers, gaps after an encoder restart are explicit),
 * CENC signalled without a default KID since keys rotate inside the Period (each fragment names its KID
 * in a `seig` group and a `pssh`), and UTCTiming. HLS: media playlists with whole-segment AES-128 on the
 * same CMAF fragments, one `#EXT-X-KEY` per key period, a clear init segment, discontinuities per restart.
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
}

export interface LiveTrack {
  /** Representation id and folder name: `v360`, `a`. */
  id: string;
  kind: 'video' | 'audio';
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

function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

function representation(track: LiveTrack): string {
  const attrs = [
    `id="${xmlEscape(track.id)}"`,
    `bandwidth="${track.bandwidth}"`,
    `codecs="${xmlEscape(track.codec)}"`,
    track.width ? `width="${track.width}" height="${track.height}"` : '',
    track.frameRate ? `frameRate="${track.frameRate}"` : '',
    track.sampleRate ? `audioSamplingRate="${track.sampleRate}"` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const startNumber = track.segments[0]?.seq ?? 1;
  return (
    `<Representation ${attrs}>` +
    (track.kind === 'audio'
      ? '<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>'
      : '') +
    `<SegmentTemplate timescale="${track.timescale}" initialization="${DASH_DIR}/${xmlEscape(track.id)}/init.mp4" ` +
    `media="${DASH_DIR}/${xmlEscape(track.id)}/$Number$.m4s" startNumber="${startNumber}">` +
    `<SegmentTimeline>${segmentTimeline(track.segments).join('')}</SegmentTimeline></SegmentTemplate></Representation>`
  );
}

function protection(licenseUrl: string): string {
  return (
    '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>' +
    '<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0">' +
    `<dashif:Laurl>${xmlEscape(licenseUrl)}</dashif:Laurl></ContentProtection>`
  );
}

export function buildLiveMpd(m: LiveManifestInput): string {
  const video = m.tracks.filter((t) => t.kind === 'video' && t.segments.length > 0);
  const audio = m.tracks.filter((t) => t.kind === 'audio' && t.segments.length > 0);
  const sets: string[] = [];
  if (video.length > 0) {
    sets.push(
      `<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">` +
        protection(m.licenseUrl) +
        video.map(representation).join('') +
        '</AdaptationSet>',
    );
  }
  for (const [i, track] of audio.entries()) {
    sets.push(
      `<AdaptationSet id="${1 + i}" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">` +
        protection(m.licenseUrl) +
        representation(track) +
        '</AdaptationSet>',
    );
  }
  const d = m.segmentDuration;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" xmlns:dashif="https://dashif.org/CPS" ' +
    'profiles="urn:mpeg:dash:profile:isoff-live:2011,http://dashif.org/guidelines/dash-if-simple" type="dynamic" ' +
    `availabilityStartTime="${iso(m.availabilityStartTime)}" publishTime="${iso(m.publishTime)}" ` +
    `minimumUpdatePeriod="${isoDuration(d)}" minBufferTime="${isoDuration(d * 2)}" ` +
    `timeShiftBufferDepth="${isoDuration(m.windowSeconds)}" suggestedPresentationDelay="${isoDuration(d * 3)}" ` +
    `maxSegmentDuration="${isoDuration(d * 1.5)}">\n` +
    `<Period id="0" start="PT0S">${sets.join('')}</Period>\n` +
    `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${xmlEscape(m.utcTimingUrl)}"/>\n` +
    '</MPD>\n'
  );
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
  const target = Math.max(
    m.segmentDuration,
    ...segs.map((s) => Math.ceil(s.duration / track.timescale - 0.001)),
  );
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${segs[0]?.seq ?? 0}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySequence}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  let epoch: number | undefined;
  let kid: string | undefined;
  for (const s of segs) {
    if (epoch !== undefined && s.epoch !== epoch) lines.push('#EXT-X-DISCONTINUITY');
    if (s.epoch !== epoch) {
      // The init segment is clear: no key may be in effect where EXT-X-MAP appears.
      if (kid !== undefined) lines.push('#EXT-X-KEY:METHOD=NONE');
      lines.push(`#EXT-X-MAP:URI="${track.id}/init-${s.epoch}.mp4"`);
      kid = undefined;
      epoch = s.epoch;
    }
    const segKid = hlsKid(track, s.period);
    if (!segKid) continue;
    if (segKid !== kid) {
      // A key tag only where the key changes; without an IV attribute the IV is the media sequence
      // number (RFC 8216 §5.2), which is how Vigil encrypts.
      lines.push(`#EXT-X-KEY:METHOD=AES-128,URI="${keyUrl(segKid)}"`);
      kid = segKid;
    }
    lines.push(
      `#EXT-X-PROGRAM-DATE-TIME:${iso(m.availabilityStartTime + (s.start / track.timescale) * 1000)}`,
    );
    lines.push(`#EXTINF:${(s.duration / track.timescale).toFixed(3)},`);
    lines.push(`${track.id}/${s.seq}.m4s`);
  }
  return `${lines.join('\n')}\n`;
}

export function buildLiveMasterPlaylist(tracks: LiveTrack[]): string {
  const audio = tracks.find((t) => t.kind === 'audio');
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="${HLS_DIR}/${audio.id}.m3u8"`,
    );
  }
  for (const v of tracks.filter((t) => t.kind === 'video')) {
    const codecs = audio ? `${v.codec},${audio.codec}` : v.codec;
    const bandwidth = v.bandwidth + (audio?.bandwidth ?? 0);
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${bandwidth},CODECS="${codecs}",RESOLUTION=${v.width}x${v.height}` +
        (v.frameRate ? `,FRAME-RATE=${v.frameRate.toFixed(3)}` : '') +
        (audio ? ',AUDIO="audio"' : ''),
    );
    lines.push(`${HLS_DIR}/${v.id}.m3u8`);
  }
  return `${lines.join('\n')}\n`;
}
