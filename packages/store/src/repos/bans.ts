import { randomUUID } from 'node:crypto';
import { type Ban, canonicalBanTarget, normalizeIp } from '@vigil/core';
import { banFromRow } from '../rows.ts';
import { Repository } from './base.ts';

/** Bans by session or address, and where banned sessions were seen calling from. */
export class BanRepo extends Repository {
  /** Bans a session or an IP; banning the same target again updates reason and expiry. */
  async upsertBan(input: Omit<Ban, 'id' | 'createdAt'>): Promise<Ban> {
    const ban: Ban = {
      ...input,
      value: banValue(input.kind, input.value),
      id: randomUUID(),
      createdAt: Date.now(),
    };
    await this.db
      .insertInto('bans')
      .values({
        id: ban.id,
        tenant_id: ban.tenantId,
        kind: ban.kind,
        value: ban.value,
        reason: ban.reason,
        created_at: ban.createdAt,
        expires_at: ban.expiresAt,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'kind', 'value'])
          .doUpdateSet({ reason: ban.reason, expires_at: ban.expiresAt }),
      )
      .execute();
    await this.publish(ban.tenantId, 'ban');
    const stored = await this.db
      .selectFrom('bans')
      .selectAll()
      .where('tenant_id', '=', ban.tenantId)
      .where('kind', '=', ban.kind)
      .where('value', '=', ban.value)
      .executeTakeFirstOrThrow();
    return banFromRow(stored);
  }

  async activeBans(tenantId: string, now: number): Promise<Ban[]> {
    const rows = await this.db
      .selectFrom('bans')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    return rows.map(banFromRow);
  }

  async deleteBan(tenantId: string, id: string): Promise<boolean> {
    return (await this.changeRows('bans', tenantId, { id }, { topic: 'ban' })) > 0;
  }

  async deleteBanByTarget(tenantId: string, kind: Ban['kind'], target: string): Promise<boolean> {
    const value = kind === 'ip' ? canonicalBanTarget(target) : target;
    if (value === null) return false;
    return (await this.changeRows('bans', tenantId, { kind, value }, { topic: 'ban' })) > 0;
  }

  /** Records that a banned session called from an IP, so an operator can ban that IP too. */
  async recordBanSighting(tenantId: string, banId: string, ip: string, now: number): Promise<void> {
    await this.db
      .insertInto('ban_sightings')
      .values({
        ban_id: banId,
        tenant_id: tenantId,
        ip: normalizeIp(ip),
        first_seen: now,
        last_seen: now,
        hits: 1,
      })
      .onConflict((oc) =>
        oc.columns(['ban_id', 'ip']).doUpdateSet((eb) => ({
          last_seen: now,
          hits: eb(eb.ref('ban_sightings.hits'), '+', 1),
        })),
      )
      .execute();
  }

  async purgeExpiredBans(now: number): Promise<number> {
    const result = await this.db
      .deleteFrom('bans')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/** An IP ban's target in its one canonical form (so the unique constraint sees one ban per address or range). */
function banValue(kind: Ban['kind'], value: string): string {
  if (kind !== 'ip') return value;
  const canonical = canonicalBanTarget(value);
  if (canonical === null) throw new Error('an IP ban needs an IP address or CIDR range');
  return canonical;
}
