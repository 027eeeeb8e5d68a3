import { createBan, liftBan, listBans } from '@vigil/control';
import { allPages } from '@vigil/store';
import { type Command, common, options, out, str, withControl } from '../command.ts';

export const banCommand: Command = {
  options: options(['session', 'ip', 'reason', 'expires']),
  async run(values) {
    await withControl(values, async (deps, actor) => {
      const ban = await createBan(deps, actor, {
        sessionId: str(values, 'session'),
        ip: str(values, 'ip'),
        reason: str(values, 'reason'),
        expiresAt: str(values, 'expires'),
      });
      out(`banned ${ban.kind} ${ban.value} (ban id ${ban.id})`);
    });
  },
};

export const unbanCommand: Command = {
  options: options(['session', 'ip']),
  async run(values, [id]) {
    await withControl(values, async (deps, actor) => {
      await liftBan(deps, actor, { id, sessionId: str(values, 'session'), ip: str(values, 'ip') });
      out('unbanned');
    });
  },
};

export const bansCommand: Command = {
  options: { ...common },
  async run(values) {
    await withControl(values, async (deps, actor) => {
      for await (const b of allPages((page) => listBans(deps, actor, page))) {
        const seen = b.sightings.map((s) => s.ip).join(',');
        out(`${b.id}  ${b.kind.padEnd(7)} ${b.value}  ${b.reason}${seen ? `  seen from ${seen}` : ''}`);
      }
    });
  },
};
