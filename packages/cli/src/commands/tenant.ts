import { createTenant, listTenants, rotateTenantSecret } from '@vigil/control';
import { allPages } from '@vigil/store';
import { type Command, common, numberOption, out, str, withControl, withPlatform } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const tenantCommand: Command = {
  options: { data: common.data, tenant: common.tenant, name: { type: 'string' }, grace: { type: 'string' } },
  async run(values, [action, id]) {
    if (action === 'rotate-secret' && !id) {
      // The new secret signs from now on; tokens signed with the old one verify for --grace seconds more.
      await withControl(values, async (deps, actor) => {
        const r = await rotateTenantSecret(deps, actor, { graceSeconds: numberOption(values, 'grace') });
        out(`tenant ${actor.tenantId}: viewer-token secret rotated`);
        out(`  new viewer-token secret (HS256): ${r.jwtSecret}`);
        out(`  the old secret verifies until ${new Date(r.previousSecretValidUntil).toISOString()}`);
      });
      return;
    }
    if (action !== 'list' && !(action === 'create' && id))
      throw new UsageError(
        'usage: vigil tenant create <id> | list | rotate-secret [--tenant ID] [--grace SECONDS]',
      );
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
