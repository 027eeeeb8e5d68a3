/**
 * `vigil inspect <package>`: checks that every segment of every rendition decrypts with the keys the key
 * server holds, and that what comes out decodes. CMAF tracks are decrypted with the CENC core and decoded
 * by ffmpeg (strictly: any decode error fails), one key period at a time; TS segments are decrypted with
 * AES-128-CBC and must unpad and be MPEG-TS throughout.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decryptSegment } from '../cenc/index.ts';
import { decryptTsSegment } from '../hls-aes/cipher.ts';
import type { KeyLookup } from '../keys/license-client.ts';
import { PackagerError, throwIfAborted } from './errors.ts';
import { ffmpegBin, lastErrorLine, runTool } from './ffmpeg.ts';
import { LAYOUT_FILE, type LayoutTrack, type LayoutTsVariant, type PackageLayout } from './layout.ts';
import { clearInit, tencKid } from './mp4.ts';

export interface RenditionCheck {
  /** "video-720p", "audio", or "hls-aes/video-720p". */
  id: string;
  ok: boolean;
  segments: number;
  periods: number;
  /** Why it failed (the first problem found). */
  error?: string;
}

export async function readLayout(dir: string): Promise<PackageLayout> {
  let text: string;
  try {
    text = await readFile(join(dir, LAYOUT_FILE), 'utf8');
  } catch {
    throw new PackagerError('missing_input', `${dir} is not a Vigil package (no ${LAYOUT_FILE})`);
  }
  const layout = JSON.parse(text) as PackageLayout;
  if (layout.format !== 'vigil-package' || layout.version !== 1) {
    throw new PackagerError(
      'bad_option',
      `${dir}/${LAYOUT_FILE} is not a package description this version reads`,
    );
  }
  return layout;
}

/** Every kid a package names. */
export function packageKids(layout: PackageLayout): string[] {
  const kids = new Set<string>();
  for (const t of layout.tracks) for (const p of t.periods) if (p.kid) kids.add(p.kid);
  for (const v of layout.hlsAes128?.variants ?? []) for (const s of v.segments) kids.add(s.kid);
  return [...kids];
}

/** Decodes a clear fragmented MP4 strictly; the first error line, or null when it decodes cleanly. */
export async function decodeErrors(
  mp4: Buffer | AsyncIterable<Buffer>,
  signal?: AbortSignal,
): Promise<string | null> {
  const result = await runTool(
    ffmpegBin(),
    ['-hide_banner', '-v', 'error', '-err_detect', 'explode', '-xerror', '-i', 'pipe:0', '-f', 'null', '-'],
    { input: mp4, signal },
  );
  if (result.code !== 0 || result.stderr.trim() !== '') return lastErrorLine(result.stderr);
  return null;
}

/** A segment that would not decrypt, thrown out of the stream fed to ffmpeg. */
class SegmentError extends Error {}

async function checkTrack(
  dir: string,
  layout: PackageLayout,
  track: LayoutTrack,
  keys: Map<string, Buffer>,
  signal?: AbortSignal,
): Promise<RenditionCheck> {
  const check: RenditionCheck = {
    id: track.id,
    ok: true,
    segments: track.periods.reduce((a, p) => a + p.segments.length, 0),
    periods: track.periods.length,
  };
  const fail = (error: string): RenditionCheck => ({ ...check, ok: false, error });
  if (track.periods.length === 0) return fail('no segments');
  // Every period's init must name the kid the manifests give, and the key server must have its key.
  const inits: Buffer[] = [];
  for (const part of track.periods) {
    let init: Buffer;
    try {
      init = await readFile(join(dir, part.init));
    } catch (err) {
      return fail(`${part.init}: ${(err as Error).message}`);
    }
    if (layout.scheme !== 'none') {
      let named: string | undefined;
      try {
        named = tencKid(init);
      } catch (err) {
        return fail(`${part.init}: ${(err as Error).message}`);
      }
      if (named !== part.kid)
        return fail(`${part.init} names KID ${named ?? 'none'}, the manifest ${part.kid}`);
      if (!part.kid || !keys.has(part.kid)) return fail(`the key server has no key for KID ${part.kid}`);
    }
    inits.push(init);
  }
  // Then the whole track, decrypted segment by segment, is decoded in one go (streamed: a long film is
  // never in memory at once). The clear init is the same for every period: only the kid differs.
  async function* clearTrack(): AsyncGenerator<Buffer> {
    yield layout.scheme === 'none' ? inits[0]! : clearInit(inits[0]!);
    for (const [p, part] of track.periods.entries()) {
      for (const s of part.segments) {
        throwIfAborted(signal);
        let data: Buffer;
        try {
          data = await readFile(join(dir, s.file));
        } catch (err) {
          throw new SegmentError(`${s.file}: ${(err as Error).message}`);
        }
        if (layout.scheme === 'none') {
          yield data;
          continue;
        }
        try {
          yield decryptSegment(data, inits[p]!, keys.get(part.kid!)!);
        } catch (err) {
          throw new SegmentError(`${s.file}: does not decrypt: ${(err as Error).message}`);
        }
      }
    }
  }
  try {
    const error = await decodeErrors(clearTrack(), signal);
    if (error) return fail(`decrypted media does not decode: ${error}`);
  } catch (err) {
    if (err instanceof SegmentError) return fail(err.message);
    throw err;
  }
  return check;
}

/** MPEG-TS: 188-byte packets, each starting with the sync byte. */
export function isMpegTs(data: Buffer): boolean {
  if (data.length === 0 || data.length % 188 !== 0) return false;
  for (let o = 0; o < data.length; o += 188) if (data[o] !== 0x47) return false;
  return true;
}

async function checkTsVariant(
  dir: string,
  variant: LayoutTsVariant,
  keys: Map<string, Buffer>,
): Promise<RenditionCheck> {
  const check: RenditionCheck = {
    id: `hls-aes/${variant.id}`,
    ok: true,
    segments: variant.segments.length,
    periods: new Set(variant.segments.map((s) => s.period)).size,
  };
  for (const seg of variant.segments) {
    const key = keys.get(seg.kid);
    if (!key)
      return { ...check, ok: false, error: `${seg.file}: the key server has no key for KID ${seg.kid}` };
    let clear: Buffer;
    try {
      clear = decryptTsSegment(await readFile(join(dir, seg.file)), key, seg.sequence);
    } catch (err) {
      return { ...check, ok: false, error: `${seg.file}: does not decrypt (${(err as Error).message})` };
    }
    if (!isMpegTs(clear))
      return { ...check, ok: false, error: `${seg.file}: decrypts to something that is not MPEG-TS` };
  }
  return check;
}

/** Checks every rendition of the package in `dir` with the keys `lookup` gets. */
export async function verifyPackage(
  dir: string,
  lookup: KeyLookup,
  opts: { signal?: AbortSignal; onRendition?: (check: RenditionCheck) => void } = {},
): Promise<{ layout: PackageLayout; checks: RenditionCheck[] }> {
  const layout = await readLayout(dir);
  const keys = layout.scheme === 'none' ? new Map<string, Buffer>() : await lookup(packageKids(layout));
  const checks: RenditionCheck[] = [];
  for (const track of layout.tracks) {
    const check = await checkTrack(dir, layout, track, keys, opts.signal);
    checks.push(check);
    opts.onRendition?.(check);
  }
  for (const variant of layout.hlsAes128?.variants ?? []) {
    const check = await checkTsVariant(dir, variant, keys);
    checks.push(check);
    opts.onRendition?.(check);
  }
  return { layout, checks };
}
