import { canonicalBanTarget, newBanTarget } from '@vigil/core';
import { allPages, pageBans } from '@vigil/store';
import { type Command, common, out, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const banCommand: Command = {
  options: {
    ...common,
    session: { type: 'string' },
    ip: { type: 'string' },
    reason: { type: 'string' },
    expires: { type: 'string' },
  },
  async run(values) {
    const session = str(values, 'session');
    const ip = str(values, 'ip');
    if ((session === undefined) === (ip === undefined))
      throw new UsageError('give exactly one of --session and --ip');
    const target = ip === undefined ? undefined : newBanTarget(ip);
    if (ip !== undefined && target === null)
      throw new UsageError(
        '--ip must be an IP address or a CIDR range of /16 (IPv4) or /48 (IPv6) or narrower',
      );
    const expires = str(values, 'expires');
    const expiresAt = expires === undefined ? null : Date.parse(expires);
    if (expiresAt !== null && !Number.isFinite(expiresAt))
      throw new UsageError('--expires must be an ISO date');
    await withStore(values, async (store, tenantId) => {
      const ban = await store.upsertBan({
        tenantId,
        kind: ip !== undefined ? 'ip' : 'session',
        value: target ?? session!,
        reason: str(values, 'reason') ?? '',
        expiresAt,
      });
      out(`banned ${ban.kind} ${ban.value} (ban id ${ban.id})`);
    });
  },
};

export const unbanCommand: Command = {
  options: { ...common, session: { type: 'string' }, ip: { type: 'string' } },
  async run(values, [id]) {
    const session = str(values, 'session');
    const ip = str(values, 'ip');
    if ([id, session, ip].filter((v) => v !== undefined).length !== 1) {
      throw new UsageError('usage: vigil unban <ban id> | --session <id> | --ip <addr>');
    }
    const target = ip === undefined ? undefined : canonicalBanTarget(ip);
    if (ip !== undefined && target === null)
      throw new UsageError('--ip must be an IP address or a CIDR range');
    await withStore(values, async (store, tenantId) => {
      const deleted = id
        ? await store.deleteBan(tenantId, id)
        : await store.deleteBanByTarget(
            tenantId,
            session !== undefined ? 'session' : 'ip',
            session ?? target!,
          );
      if (!deleted) throw new Error('no such ban');
      out('unbanned');
    });
  },
};

export const bansCommand: Command = {
  options: { ...common },
  async run(values) {
    await withStore(values, async (store, tenantId) => {
      for await (const b of allPages((page) => pageBans(store, tenantId, page))) {
        const seen = b.sightings.map((s) => s.ip).join(',');
        out(`${b.id}  ${b.kind.padEnd(7)} ${b.value}  ${b.reason}${seen ? `  seen from ${seen}` : ''}`);
      }
    });
  },
};
