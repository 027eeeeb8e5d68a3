import { Denial } from '../errors.ts';
import { type IpRange, ipInRange, normalizeIp, parseIpRange } from '../ip.ts';

export interface Ban {
  id: string;
  tenantId: string;
  kind: 'session' | 'ip';
  /** The banned session id, or the canonical IP address or range (`203.0.113.0/24`, see canonicalBanTarget). */
  value: string;
  reason: string;
  createdAt: number;
  /** Milliseconds since the epoch, or null for a permanent ban. */
  expiresAt: number | null;
}

/** One tenant's active bans, indexed for the license path. */
export class BanIndex {
  readonly #sessions = new Map<string, Ban>();
  readonly #ips = new Map<string, Ban>();
  /** Range bans, looked through only when an address has no ban of its own (usually none). */
  readonly #ranges: { range: IpRange; ban: Ban }[] = [];

  constructor(bans: Iterable<Ban>) {
    for (const ban of bans) {
      if (ban.kind === 'session') this.#sessions.set(ban.value, ban);
      else if (ban.value.includes('/')) {
        const range = parseIpRange(ban.value);
        if (range) this.#ranges.push({ range, ban });
      } else this.#ips.set(normalizeIp(ban.value), ban);
    }
  }

  sessionBan(sessionId: string, now: number): Ban | undefined {
    return active(this.#sessions.get(sessionId), now);
  }

  /** The active ban of a canonical address (see canonicalIp), by the address itself or a range holding it. */
  ipBan(ip: string, now: number): Ban | undefined {
    const exact = active(this.#ips.get(ip), now);
    if (exact || this.#ranges.length === 0) return exact;
    for (const { range, ban } of this.#ranges) {
      if (ipInRange(ip, range) && active(ban, now)) return ban;
    }
    return undefined;
  }
}

function active(ban: Ban | undefined, now: number): Ban | undefined {
  return ban && (ban.expiresAt === null || ban.expiresAt > now) ? ban : undefined;
}

/**
 * The checks every license, key and heartbeat request passes after its token verified, cheapest first:
 * IP binding, then ban by session, then ban by IP. Returns the ban that refused, for recording.
 */
export function checkViewerAccess(
  claims: { sessionId: string; ip: string },
  clientIp: string,
  bans: BanIndex,
  now: number,
): void {
  if (claims.ip !== normalizeIp(clientIp)) {
    throw new Denial('ip_mismatch', 'token is bound to another IP address');
  }
  const bySession = bans.sessionBan(claims.sessionId, now);
  if (bySession)
    throw new Denial('banned', 'this session is banned', { ban: 'session', banId: bySession.id });
  const byIp = bans.ipBan(claims.ip, now);
  if (byIp) throw new Denial('banned', 'this IP address is banned', { ban: 'ip', banId: byIp.id });
}
