import { mergeWatermarkConfig } from '@vigil/core';
import { type Command, common, out, parseValue, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const configCommand: Command = {
  options: { ...common },
  async run(values, [action = 'get', ...pairs]) {
    await withStore(values, async (store, tenantId) => {
      const current = await store.getWatermarkConfig(tenantId);
      if (action === 'get') {
        out(JSON.stringify(current, null, 2));
        return;
      }
      if (action !== 'set' || pairs.length === 0)
        throw new UsageError('usage: vigil config get | set <field>=<value> ...');
      const patch: Record<string, unknown> = {};
      for (const pair of pairs) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new UsageError(`"${pair}" is not <field>=<value>`);
        patch[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
      }
      const next = mergeWatermarkConfig(current, patch);
      await store.putWatermarkConfig(tenantId, next);
      out(JSON.stringify(next, null, 2));
    });
  },
};
