/**
 * The one DASH MPD writer (ISO/IEC 23009-1): the MPD, its Periods, AdaptationSets, ContentProtection
 * (mp4protection with `cenc:default_KID`, and DASH-IF ClearKey with `dashif:Laurl`), Representations
 * and SegmentTemplates with a SegmentTimeline, each element's attributes in one order. Used by the
 * on-demand MPD (./dash.ts: static, multi-period, indented) and the live one (@vigil/live manifests.ts:
 * dynamic, a Period per line); each says what its MPD holds, this file how it is written. Attribute
 * values and text go through `xmlEscape` and KIDs through `hexToUuid` (@vigil/keys).
 */
import { hexToUuid, xmlEscape } from '@vigil/keys';

export const MP4_PROTECTION_SCHEME = 'urn:mpeg:dash:mp4protection:2011';
/** DASH-IF ClearKey: the system dash.js and Shaka read `dashif:Laurl` from. */
export const DASHIF_CLEARKEY_SCHEME = 'urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e';
export const DASHIF_CPS_NS = 'https://dashif.org/CPS';

/** xs:duration with millisecond precision. */
export function isoDuration(seconds: number): string {
  return `PT${(Math.round(seconds * 1000) / 1000).toFixed(3)}S`;
}

export interface XmlElement {
  name: string;
  /** in order; undefined values are left out */
  attrs: [string, string | number | undefined][];
  children?: XmlElement[];
  text?: string;
}

const el = (name: string, attrs: XmlElement['attrs'], children?: XmlElement[]): XmlElement =>
  children ? { name, attrs, children } : { name, attrs };

function attrText(attrs: XmlElement['attrs']): string {
  let s = '';
  for (const [k, v] of attrs) if (v !== undefined) s += ` ${k}="${xmlEscape(String(v))}"`;
  return s;
}

/** One element, without line breaks. */
function compact(e: XmlElement): string {
  const open = `<${e.name}${attrText(e.attrs)}`;
  if (e.text !== undefined) return `${open}>${xmlEscape(e.text)}</${e.name}>`;
  if (!e.children?.length) return `${open}/>`;
  return `${open}>${e.children.map(compact).join('')}</${e.name}>`;
}

/** Lines of an element: children on lines of their own, `indent` deeper, down to depth `flatFrom`. */
function lines(e: XmlElement, indent: string, flatFrom: number, depth: number, out: string[]): void {
  const pad = indent.repeat(depth);
  if (depth >= flatFrom || e.text !== undefined || !e.children?.length) {
    out.push(pad + compact(e));
    return;
  }
  out.push(`${pad}<${e.name}${attrText(e.attrs)}>`);
  for (const c of e.children) lines(c, indent, flatFrom, depth + 1, out);
  out.push(`${pad}</${e.name}>`);
}

/**
 * An XML document: the declaration, then the root with children on lines of their own indented by
 * `indent`; elements from depth `flatFrom` on (the root is 0) are written on one line each.
 */
export function writeXml(root: XmlElement, indent: string, flatFrom = Number.POSITIVE_INFINITY): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  lines(root, indent, flatFrom, 0, out);
  return `${out.join('\n')}\n`;
}

/** `<S t d r>` runs of equal, contiguous durations (`t` only where the timeline starts or jumps). */
export function timelineEntries(segs: readonly { start: number; duration: number }[]): XmlElement[] {
  const entries: XmlElement[] = [];
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
    entries.push(
      el('S', [
        ['t', contiguous ? undefined : first.start],
        ['d', first.duration],
        ['r', repeat > 0 ? repeat : undefined],
      ]),
    );
    i += repeat + 1;
  }
  return entries;
}

/** The SegmentTimeline's `<S>` entries as text lines (each prefixed with `indent`). */
export function segmentTimeline(segs: readonly { start: number; duration: number }[], indent = ''): string[] {
  return timelineEntries(segs).map((e) => indent + compact(e));
}

/**
 * ContentProtection for a ClearKey-protected AdaptationSet: mp4protection (`cenc`/`cbcs`, the KID as
 * `cenc:default_KID` when known) and DASH-IF ClearKey naming the license URL. `laurlNamespace`: declare
 * the `dashif` namespace on the Laurl element (else the MPD declares it).
 */
export function contentProtection(
  scheme: 'cenc' | 'cbcs',
  kid: string | undefined,
  licenseUrl: string,
  laurlNamespace: boolean,
): XmlElement[] {
  return [
    el('ContentProtection', [
      ['schemeIdUri', MP4_PROTECTION_SCHEME],
      ['value', scheme],
      ['cenc:default_KID', kid ? hexToUuid(kid) : undefined],
    ]),
    el(
      'ContentProtection',
      [
        ['schemeIdUri', DASHIF_CLEARKEY_SCHEME],
        ['value', 'ClearKey1.0'],
      ],
      [
        {
          name: 'dashif:Laurl',
          attrs: [['xmlns:dashif', laurlNamespace ? DASHIF_CPS_NS : undefined]],
          text: licenseUrl,
        },
      ],
    ),
  ];
}

export interface SegmentTemplateFields {
  timescale: number;
  presentationTimeOffset: number;
  startNumber: number;
  initialization: string;
  media: string;
  segments: readonly { start: number; duration: number }[];
}

export interface RepresentationFields {
  id: string;
  bandwidth: number;
  codecs: string;
  width?: number | undefined;
  height?: number | undefined;
  frameRate?: string | number | undefined;
  sar?: string | undefined;
  audioSamplingRate?: number | undefined;
  /** audio: its AudioChannelConfiguration */
  audioChannels?: number | undefined;
  template: SegmentTemplateFields;
}

