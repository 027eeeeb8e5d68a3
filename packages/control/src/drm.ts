/**
 * Content protection of media assets: the usage policy (`POST /v1/media/{id}/protect`) and the seed's
 * DRM license (`POST /v1/drm/license`) for ClearKey, with the policy enforced: `maxResolution` by
 * withholding the keys of the renditions above it (renditions are keyed by class: SD below 720p, HD up to
 * 1080p, UHD above), `playbackDuration` as the license's lifetime, `concurrentStreams` by counting the
 * user's other devices with a license within the last `streamWindowSeconds`. Other DRM types are refused
 * with `drm_unsupported`.
 */
import type { ContentKey, TrackType } from '@vigil/keys';
import type { MediaStore } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import { getAsset, type MediaDeps, mediaError } from './media.ts';

export interface UsagePolicy {
  /** "480p", "720p", "1080p", "2160p"; absent: no cap. */
  maxResolution?: string;
  /** Seconds a license lasts. */
  playbackDuration: number;
  /** Devices of one user with a license at once; absent: no limit. */
  concurrentStreams?: number;
}

export const DEFAULT_POLICY: UsagePolicy = { playbackDuration: 3600 };
/** A device counts as streaming for this long after its last license. */
export const STREAM_WINDOW_SECONDS = 120;

export interface KeyReader {
  listContentKeys(tenantId: string, resourceId: string): Promise<Omit<ContentKey, 'key'>[]>;
  getContentKey(tenantId: string, kid: string): Promise<ContentKey | undefined>;
}

export interface DrmDeps extends MediaDeps {
  keys: KeyReader;
}

const RESOLUTION = /^(\d{3,4})p$/;

function heightOf(resolution: string): number {
  const m = RESOLUTION.exec(resolution);
  if (!m) throw mediaError('drm_unsupported', `"${resolution.slice(0, 20)}" is not a resolution like 480p`);
  return Number(m[1]);
}

/** The key classes a cap allows: audio always, then SD, HD, UHD as far as the cap reaches. */
export function allowedTrackTypes(maxResolution: string | undefined): Set<TrackType> {
  const allowed = new Set<TrackType>(['all', 'audio', 'sd']);
  const h = maxResolution === undefined ? Number.POSITIVE_INFINITY : heightOf(maxResolution);
  if (h >= 720) allowed.add('hd');
  if (h > 1080) allowed.add('uhd');
  return allowed;
}

function validPolicy(input: Partial<UsagePolicy>): UsagePolicy {
  const policy: UsagePolicy = { ...DEFAULT_POLICY };
  if (input.maxResolution !== undefined) {
    heightOf(input.maxResolution);
    policy.maxResolution = input.maxResolution;
  }
  if (input.playbackDuration !== undefined) {
    if (
      !Number.isInteger(input.playbackDuration) ||
      input.playbackDuration < 60 ||
      input.playbackDuration > 7 * 86400
    )
      throw mediaError('drm_unsupported', '"playbackDuration" must be 60 to 604800 seconds');
    policy.playbackDuration = input.playbackDuration;
  }
  if (input.concurrentStreams !== undefined) {
    if (
      !Number.isInteger(input.concurrentStreams) ||
      input.concurrentStreams < 1 ||
      input.concurrentStreams > 100
    )
      throw mediaError('drm_unsupported', '"concurrentStreams" must be 1 to 100');
    policy.concurrentStreams = input.concurrentStreams;
  }
  return policy;
}

async function policyOf(media: MediaStore, tenantId: string, assetId: string): Promise<UsagePolicy> {
  const stored = await media.policy(tenantId, assetId);
  return stored ? (stored.policy as unknown as UsagePolicy) : DEFAULT_POLICY;
}

export async function protectAsset(
  deps: MediaDeps,
  actor: Actor,
  input: { assetId: string; usagePolicy?: Partial<UsagePolicy> },
) {
  requireRole(actor, 'operator');
  const asset = await getAsset(deps, actor, input.assetId);
  const policy = validPolicy(input.usagePolicy ?? {});
  await deps.media.setPolicy(asset.tenantId, asset.id, { ...policy }, deps.now?.() ?? Date.now());
  return protectionStatus(deps, actor, asset.id);
}

