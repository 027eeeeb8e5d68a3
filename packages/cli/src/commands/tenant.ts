import { createTenant, listTenants } from '@vigil/control';
import { allPages } from '@vigil/store';
import { type Command, common, out, str, withPlatform } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const tenantCommand: Command = {
  options: { data: common.data, name: { type: 'string' } },
  async run(values, [action, id]) {
    if (action !== 'list' && !(action === 'create' && id))
      throw new UsageError('usage: vigil tenant create <id> | list');
    await withPlatform(values, async (deps, actor) => {
      if (action === 'list') {
        for await (const t of allPages((page) => listTenants(deps, actor, page))) out(`${t.id}  ${t.name}`);
        return;
      }
      const tenant = await createTenant(deps, actor, { id: id!, name: str(values, 'name') ?? id });
      out(`tenant ${tenant.id} created`);
      out(`  viewer-token secret (HS256): ${tenant.jwtSecret}`);
      out(`  admin API key: ${tenant.apiKey}`);
    });
  },
};
