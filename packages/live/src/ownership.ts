import { lstat, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DASH_DIR, HLS_DIR } from './manifests.ts';

/**
 * What a live channel owns, and nothing else: the files it writes into its folder (recorded by the owner
 * file it puts there first) and the content keys it creates (stored with its owner name). Everything a
 * channel removes, it removes by these records, file by file: never a folder it did not make, never a key
 * of the same resource made by a package, `vigil keys create` or SPEKE.
 */

/** The owner file of a channel's folder (a dotfile: the origin never serves it). */
export const OWNER_FILE = '.vigil-live.json';
/** A channel that takes over a resource holding other content publishes in this subfolder of it. */
export const TAKEOVER_DIR = 'live';

/** The owner name of a channel's keys in the store. */
export const channelKeyOwner = (channelId: string) => `live:${channelId}`;

/** Where a channel publishes, relative to its tenant's origin folder. */
export function channelFolder(resourceId: string, takeover: boolean): string {
  return takeover ? `${resourceId}/${TAKEOVER_DIR}` : resourceId;
}

/** A channel's resource already holds what the channel did not make. */
export class ResourceContentError extends Error {
  override readonly name = 'ResourceContentError';
  readonly code = 'resource_has_content';
}

interface OwnerRecord {
  v: 1;
  tenantId: string;
  channelId: string;
  createdAt: number;
}

const TMP = String.raw`(\.\d+\.tmp)?`;
const TRACK = /^(v\d+|a)$/;
/** The names a channel writes, per place (writeAtomic's temporary names included). */
const ROOT_FILE = new RegExp(`^(manifest\\.mpd|master\\.m3u8)${TMP}$`);
const DASH_FILE = new RegExp(`^(init\\.mp4|\\d+\\.m4s)${TMP}$`);
const HLS_PLAYLIST = new RegExp(`^(v\\d+|a)\\.m3u8${TMP}$`);
const HLS_FILE = new RegExp(`^(init-\\d+\\.mp4|\\d+\\.m4s)${TMP}$`);

async function entries(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'ENOTDIR') throw err;
    // `dir` itself is a file (content), or a folder above it is (nothing is at `dir`: a start will fail
    // and be retried, but there is nothing here to protect).
    try {
      await lstat(dir);
      return [''];
    } catch {
      return undefined;
    }
  }
}

async function readOwner(dir: string): Promise<OwnerRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as Partial<OwnerRecord>;
    return typeof r.channelId === 'string' && typeof r.tenantId === 'string' ? (r as OwnerRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why `dir` is not the channel's to publish in, or undefined when it is: it does not exist, is empty, or
 * holds only what this channel wrote there (its owner file names it).
 */
export async function foreignContent(
  dir: string,
  tenantId: string,
  channelId: string,
): Promise<string | undefined> {
  const names = await entries(dir);
  if (names === undefined || names.length === 0) return undefined;
  if (names[0] === '') return 'it is a file, not a folder';
  const owner = await readOwner(dir);
  if (!owner || owner.tenantId !== tenantId || owner.channelId !== channelId) {
    const what = names.filter((n) => n !== OWNER_FILE);
    return owner
      ? `it holds the files of live channel "${owner.channelId}"`
      : `it holds content the channel did not make (${describe(what)})`;
  }
  const other = names.filter(
    (n) => n !== OWNER_FILE && n !== DASH_DIR && n !== HLS_DIR && !ROOT_FILE.test(n),
  );
  return other.length > 0 ? `it also holds content the channel did not make (${describe(other)})` : undefined;
}

function describe(names: string[]): string {
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/**
 * Makes `dir` the channel's: refuses (ResourceContentError) when it holds anything the channel did not
 * write, removes what an earlier run of this channel left there, and records the channel as its owner.
 */
export async function claimFolder(dir: string, tenantId: string, channelId: string): Promise<void> {
  const why = await foreignContent(dir, tenantId, channelId);
  if (why) throw new ResourceContentError(`live channel "${channelId}" cannot publish in its folder: ${why}`);
  await removeChannelFiles(dir, tenantId, channelId, { keepFolder: true });
  await mkdir(dir, { recursive: true });
  const owner: OwnerRecord = { v: 1, tenantId, channelId, createdAt: Date.now() };
  await writeFile(join(dir, OWNER_FILE), `${JSON.stringify(owner)}\n`);
}

/**
 * Removes the files this channel wrote into `dir` — its manifests and playlists, its `dash/` and `hls/`
 * segments and inits — then the folders they leave empty, the owner file last. Anything else in there
 * stays, and so do the folders holding it. Does nothing when the owner file names another channel.
 */
export async function removeChannelFiles(
  dir: string,
  tenantId: string,
  channelId: string,
  opts: { keepFolder?: boolean } = {},
): Promise<void> {
  const owner = await readOwner(dir);
  if (!owner || owner.tenantId !== tenantId || owner.channelId !== channelId) return;
  const names = (await entries(dir)) ?? [];
  for (const name of names) if (ROOT_FILE.test(name)) await rm(join(dir, name), { force: true });
  if (names.includes(DASH_DIR)) {
    const dash = join(dir, DASH_DIR);
    for (const track of (await entries(dash)) ?? []) {
      if (!TRACK.test(track)) continue;
      await removeMatching(join(dash, track), DASH_FILE);
      await removeIfEmpty(join(dash, track));
    }
    await removeIfEmpty(dash);
  }
  if (names.includes(HLS_DIR)) {
    const hls = join(dir, HLS_DIR);
    await removeMatching(hls, HLS_PLAYLIST);
    for (const track of (await entries(hls)) ?? []) {
      if (!TRACK.test(track)) continue;
      await removeMatching(join(hls, track), HLS_FILE);
      await removeIfEmpty(join(hls, track));
    }
    await removeIfEmpty(hls);
  }
  if (opts.keepFolder) return;
  const left = ((await entries(dir)) ?? []).filter((n) => n !== OWNER_FILE);
  if (left.length === 0) {
    await rm(join(dir, OWNER_FILE), { force: true });
    await removeIfEmpty(dir);
  }
}

async function removeMatching(dir: string, pattern: RegExp): Promise<void> {
  for (const name of (await entries(dir)) ?? []) {
    if (pattern.test(name)) await rm(join(dir, name), { force: true });
  }
}

/** rmdir: an empty folder goes, one with anything in it stays. */
async function removeIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => {});
}

/**
 * The channel's scratch folder (`<workRoot>/<tenant>/<channel>/`, made by the channel): its ffmpeg runs'
 * folders go, then the folder if nothing else is in it.
 */
export async function removeWorkDir(dir: string): Promise<void> {
  for (const name of (await entries(dir)) ?? []) {
    if (/^run-\d+$/.test(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
  await removeIfEmpty(dir);
}