/** Attributes named like fields of `o`, in the order of `keys`. */
function fields<T extends object>(o: T, keys: (keyof T & string)[]): XmlElement['attrs'] {
  return keys.map((k) => [k, o[k] as string | number | undefined]);
}

export function representation(r: RepresentationFields): XmlElement {
  const t = r.template;
  return el(
    'Representation',
    fields(r, ['id', 'bandwidth', 'codecs', 'width', 'height', 'frameRate', 'sar', 'audioSamplingRate']),
    [
      ...(r.audioChannels !== undefined
        ? [
            el('AudioChannelConfiguration', [
              ['schemeIdUri', 'urn:mpeg:dash:23003:3:audio_channel_configuration:2011'],
              ['value', r.audioChannels],
            ]),
          ]
        : []),
      el(
        'SegmentTemplate',
        fields(t, ['timescale', 'initialization', 'media', 'startNumber', 'presentationTimeOffset']),
        [el('SegmentTimeline', [], timelineEntries(t.segments))],
      ),
    ],
  );
}

export interface AdaptationSetFields {
  id: number;
  kind: 'video' | 'audio';
  maxWidth?: number | undefined;
  maxHeight?: number | undefined;
  frameRate?: string | undefined;
  /** from contentProtection() */
  protection?: XmlElement[];
  /** the id of the previous Period this set continues (period-continuity) */
  continues?: string | undefined;
  /** the ids of the other AdaptationSets a player may switch to (adaptation-set-switching) */
  switchableWith?: number[];
  /** audio: `<Role value="main">` */
  mainRole?: boolean;
  representations: XmlElement[];
}

export function adaptationSet(a: AdaptationSetFields): XmlElement {
  const props: XmlElement[] = [];
  if (a.continues !== undefined) {
    props.push(
      el('SupplementalProperty', [
        ['schemeIdUri', 'urn:mpeg:dash:period-continuity:2015'],
        ['value', a.continues],
      ]),
    );
  }
  if (a.switchableWith?.length) {
    props.push(
      el('SupplementalProperty', [
        ['schemeIdUri', 'urn:mpeg:dash:adaptation-set-switching:2016'],
        ['value', a.switchableWith.join(',')],
      ]),
    );
  }
  if (a.mainRole) {
    props.push(
      el('Role', [
        ['schemeIdUri', 'urn:mpeg:dash:role:2011'],
        ['value', 'main'],
      ]),
    );
  }
  return el(
    'AdaptationSet',
    [
      ['id', a.id],
      ['contentType', a.kind],
      ['mimeType', `${a.kind}/mp4`],
      ['lang', a.kind === 'audio' ? 'und' : undefined],
      ['segmentAlignment', 'true'],
      ['startWithSAP', '1'],
      ['maxWidth', a.maxWidth],
      ['maxHeight', a.maxHeight],
      ['frameRate', a.frameRate],
    ],
    [...(a.protection ?? []), ...props, ...a.representations],
  );
}

export function period(
  id: string,
  start: number,
  duration: number | undefined,
  sets: XmlElement[],
): XmlElement {
  return el(
    'Period',
    [
      ['id', id],
      ['start', isoDuration(start)],
      ['duration', duration === undefined ? undefined : isoDuration(duration)],
    ],
    sets,
  );
}

export interface MpdFields {
  type: 'static' | 'dynamic';
  profiles: string;
  /** declare the `dashif` namespace on the MPD (see contentProtection) */
  dashifNamespace?: boolean;
  /** dynamic: milliseconds since the epoch */
  availabilityStartTime?: number;
  publishTime?: number;
  /** seconds (each) */
  mediaPresentationDuration?: number;
  minimumUpdatePeriod?: number;
  maxSegmentDuration: number;
  minBufferTime: number;
  timeShiftBufferDepth?: number;
  suggestedPresentationDelay?: number;
  periods: XmlElement[];
  /** an `http-iso` time source */
  utcTiming?: string;
  /** `indented`: an element per line, two spaces a level; `periods`: a line per Period */
  layout: 'indented' | 'periods';
}

const isoTime = (ms: number | undefined) =>
  ms === undefined ? undefined : new Date(Math.floor(ms)).toISOString();
const duration = (s: number | undefined) => (s === undefined ? undefined : isoDuration(s));

export function writeMpd(m: MpdFields): string {
  const root = el(
    'MPD',
    [
      ['xmlns', 'urn:mpeg:dash:schema:mpd:2011'],
      ['xmlns:cenc', 'urn:mpeg:cenc:2013'],
      ['xmlns:dashif', m.dashifNamespace ? DASHIF_CPS_NS : undefined],
      ['profiles', m.profiles],
      ['type', m.type],
      ['availabilityStartTime', isoTime(m.availabilityStartTime)],
      ['publishTime', isoTime(m.publishTime)],
      ['mediaPresentationDuration', duration(m.mediaPresentationDuration)],
      ['minimumUpdatePeriod', duration(m.minimumUpdatePeriod)],
      ['minBufferTime', isoDuration(m.minBufferTime)],
      ['timeShiftBufferDepth', duration(m.timeShiftBufferDepth)],
      ['suggestedPresentationDelay', duration(m.suggestedPresentationDelay)],
      ['maxSegmentDuration', isoDuration(m.maxSegmentDuration)],
    ],
    [
      ...m.periods,
      ...(m.utcTiming
        ? [
            el('UTCTiming', [
              ['schemeIdUri', 'urn:mpeg:dash:utc:http-iso:2014'],
              ['value', m.utcTiming],
            ]),
          ]
        : []),
    ],
  );
  return m.layout === 'indented' ? writeXml(root, '  ') : writeXml(root, '', 1);
}
