/** HLS (on demand and live), fetched in Node: the chosen variant's segments as one byte stream. */
import { createDecipheriv } from 'node:crypto';
import { InputError } from '../types.ts';
import { getBounded, type HttpLimits, redact, resolveUrl } from './http.ts';
import { chooseVariant, fetchManifest, followSegments, type SegmentListing } from './segments.ts';

export { chooseVariant };

interface Variant {
  uri: string;
  bandwidth: number;
  height: number;
}

interface Key {
  method: string;
  uri?: string;
  iv?: Buffer;
}

export interface MediaSegment {
  uri: string;
  sequence: number;
  duration: number;
  map?: string;
  key?: Key;
}

export interface MediaPlaylist {
  targetDuration: number;
  ended: boolean;
  segments: MediaSegment[];
}

function attrs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  return out;
}

export function parseMaster(text: string, base: string): Variant[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const out: Variant[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('#EXT-X-STREAM-INF:')) continue;
    const a = attrs(lines[i]!.slice(18));
    const uri = lines.slice(i + 1).find((l) => l && !l.startsWith('#'));
    if (!uri) continue;
    const height = Number(/x(\d+)/.exec(a.RESOLUTION ?? '')?.[1] ?? 0);
    out.push({ uri: resolveUrl(base, uri), bandwidth: Number(a.BANDWIDTH ?? 0) || 0, height });
  }
  return out;
}

export function parseMedia(text: string, base: string): MediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  let sequence = 0;
  let targetDuration = 6;
  let ended = false;
  let map: string | undefined;
  let key: Key | undefined;
  let duration = 0;
  const segments: MediaSegment[] = [];
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) sequence = Number(line.slice(22)) || 0;
    else if (line.startsWith('#EXT-X-TARGETDURATION:')) targetDuration = Number(line.slice(22)) || 6;
    else if (line === '#EXT-X-ENDLIST') ended = true;
    else if (line.startsWith('#EXT-X-MAP:')) {
      const uri = attrs(line.slice(11)).URI;
      map = uri ? resolveUrl(base, uri) : undefined;
    } else if (line.startsWith('#EXT-X-KEY:')) {
      const a = attrs(line.slice(11));
      key =
        a.METHOD === 'NONE' || !a.METHOD
          ? undefined
          : {
              method: a.METHOD,
              uri: a.URI ? resolveUrl(base, a.URI) : undefined,
              iv: a.IV ? Buffer.from(a.IV.replace(/^0x/i, '').padStart(32, '0'), 'hex') : undefined,
            };
    } else if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8)) || 0;
    else if (line && !line.startsWith('#')) {
      segments.push({ uri: resolveUrl(base, line), sequence, duration, map, key });
      sequence++;
    }
  }
  return { targetDuration, ended, segments };
}

export function isHls(text: string): boolean {
  return text.trimStart().startsWith('#EXTM3U');
}

/**
 * The bytes of the stream at `url` (a master or media playlist already fetched as `text`): init
 * segments (when they change) and media segments in order. On demand: from the start; live: from near
 * the live edge, polling the playlist, until it ends, the signal aborts or nothing new comes for a while.
 */
export async function* hlsBytes(url: string, text: string, limits: HttpLimits): AsyncGenerator<Uint8Array> {
  let mediaUrl = url;
  let body = text;
  if (text.includes('#EXT-X-STREAM-INF')) {
    const variant = chooseVariant(parseMaster(text, url));
    if (!variant)
      throw new InputError(`${redact(url)}: an HLS master playlist without variants`, 'input_bad_playlist');
    mediaUrl = variant.uri;
    body = await fetchManifest(mediaUrl, limits);
  }
  const keys = new Map<string, Buffer>();
  yield* followSegments(
    listing(parseMedia(body, mediaUrl)),
    async () => listing(parseMedia(await fetchManifest(mediaUrl, limits), mediaUrl)),
    limits,
    (bytes, seg) => (seg.segment.key ? decrypt(bytes, seg.segment, keys, limits) : Promise.resolve(bytes)),
  );
}

/** A media playlist as segments to follow; live, nothing new for six target durations means it is gone. */
function listing(
  playlist: MediaPlaylist,
): SegmentListing<{ key: number; url: string; init?: string; segment: MediaSegment }> {
  return {
    live: !playlist.ended,
    segments: playlist.segments.map((segment) => ({
      key: segment.sequence,
      url: segment.uri,
      init: segment.map,
      segment,
    })),
    pollMs: Math.max(500, (playlist.targetDuration * 1000) / 2),
    idleMs: 6 * playlist.targetDuration * 1000,
  };
}

async function decrypt(
  bytes: Buffer,
  seg: MediaSegment,
  keys: Map<string, Buffer>,
  limits: HttpLimits,
): Promise<Buffer> {
  const key = seg.key!;
  if (key.method !== 'AES-128' || !key.uri) {
    throw new InputError(`the stream is encrypted (${key.method}) and cannot be read`, 'input_encrypted');
  }
  let k = keys.get(key.uri);
  if (!k) {
    k = await getBounded(key.uri, 64, limits);
    if (k.length !== 16) throw new InputError("the stream's AES-128 key is not 16 bytes", 'input_encrypted');
    keys.set(key.uri, k);
  }
  const iv = key.iv ?? Buffer.alloc(16);
  if (!key.iv) iv.writeBigUInt64BE(BigInt(seg.sequence), 8);
  try {
    const d = createDecipheriv('aes-128-cbc', k, iv);
    return Buffer.concat([d.update(bytes), d.final()]);
  } catch {
    throw new InputError('a segment of the stream did not decrypt with its key', 'input_encrypted');
  }
}
