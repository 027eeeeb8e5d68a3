import { getWatermark, setWatermark } from '@vigil/control';
import { type Command, common, out, parseValue, withControl } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const configCommand: Command = {
  options: { ...common },
  async run(values, [action = 'get', ...pairs]) {
    if (action !== 'get' && (action !== 'set' || pairs.length === 0))
      throw new UsageError('usage: vigil config get | set <field>=<value> ...');
    const patch: Record<string, unknown> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`"${pair}" is not <field>=<value>`);
      patch[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
    }
    await withControl(values, async (deps, actor) => {
      const config =
        action === 'get' ? await getWatermark(deps, actor) : await setWatermark(deps, actor, patch);
      out(JSON.stringify(config, null, 2));
    });
  },
};
