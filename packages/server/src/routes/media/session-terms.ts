import { createHmac } from 'node:crypto';
import type { UsagePolicy } from '@vigil/control';
import type { ViewerUsage } from '@vigil/core';
import { MediaDeliveryStore, type MediaStore, type VigilStore } from '@vigil/store';

/** What one stream-url session gets from its asset's own settings. */
export interface SessionTerms {
  /** The viewer token's `exp`: the delivery lifetime, capped by the policy's `playbackDuration`. */
  exp: number;
  /** The token's `usage` claim, when the asset has a usage policy. */
  usage?: ViewerUsage;
  /** The seed's watermarkId of the session: under the asset's own watermark's id when it has one. */
  watermarkId: string;
}

/**
 * The terms of a stream-url session: the asset's usage policy goes into the viewer token (so the viewer
 * license path enforces it without a store read) and caps its lifetime; its own watermark (if any) names
 * the session's watermarkId, `<asset watermark id>_<session hash>`, else `watermark_<session hash>`.
 */
export async function sessionTerms(
  store: VigilStore,
  media: MediaStore,
  input: {
    tenantId: string;
    assetId: string;
    sessionId: string;
    secret: Uint8Array;
    iat: number;
    exp: number;
  },
): Promise<SessionTerms> {
  const [stored, mark] = await Promise.all([
    media.policy(input.tenantId, input.assetId),
    new MediaDeliveryStore(store).watermark(input.tenantId, input.assetId),
  ]);
  const hash = createHmac('sha256', input.secret)
    .update(`watermark:${input.assetId}:${input.sessionId}`)
    .digest('hex');
  const terms: SessionTerms = {
    exp: input.exp,
    watermarkId: mark ? `${mark.watermarkId}_${hash.slice(0, 16)}` : `watermark_${hash.slice(0, 24)}`,
  };
  if (stored) {
    const policy = stored.policy as unknown as UsagePolicy;
    terms.exp = Math.min(input.exp, input.iat + policy.playbackDuration);
    terms.usage = {
      ...(policy.maxResolution ? { maxResolution: policy.maxResolution } : {}),
      ...(policy.concurrentStreams ? { concurrentStreams: policy.concurrentStreams } : {}),
    };
  }
  return terms;
}
