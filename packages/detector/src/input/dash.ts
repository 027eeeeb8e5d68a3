/**
 * DASH (static and dynamic), fetched in Node: one video Representation's init and media segments as one
 * byte stream. Understands SegmentTemplate with $Number$ or $Time$ (with or without SegmentTimeline),
 * SegmentList and a single-file BaseURL; nested BaseURLs are resolved.
 */
import { InputError } from '../types.ts';
import { type HttpLimits, redact, resolveUrl } from './http.ts';
import { chooseVariant, fetchManifest, followSegments, type SegmentListing } from './segments.ts';

export function isDash(text: string): boolean {
  return /<MPD[\s>]/.test(text.slice(0, 4096));
}

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

/** A small XML reader, enough for MPDs (no DTDs, no processing of entities beyond the basic five). */
export function parseXml(xml: string): Element {
  const root: Element = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const re =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const top = stack.at(-1)!;
    if (m[6] !== undefined) top.text += decode(m[6]);
    else if (m[1] !== undefined) top.text += m[1];
    else if (m[3]) {
      if (m[2] === '/') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const attrs: Record<string, string> = {};
      const ar = /([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
      for (let a = ar.exec(m[4] ?? ''); a; a = ar.exec(m[4] ?? '')) attrs[a[1]!] = decode(a[2] ?? a[3] ?? '');
      const el: Element = { name: m[3].replace(/^.*:/, ''), attrs, children: [], text: '' };
      top.children.push(el);
      if (m[5] !== '/') stack.push(el);
    }
  }
  return root;
}

function decode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

const kids = (el: Element | undefined, name: string) => el?.children.filter((c) => c.name === name) ?? [];
const kid = (el: Element | undefined, name: string) => kids(el, name)[0];

/** ISO 8601 duration (PT1H2M3.5S) in seconds. */
export function isoDuration(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      s.trim(),
    );
  if (!m) return undefined;
  const [d, h, mi, se] = [m[1], m[2], m[3], m[4]].map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
  ];
  return d * 86400 + h * 3600 + mi * 60 + se;
}

export interface DashSegment {
  /** A key that orders segments and identifies them across MPD updates. */
  key: number;
  url: string;
}

export interface DashTrack {
  dynamic: boolean;
  init?: string;
  segments: DashSegment[];
  updateSeconds: number;
}

function baseOf(base: string, el: Element | undefined): string {
  const b = kid(el, 'BaseURL')?.text.trim();
  return b ? resolveUrl(base, b) : base;
}

function fill(template: string, rep: Element, number: number, time: number): string {
  return template.replace(
    /\$(RepresentationID|Number|Time|Bandwidth)(?:%0(\d+)d)?\$|\$\$/g,
    (all, name, width) => {
      if (all === '$$') return '$';
      const v =
        name === 'RepresentationID'
          ? (rep.attrs.id ?? '')
          : String(name === 'Number' ? number : name === 'Time' ? time : (rep.attrs.bandwidth ?? ''));
      return width ? v.padStart(Number(width), '0') : v;
    },
  );
}

const isVideo = (set: Element, rep?: Element) => {
  const mime = rep?.attrs.mimeType ?? set.attrs.mimeType ?? '';
  const type = set.attrs.contentType ?? '';
  return (
    type === 'video' ||
    mime.startsWith('video/') ||
    (!mime && !type && (rep?.attrs.height ?? set.attrs.height) !== undefined)
  );
};

