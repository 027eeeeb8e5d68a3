import { openStore, storeSettingsFromEnv } from '@vigil/server';
import { allPages, pageTenants } from '@vigil/store';
import { type Command, common, out, str } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const tenantCommand: Command = {
  options: { data: common.data, name: { type: 'string' } },
  async run(values, [action, id]) {
    const store = await openStore(storeSettingsFromEnv(str(values, 'data')));
    try {
      if (action === 'list') {
        for await (const t of allPages((page) => pageTenants(store, page))) out(`${t.id}  ${t.name}`);
      } else if (action === 'create' && id) {
        if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id))
          throw new UsageError('tenant ids are lowercase letters, digits, - and _');
        if (await store.getTenant(id)) throw new Error(`tenant "${id}" exists`);
        const tenant = await store.createTenant({ id, name: str(values, 'name') ?? id });
        const { key } = await store.createApiKey(id, 'admin', 'initial admin key');
        out(`tenant ${id} created`);
        out(`  viewer-token secret (HS256): ${tenant.secret.toString('utf8')}`);
        out(`  admin API key: ${key}`);
      } else {
        throw new UsageError('usage: vigil tenant create <id> | list');
      }
    } finally {
      await store.close();
    }
  },
};