export async function protectionStatus(deps: MediaDeps, actor: Actor, assetId: string) {
  requireRole(actor, 'readonly');
  const asset = await getAsset(deps, actor, assetId);
  const variants = (asset.variants ?? []) as { quality: string; encryptionKeyId: string }[];
  return {
    assetId: asset.id,
    status: asset.status === 'ready' ? 'protected' : asset.status === 'failed' ? 'failed' : 'pending',
    type: 'aesEncryption',
    drmTypes: ['clearkey'],
    scheme: 'cenc',
    encryptionKeyIds: variants.map((v) => v.encryptionKeyId).filter(Boolean),
    usagePolicy: await policyOf(deps.media, asset.tenantId, asset.id),
  };
}

export interface LicenseInput {
  assetId: string;
  userId: string;
  deviceId: string;
  drmType: string;
  clientData?: { resolution?: string; [k: string]: unknown };
}

/**
 * The seed's license: `license` is a ClearKey license (JSON, base64) with the keys the policy allows
 * the device (capped further by `clientData.resolution` when the client asks for less).
 */
export async function drmLicense(deps: DrmDeps, actor: Actor, input: LicenseInput) {
  requireRole(actor, 'operator');
  const now = deps.now?.() ?? Date.now();
  if (input.drmType.toLowerCase() !== 'clearkey')
    throw mediaError(
      'drm_unsupported',
      `"${input.drmType.slice(0, 40)}" licenses are not issued here; use clearkey`,
      {
        supported: ['clearkey'],
      },
    );
  const asset = await getAsset(deps, actor, input.assetId);
  if (asset.status !== 'ready')
    throw mediaError('asset_not_ready', `the asset is ${asset.status}, not ready`, { status: asset.status });
  const policy = await policyOf(deps.media, asset.tenantId, asset.id);
  if (policy.concurrentStreams !== undefined) {
    const others = await deps.media.otherStreams(
      asset.tenantId,
      input.userId,
      input.deviceId,
      now - STREAM_WINDOW_SECONDS * 1000,
    );
    if (others >= policy.concurrentStreams)
      throw mediaError(
        'drm_concurrent_streams',
        `the user already streams on ${others} other device${others === 1 ? '' : 's'}; the limit is ${policy.concurrentStreams}`,
        { concurrentStreams: policy.concurrentStreams, active: others },
      );
  }
  let allowed = allowedTrackTypes(policy.maxResolution);
  const asked = input.clientData?.resolution;
  if (typeof asked === 'string') {
    const narrower = allowedTrackTypes(asked);
    allowed = new Set([...allowed].filter((t) => narrower.has(t)));
  }
  const infos = (await deps.keys.listContentKeys(asset.tenantId, asset.id)).filter((k) => k.expiresAt > now);
  const granted = infos.filter((k) => allowed.has(k.trackType));
  const keys: { kty: 'oct'; kid: string; k: string }[] = [];
  for (const info of granted) {
    const key = await deps.keys.getContentKey(asset.tenantId, info.kid);
    if (key)
      keys.push({
        kty: 'oct',
        kid: Buffer.from(key.kid, 'hex').toString('base64url'),
        k: key.key.toString('base64url'),
      });
  }
  if (keys.length === 0)
    throw mediaError('drm_key_unavailable', 'no key of the asset is allowed by its policy');
  await deps.media.touchStream(asset.tenantId, input.userId, input.deviceId, asset.id, now);
  const license = Buffer.from(JSON.stringify({ keys, type: 'temporary' })).toString('base64');
  const withheld = infos.filter((k) => !allowed.has(k.trackType)).map((k) => k.trackType);
  return {
    license,
    expiration: new Date(now + policy.playbackDuration * 1000).toISOString(),
    usagePolicy: {
      maxResolution: policy.maxResolution ?? null,
      playbackDuration: policy.playbackDuration,
      concurrentStreams: policy.concurrentStreams ?? null,
    },
    drmType: 'clearkey',
    keyIds: granted.map((k) => k.kid),
    withheldTrackTypes: [...new Set(withheld)],
  };
}