/** The video track of the MPD's last (dynamic) or every (static) period, at `now` (ms, for dynamic MPDs). */
export function parseMpd(xml: string, url: string, now = Date.now()): DashTrack {
  const root = parseXml(xml);
  const mpd = kid(root, 'MPD');
  if (!mpd) throw new InputError(`${redact(url)}: not an MPD`, 'input_bad_playlist');
  const dynamic = mpd.attrs.type === 'dynamic';
  const ast = mpd.attrs.availabilityStartTime ? Date.parse(mpd.attrs.availabilityStartTime) : 0;
  const mpdBase = baseOf(url, mpd);
  const periods = kids(mpd, 'Period');
  const track: DashTrack = {
    dynamic,
    segments: [],
    updateSeconds: isoDuration(mpd.attrs.minimumUpdatePeriod) ?? 2,
  };
  const total = isoDuration(mpd.attrs.mediaPresentationDuration);
  for (const [pi, period] of (dynamic ? periods.slice(-1) : periods).entries()) {
    const periodBase = baseOf(mpdBase, period);
    const periodStart = isoDuration(period.attrs.start) ?? 0;
    const periodDuration =
      isoDuration(period.attrs.duration) ?? (total !== undefined ? total - periodStart : undefined);
    const sets = kids(period, 'AdaptationSet').filter(
      (s) => isVideo(s) || kids(s, 'Representation').some((r) => isVideo(s, r)),
    );
    const candidates = sets.flatMap((set) =>
      kids(set, 'Representation')
        .filter((r) => isVideo(set, r))
        .map((rep) => ({
          set,
          rep,
          bandwidth: Number(rep.attrs.bandwidth ?? 0),
          height: Number(rep.attrs.height ?? set.attrs.height ?? 0),
        })),
    );
    const chosen = chooseVariant(candidates);
    if (!chosen) continue;
    const { set, rep } = chosen;
    const base = baseOf(baseOf(periodBase, set), rep);
    const tpl = kid(rep, 'SegmentTemplate') ?? kid(set, 'SegmentTemplate') ?? kid(period, 'SegmentTemplate');
    const list = kid(rep, 'SegmentList') ?? kid(set, 'SegmentList');
    const keyBase = pi * 1e12;
    if (tpl) {
      const a = { ...tpl.attrs };
      const timescale = Number(a.timescale ?? 1) || 1;
      const startNumber = Number(a.startNumber ?? 1);
      const pto = Number(a.presentationTimeOffset ?? 0);
      if (a.initialization) track.init = resolveUrl(base, fill(a.initialization, rep, 0, 0));
      const timeline = kid(tpl, 'SegmentTimeline');
      if (timeline && a.media) {
        let t = 0;
        let number = startNumber;
        for (const s of kids(timeline, 'S')) {
          if (s.attrs.t !== undefined) t = Number(s.attrs.t);
          const d = Number(s.attrs.d ?? 0);
          let r = Number(s.attrs.r ?? 0);
          if (r < 0) r = Math.max(0, Math.ceil(((periodDuration ?? 0) * timescale - (t - pto)) / d) - 1);
          for (let i = 0; i <= r && track.segments.length < 100_000; i++) {
            track.segments.push({ key: keyBase + t, url: resolveUrl(base, fill(a.media, rep, number, t)) });
            t += d;
            number++;
          }
        }
      } else if (a.media && a.duration) {
        const segSeconds = Number(a.duration) / timescale;
        let first = startNumber;
        let last: number;
        if (dynamic) {
          const elapsed = (now - ast) / 1000 - periodStart;
          const available = Math.floor(elapsed / segSeconds) - 1;
          last = startNumber + Math.max(0, available);
          const depth = isoDuration(mpd.attrs.timeShiftBufferDepth) ?? 30;
          first = Math.max(startNumber, last - Math.ceil(depth / segSeconds));
        } else {
          last = startNumber + Math.max(0, Math.ceil((periodDuration ?? 0) / segSeconds) - 1);
        }
        for (let n = first; n <= last && n - first < 100_000; n++) {
          track.segments.push({
            key: keyBase + n,
            url: resolveUrl(base, fill(a.media, rep, n, (n - startNumber) * Number(a.duration))),
          });
        }
      }
    } else if (list) {
      const init = kid(list, 'Initialization')?.attrs.sourceURL;
      if (init) track.init = resolveUrl(base, init);
      for (const [i, s] of kids(list, 'SegmentURL').entries()) {
        if (s.attrs.media) track.segments.push({ key: keyBase + i, url: resolveUrl(base, s.attrs.media) });
      }
    } else {
      track.segments.push({ key: keyBase, url: base });
    }
  }
  if (track.segments.length === 0 && !dynamic) {
    throw new InputError(`${redact(url)}: the MPD lists no video segments`, 'input_bad_playlist');
  }
  return track;
}

/** The stream's bytes: init, then media segments in order; dynamic MPDs are re-read and followed live. */
export async function* dashBytes(url: string, text: string, limits: HttpLimits): AsyncGenerator<Uint8Array> {
  yield* followSegments(
    listing(parseMpd(text, url)),
    async () => listing(parseMpd(await fetchManifest(url, limits), url)),
    limits,
  );
}

/** A track as segments to follow; a dynamic MPD is re-read every minimumUpdatePeriod (0.5 to 5 s). */
function listing(track: DashTrack): SegmentListing<{ key: number; url: string; init?: string }> {
  return {
    live: track.dynamic,
    segments: track.segments.map((s) => ({ ...s, init: track.init })),
    pollMs: Math.max(500, Math.min(5000, track.updateSeconds * 1000)),
    idleMs: Math.max(30_000, 6 * track.updateSeconds * 1000),
  };
}
