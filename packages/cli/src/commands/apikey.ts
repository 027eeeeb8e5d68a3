import { createApiKey, listApiKeys, revokeApiKey } from '@vigil/control';
import { allPages } from '@vigil/store';
import { type Command, options, out, str, withControl } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const apikeyCommand: Command = {
  options: options(['role', 'name'], ['all']),
  async run(values, [action, arg]) {
    if (action !== 'create' && action !== 'list' && action !== 'revoke')
      throw new UsageError('usage: vigil apikey create|list|revoke');
    if (action === 'revoke' && !arg) throw new UsageError('usage: vigil apikey revoke <prefix> [--all]');
    await withControl(values, async (deps, actor) => {
      if (action === 'create') {
        const role = str(values, 'role') ?? 'admin';
        const { key } = await createApiKey(deps, actor, { role, name: str(values, 'name') });
        out(key);
      } else if (action === 'list') {
        for await (const k of allPages((page) => listApiKeys(deps, actor, page))) {
          out(
            `${k.prefix}  ${k.role.padEnd(9)} ${k.revokedAt ? 'revoked' : 'active '}  ${new Date(k.createdAt).toISOString()}  ${k.name}`,
          );
        }
      } else {
        const revoked = await revokeApiKey(deps, actor, {
          prefix: arg!,
          all: values.all === true || undefined,
        });
        out(revoked > 1 ? `revoked ${revoked} keys` : 'revoked');
      }
    });
  },
};
