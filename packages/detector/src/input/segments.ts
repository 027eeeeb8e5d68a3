/**
 * What HLS and DASH share once their manifests are read: the variant to follow, and a list of segments
 * fetched in order as one byte stream, re-read and followed while the stream is live.
 */
import { getBounded, type HttpLimits, PLAYLIST_MAX_BYTES, SEGMENT_MAX_BYTES, sleep } from './http.ts';

/** The lowest variant of at least 360 lines (enough for the box and the text), else the highest. */
export function chooseVariant<T extends { bandwidth: number; height: number }>(variants: T[]): T | undefined {
  const tall = variants
    .filter((v) => v.height >= 360 || v.height === 0)
    .sort((a, b) => a.bandwidth - b.bandwidth);
  return tall[0] ?? variants.slice().sort((a, b) => b.bandwidth - a.bandwidth)[0];
}

/** A manifest (playlist or MPD) as text, bounded. */
export async function fetchManifest(url: string, limits: HttpLimits): Promise<string> {
  return (await getBounded(url, PLAYLIST_MAX_BYTES, limits)).toString('utf8');
}

/** One media segment: a key that orders segments across reloads, its URL and its init segment's. */
export interface Segment {
  key: number;
  url: string;
  init?: string;
}

/** The segments a manifest lists now, and how to follow it when it is live. */
export interface SegmentListing<S extends Segment> {
  live: boolean;
  segments: S[];
  /** Milliseconds between reloads of a live manifest. */
  pollMs: number;
  /** A live stream with no new segment for this long (ms) is gone. */
  idleMs: number;
}

/**
 * The stream's bytes: init segments (when they change) and media segments in order, each passed through
 * `open` (decryption). On demand: from the first segment; live: from near the live edge (three segments
 * back), reloading the manifest until it ends, the signal aborts or nothing new comes for `idleMs`.
 */
export async function* followSegments<S extends Segment>(
  first: SegmentListing<S>,
  reload: () => Promise<SegmentListing<S>>,
  limits: HttpLimits,
  open: (bytes: Buffer, segment: S) => Promise<Buffer> = async (bytes) => bytes,
): AsyncGenerator<Uint8Array> {
  let listing = first;
  let next = listing.live ? (listing.segments.at(-3)?.key ?? -Infinity) : -Infinity;
  let lastInit: string | undefined;
  let idleSince = Date.now();
  for (;;) {
    for (const seg of listing.segments) {
      if (seg.key < next) continue;
      if (limits.signal?.aborted) return;
      if (seg.init && seg.init !== lastInit) {
        yield await getBounded(seg.init, SEGMENT_MAX_BYTES, limits);
        lastInit = seg.init;
      }
      yield await open(await getBounded(seg.url, SEGMENT_MAX_BYTES, limits), seg);
      next = seg.key + 1;
      idleSince = Date.now();
    }
    if (!listing.live || limits.signal?.aborted) return;
    if (Date.now() - idleSince > listing.idleMs) return;
    await sleep(listing.pollMs, limits.signal);
    if (limits.signal?.aborted) return;
    listing = await reload();
  }
}
