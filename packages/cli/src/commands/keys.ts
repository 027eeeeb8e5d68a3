import { createKeys, listKeys } from '@vigil/control';
import type { TrackType } from '@vigil/keys';
import { allPages } from '@vigil/store';
import { type Command, need, numberOption, options, out, withControl } from '../command.ts';
import { UsageError } from '../usage-error.ts';

/** Content keys of a resource; the CLI's keys live a week unless --ttl says otherwise. */
const CLI_KEY_TTL_SECONDS = 7 * 86400;

export const keysCommand: Command = {
  options: { ...options(['resource', 'periods', 'ttl']), track: { type: 'string', multiple: true } },
  async run(values, [action]) {
    const resourceId = need(values, 'resource');
    if (action !== 'list' && action !== 'create')
      throw new UsageError('usage: vigil keys create|list --resource <id>');
    await withControl(values, async (deps, actor) => {
      if (action === 'list') {
        for await (const k of allPages((page) => listKeys(deps, actor, { resourceId }, page)))
          out(`${k.kid}  period ${k.keyPeriod}  ${k.trackType}`);
        return;
      }
      const keys = await createKeys({ ...deps, keyTtlSeconds: CLI_KEY_TTL_SECONDS }, actor, {
        resourceId,
        periods: numberOption(values, 'periods'),
        trackTypes: values.track as TrackType[] | undefined,
        ttlSeconds: numberOption(values, 'ttl'),
      });
      for (const k of keys) out(`${k.kid}  period ${k.keyPeriod}  ${k.trackType}`);
    });
  },
};
