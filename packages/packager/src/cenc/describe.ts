/**
 * A printable box tree of an init or media segment, with the encryption metadata spelled out: scheme,
 * `tenc` defaults (KID, IV sizes, constant IV, pattern), `pssh` system ids and KIDs, and per fragment the
 * `senc` IV size and subsample counts, `saiz`/`saio` entries and `trun` sample counts.
 */
import { hexToUuid, SYSTEM_IDS } from '@vigil/keys';
import { type Box, fourcc, fullBoxHeader, isPlainContainer, readBoxes } from '../isobmff/box.ts';
import { readSenc, SENC_SUBSAMPLES } from './aux-info.ts';
import { parseTenc } from './init.ts';

const SYSTEM_NAMES = new Map<string, string>(
  Object.entries(SYSTEM_IDS).map(([name, id]) => [id.replaceAll('-', ''), name]),
);

function range(values: number[]): string {
  if (values.length === 0) return '-';
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === max ? `${min}` : `${min}..${max}`;
}

interface Context {
  handler?: string;
  /** per-sample IV size from the last tenc seen */
  ivSize?: number;
}

/** Tries the IV sizes a senc can have and keeps the one whose entries end exactly at the end of the box. */
function describeSenc(buf: Buffer, box: Box, hint?: number): string {
  const { flags } = fullBoxHeader(buf, box);
  const count = buf.readUInt32BE(box.payload + 4);
  for (const ivSize of hint !== undefined ? [hint, 0, 8, 16] : [0, 8, 16]) {
    const e = readSenc(buf, box, ivSize);
    if (!e || e.end !== box.end) continue;
    let text = `samples=${count} iv_size=${e.ivSize}`;
    if (e.ivSize > 0 && count > 0) text += ` first_iv=${e.ivs[0]!.toString('hex')}`;
    if (flags & SENC_SUBSAMPLES) {
      const perSample = e.subs.map((s) => s?.length ?? 0);
      const total = perSample.reduce((a, n) => a + n, 0);
      text += ` subsamples=${total} (per sample ${range(perSample)})`;
    } else text += ' subsamples=none';
    return text;
  }
  return `samples=${count} flags=0x${flags.toString(16)} (entries do not parse)`;
}

