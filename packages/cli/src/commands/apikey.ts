import { allPages, pageApiKeys, type Role } from '@vigil/store';
import { type Command, common, out, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const apikeyCommand: Command = {
  options: { ...common, role: { type: 'string' }, name: { type: 'string' }, all: { type: 'boolean' } },
  async run(values, [action, arg]) {
    await withStore(values, async (store, tenantId) => {
      if (action === 'create') {
        const role = (str(values, 'role') ?? 'admin') as Role;
        if (!['admin', 'operator', 'readonly'].includes(role))
          throw new UsageError('--role must be admin, operator or readonly');
        const { key } = await store.createApiKey(tenantId, role, str(values, 'name') ?? '');
        out(key);
      } else if (action === 'list') {
        for await (const k of allPages((page) => pageApiKeys(store, tenantId, page))) {
          out(
            `${k.prefix}  ${k.role.padEnd(9)} ${k.revokedAt ? 'revoked' : 'active '}  ${new Date(k.createdAt).toISOString()}  ${k.name}`,
          );
        }
      } else if (action === 'revoke') {
        if (!arg) throw new UsageError('usage: vigil apikey revoke <prefix> [--all]');
        const matching = (await store.listApiKeys(tenantId)).filter(
          (k) => k.prefix === arg && k.revokedAt === null,
        );
        if (matching.length === 0) throw new Error(`no active API key with prefix "${arg}"`);
        if (matching.length > 1 && !values.all)
          throw new Error(`${matching.length} active API keys share prefix "${arg}": --all revokes them all`);
        await store.revokeApiKeysByHash(
          tenantId,
          matching.map((k) => k.hash),
        );
        out(matching.length > 1 ? `revoked ${matching.length} keys` : 'revoked');
      } else {
        throw new UsageError('usage: vigil apikey create|list|revoke');
      }
    });
  },
};
