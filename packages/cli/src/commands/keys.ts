import { generateContentKey, TRACK_TYPES, type TrackType } from '@vigil/keys';
import { allPages, pageContentKeys } from '@vigil/store';
import { type Command, common, need, out, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const keysCommand: Command = {
  options: {
    ...common,
    resource: { type: 'string' },
    periods: { type: 'string' },
    track: { type: 'string', multiple: true },
    ttl: { type: 'string' },
  },
  async run(values, [action]) {
    const resourceId = need(values, 'resource');
    await withStore(values, async (store, tenantId) => {
      if (action === 'list') {
        for await (const k of allPages((page) => pageContentKeys(store, tenantId, resourceId, page)))
          out(`${k.kid}  period ${k.keyPeriod}  ${k.trackType}`);
        return;
      }
      if (action !== 'create') throw new UsageError('usage: vigil keys create|list --resource <id>');
      const periods = Number(str(values, 'periods') ?? 1);
      if (!Number.isInteger(periods) || periods < 1 || periods > 1000)
        throw new UsageError('--periods must be 1..1000');
      const tracks = (values.track as string[] | undefined) ?? ['all'];
      for (const t of tracks)
        if (!TRACK_TYPES.includes(t as TrackType)) throw new UsageError(`unknown track type "${t}"`);
      const expiresAt = Date.now() + Number(str(values, 'ttl') ?? 7 * 86400) * 1000;
      const keys = [];
      for (let p = 0; p < periods; p++) {
        for (const trackType of tracks)
          keys.push(
            generateContentKey({
              tenantId,
              resourceId,
              keyPeriod: p,
              trackType: trackType as TrackType,
              expiresAt,
            }),
          );
      }
      await store.putContentKeys(keys);
      for (const k of keys) out(`${k.kid}  period ${k.keyPeriod}  ${k.trackType}`);
    });
  },
};
