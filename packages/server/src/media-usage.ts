import type { IncomingMessage } from 'node:http';
import { allowedTrackTypes, STREAM_WINDOW_SECONDS } from '@vigil/control';
import { type ClearKeyLicense, Denial, type ViewerClaims } from '@vigil/core';
import type { MediaStore } from '@vigil/store';
import type { AccessLog } from './access-log.ts';
import type { Admitted } from './auth/viewer-gate.ts';
import type { HotState } from './hot-state.ts';
import { licenseFor } from './routes/viewer.ts';

/**
 * A media asset's usage policy on the viewer license path (`POST /v1/license/clearkey`), for the
 * sessions whose viewer token carries it (claim `usage`, set by stream-url): `maxResolution` withholds
 * the keys of the renditions above it (the player plays the highest it can decrypt; a request for those
 * keys only is refused `resolution_capped`), `concurrentStreams` counts the user's other sessions and
 * devices with a license or heartbeat within the last two minutes — the same table `POST /v1/drm/license`
 * counts — and refuses one more (`concurrent_streams`). Tokens without the claim never come here.
 */
export class MediaUsage {
  constructor(
    private readonly media: MediaStore,
    private readonly hot: HotState,
    private readonly access: AccessLog,
  ) {}

  /** The license of the keys the policy allows among `kids` (hex). */
  async license(
    admitted: Admitted,
    req: IncomingMessage,
    kids: string[],
    now: number,
  ): Promise<ClearKeyLicense> {
    const { claims, tenant } = admitted;
    const usage = claims.usage ?? {};
    const user = claims.sub ?? claims.sessionId;
    try {
      if (usage.concurrentStreams !== undefined) {
        const since = now - STREAM_WINDOW_SECONDS * 1000;
        const others = await this.media.otherStreams(tenant.id, user, claims.sessionId, since);
        if (others >= usage.concurrentStreams)
          throw new Denial(
            'concurrent_streams',
            `the user already streams in ${others} other session${others === 1 ? '' : 's'}; the limit is ${usage.concurrentStreams}`,
          );
      }
      let allowedKids = kids;
      if (usage.maxResolution !== undefined) {
        const allowed = allowedTrackTypes(usage.maxResolution);
        allowedKids = [];
        for (const kid of kids) {
          const key =
            this.hot.peekContentKey(tenant, kid, now) ?? (await this.hot.contentKey(tenant, kid, now));
          if (!key || key.resourceId !== claims.resourceId || allowed.has(key.trackType))
            allowedKids.push(kid);
        }
        if (allowedKids.length === 0)
          throw new Denial('resolution_capped', `the policy caps playback at ${usage.maxResolution}`);
      }
      const license = await licenseFor(this.hot, tenant, claims.resourceId, allowedKids, now);
      await this.media.touchStream(tenant.id, user, claims.sessionId, claims.resourceId, now);
      return license;
    } catch (err) {
      if (
        err instanceof Denial &&
        (err.reason === 'concurrent_streams' || err.reason === 'resolution_capped')
      )
        this.access.record(claims, req, admitted.ip, 'accessDenied', now, {
          endpoint: 'clearkey',
          reason: err.reason,
        });
      throw err;
    }
  }

  /** A heartbeat keeps the session counted as streaming. */
  async heartbeat(claims: ViewerClaims, now: number): Promise<void> {
    if (claims.usage?.concurrentStreams === undefined) return;
    await this.media.touchStream(
      claims.tenantId,
      claims.sub ?? claims.sessionId,
      claims.sessionId,
      claims.resourceId,
      now,
    );
  }
}