function details(buf: Buffer, box: Box, ctx: Context): string {
  const p = box.payload;
  const full = () => fullBoxHeader(buf, box);
  switch (box.type) {
    case 'ftyp':
    case 'styp': {
      const brands: string[] = [];
      for (let o = p + 8; o + 4 <= box.end; o += 4) brands.push(fourcc(buf, o));
      return `major=${fourcc(buf, p)} compatible=${brands.join(',')}`;
    }
    case 'tkhd':
      return `track_id=${buf.readUInt32BE(p + (full().version === 1 ? 20 : 12))}`;
    case 'mdhd':
      return `timescale=${buf.readUInt32BE(p + (full().version === 1 ? 20 : 12))}`;
    case 'hdlr':
      ctx.handler = fourcc(buf, p + 8);
      return `handler=${ctx.handler}`;
    case 'stsd':
      return `entries=${buf.readUInt32BE(p + 4)}`;
    case 'avcC':
      return `nal_length_size=${(buf[p + 4]! & 3) + 1} sps=${buf[p + 5]! & 0x1f}`;
    case 'frma':
      return `original_format=${fourcc(buf, p)}`;
    case 'schm':
      return `scheme=${fourcc(buf, p + 4)} version=0x${buf.readUInt32BE(p + 8).toString(16)}`;
    case 'tenc': {
      const t = parseTenc(buf, box, '');
      ctx.ivSize = t.perSampleIvSize;
      let text = `version=${full().version} is_protected=${t.isProtected ? 1 : 0} per_sample_iv_size=${t.perSampleIvSize} default_kid=${t.kid}`;
      if (t.constantIv) text += ` constant_iv=${t.constantIv.toString('hex')}`;
      if (full().version >= 1) text += ` pattern=${t.pattern.crypt}:${t.pattern.skip}`;
      return text;
    }
    case 'pssh': {
      const { version } = full();
      const system = buf.toString('hex', p + 4, p + 20);
      let o = p + 20;
      const kids: string[] = [];
      if (version >= 1) {
        const n = buf.readUInt32BE(o);
        o += 4;
        for (let i = 0; i < n; i++, o += 16) kids.push(buf.toString('hex', o, o + 16));
      }
      const dataSize = buf.readUInt32BE(o);
      const name = SYSTEM_NAMES.get(system);
      return `version=${version} system_id=${hexToUuid(system)}${name ? ` (${name})` : ''} kids=[${kids.join(',')}] data=${dataSize} bytes`;
    }
    case 'mfhd':
      return `sequence=${buf.readUInt32BE(p + 4)}`;
    case 'tfhd': {
      const { flags } = full();
      let text = `track_id=${buf.readUInt32BE(p + 4)} flags=0x${flags.toString(16)}`;
      if (flags & 0x20000) text += ' default-base-is-moof';
      return text;
    }
    case 'tfdt':
      return `base_media_decode_time=${full().version === 1 ? buf.readBigUInt64BE(p + 4) : buf.readUInt32BE(p + 4)}`;
    case 'trun': {
      const { flags } = full();
      let text = `samples=${buf.readUInt32BE(p + 4)} flags=0x${flags.toString(16)}`;
      if (flags & 1) text += ` data_offset=${buf.readInt32BE(p + 8)}`;
      return text;
    }
    case 'senc':
      return describeSenc(buf, box, ctx.ivSize);
    case 'saiz': {
      const { flags } = full();
      const o = p + 4 + (flags & 1 ? 8 : 0);
      const def = buf[o]!;
      const count = buf.readUInt32BE(o + 1);
      if (def !== 0) return `samples=${count} default_size=${def}`;
      const sizes = Array.from({ length: count }, (_, i) => buf[o + 5 + i]!);
      return `samples=${count} sizes=${range(sizes)}`;
    }
    case 'saio': {
      const { version, flags } = full();
      let o = p + 4 + (flags & 1 ? 8 : 0);
      const n = buf.readUInt32BE(o);
      o += 4;
      const offsets: string[] = [];
      for (let i = 0; i < n && i < 8; i++) {
        offsets.push(String(version === 0 ? buf.readUInt32BE(o) : buf.readBigUInt64BE(o)));
        o += version === 0 ? 4 : 8;
      }
      return `offsets=[${offsets.join(',')}${n > 8 ? ',…' : ''}]`;
    }
    case 'sidx': {
      const { version } = full();
      const o = p + 12 + (version === 0 ? 8 : 16);
      const count = buf.readUInt16BE(o + 2);
      const sizes = Array.from({ length: count }, (_, i) => buf.readUInt32BE(o + 4 + 12 * i) & 0x7fffffff);
      return `references=${count} referenced_size=${sizes.join(',')}`;
    }
    default:
      return '';
  }
}

/** Bytes before the child boxes of a box, or -1 when the box has no children to show. */
function childPrefix(buf: Buffer, box: Box, ctx: Context): number {
  if (isPlainContainer(box.type)) return 0;
  if (box.type === 'stsd') return 8;
  if (box.type === 'meta') return 4;
  if (/^(avc[13]|encv|hvc1|hev1|vp09|av01|mp4v)$/.test(box.type) && ctx.handler === 'vide') return 78;
  if (/^(mp4a|enca|ac-3|ec-3|Opus|fLaC)$/.test(box.type) && ctx.handler === 'soun') {
    const version = buf.readUInt16BE(box.payload + 8);
    return version === 1 ? 44 : version === 2 ? 64 : 28;
  }
  return -1;
}

function walk(buf: Buffer, start: number, end: number, depth: number, ctx: Context, lines: string[]): void {
  let boxes: Box[];
  try {
    boxes = readBoxes(buf, start, end);
  } catch (err) {
    lines.push(`${'  '.repeat(depth)}! ${(err as Error).message}`);
    return;
  }
  for (const box of boxes) {
    let info: string;
    try {
      info = details(buf, box, ctx);
    } catch (err) {
      info = `! ${(err as Error).message}`;
    }
    lines.push(`${'  '.repeat(depth)}${box.type} ${box.end - box.start}${info ? ` ${info}` : ''}`);
    const prefix = childPrefix(buf, box, ctx);
    if (prefix >= 0 && box.payload + prefix <= box.end)
      walk(buf, box.payload + prefix, box.end, depth + 1, ctx, lines);
  }
}

/** A printable box tree with the encryption metadata of an init or media segment (or both, concatenated). */
export function describeBoxes(data: Buffer): string {
  const lines: string[] = [];
  walk(data, 0, data.length, 0, {}, lines);
  return lines.join('\n');
}
