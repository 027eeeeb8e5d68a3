/**
 * IP addresses in one canonical text form, so that an address compares equal however it was written:
 * IPv4 in dotted decimal; IPv6 in RFC 5952 form (lowercase hex, no leading zeros, the longest run of
 * two or more zero groups — the first of equal runs — written `::`); an IPv4-mapped IPv6 address
 * (`::ffff:203.0.113.9`, `::ffff:cb00:7109`) becomes the IPv4 address. Zone ids (`fe80::1%eth0`) are
 * refused: they name an interface of one host, not an address a ban or a token can speak of.
 *
 * Every place that stores or compares an address (bans, token `ip` claims, delivery tokens, trusted
 * proxies, access logs, ban sightings, the client address itself) goes through this module.
 */

/** A parsed address: 16 bytes, IPv4 as its IPv4-mapped IPv6 form. */
interface ParsedIp {
  canonical: string;
  v4: boolean;
  bytes: Uint8Array;
}

const MAX_CACHED = 10_000;
/** Parsed inputs as given (the client address of every request passes here): bounded, cleared when full. */
const cache = new Map<string, ParsedIp | null>();

function parseV4(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Decimal only, no leading zeros (an octal-looking `010` means 8 to some parsers and 10 to others).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    out[at + i] = n;
  }
  return true;
}

function parseGroups(text: string, out: number[]): boolean {
  if (text === '') return true;
  const parts = text.split(':');
  for (const p of parts) {
    if (!/^[0-9a-f]{1,4}$/.test(p)) return false;
    out.push(Number.parseInt(p, 16));
  }
  return true;
}

function parseV6(text: string): Uint8Array | null {
  if (text.length > 45 || !/^[0-9a-f:.]+$/.test(text)) return null;
  const bytes = new Uint8Array(16);
  let body = text;
  let tail4 = false;
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.')) {
    // An embedded IPv4 address takes the last 32 bits.
    if (!parseV4(body.slice(lastColon + 1), bytes, 12)) return null;
    tail4 = true;
    body = body.slice(0, lastColon + 1);
    // `…:1.2.3.4`: the separator stays unless it is part of a `::`.
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const groupsWanted = tail4 ? 6 : 8;
  const gap = body.indexOf('::');
  const head: number[] = [];
  const rest: number[] = [];
  if (gap === -1) {
    if (!parseGroups(body, head) || head.length !== groupsWanted) return null;
  } else {
    if (body.indexOf('::', gap + 1) !== -1) return null;
    if (!parseGroups(body.slice(0, gap), head) || !parseGroups(body.slice(gap + 2), rest)) return null;
    // `::` stands for at least one zero group.
    if (head.length + rest.length > groupsWanted - 1) return null;
  }
  const groups = head.concat(new Array(groupsWanted - head.length - rest.length).fill(0), rest);
  for (let i = 0; i < groupsWanted; i++) {
    bytes[i * 2] = groups[i]! >> 8;
    bytes[i * 2 + 1] = groups[i]! & 0xff;
  }
  return bytes;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function formatV4(bytes: Uint8Array): string {
  return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
}

/** RFC 5952 text of 16 bytes (no mixed notation: mapped addresses are IPv4 and printed as such). */
function formatV6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((g) => g.toString(16)).join(':');
  if (bestAt === -1) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

function canonicalOf(bytes: Uint8Array): ParsedIp {
  const v4 = isMapped(bytes);
  return { canonical: v4 ? formatV4(bytes) : formatV6(bytes), v4, bytes };
}

function parse(input: string): ParsedIp | null {
  let hit = cache.get(input);
  if (hit !== undefined) return hit;
  hit = null;
  const text = input.trim().toLowerCase();
  if (text.length > 0 && text.length <= 45) {
    if (text.includes(':')) {
      const bytes = parseV6(text);
      if (bytes) hit = canonicalOf(bytes);
    } else {
      const bytes = new Uint8Array(16);
      bytes[10] = 0xff;
      bytes[11] = 0xff;
      if (parseV4(text, bytes, 12)) hit = canonicalOf(bytes);
    }
  }
  // Only what could be an address is remembered: a long header value must not sit in memory.
  if (input.length <= 64) {
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(input, hit);
  }
  return hit;
}

/** The canonical text of an IP address, or null when `text` is not one (zone ids included). */
export function canonicalIp(text: string): string | null {
  return typeof text === 'string' ? (parse(text)?.canonical ?? null) : null;
}

/** True for an IPv4 or IPv6 address (without a zone id), in any of its written forms. */
export function isIpAddress(value: string): boolean {
  return canonicalIp(value) !== null;
}

/**
 * The canonical form of an address already known to be one (a socket's, a validated claim's). Anything
 * else comes back trimmed and lowercased, which equals no canonical address.
 */
export function normalizeIp(address: string): string {
  return canonicalIp(address) ?? String(address).trim().toLowerCase();
}

/** An address range: `<network>/<prefix>`, over the 16-byte (IPv4-mapped) address space. */
export interface IpRange {
  /** Canonical text: an IPv4 range when it lies in the IPv4-mapped space, host bits zero. */
  canonical: string;
  bytes: Uint8Array;
  /** Prefix length over 128 bits (an IPv4 `/24` is 120). */
  bits: number;
}

/**
 * Parses `<address>/<prefix>` (host bits are cleared, `10.1.2.3/8` is `10.0.0.0/8`; an IPv4-mapped range
 * such as `::ffff:10.0.0.0/104` is the IPv4 range `10.0.0.0/8`) or, with `allowAddress`, a bare address as
 * the range holding only it. null when malformed.
 */
export function parseIpRange(text: string, allowAddress = false): IpRange | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  if (slash === -1) {
    const ip = allowAddress ? parse(text) : null;
    return ip ? { canonical: ip.canonical, bytes: ip.bytes, bits: 128 } : null;
  }
  const ip = parse(text.slice(0, slash));
  const prefixText = text.slice(slash + 1).trim();
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return null;
  const written4 = !text.slice(0, slash).includes(':');
  const prefix = Number(prefixText);
  if (prefix > (written4 ? 32 : 128)) return null;
  const bits = written4 ? prefix + 96 : prefix;
  const bytes = new Uint8Array(ip.bytes);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i]! &= (0xff00 >> keep) & 0xff;
  }
  const v4 = bits >= 96 && isMapped(bytes);
  const canonical = v4 ? `${formatV4(bytes)}/${bits - 96}` : `${formatV6(bytes)}/${bits}`;
  return { canonical, bytes, bits };
}

/** True when `ip` (any written form) lies in `range`. */
export function ipInRange(ip: string, range: IpRange): boolean {
  const parsed = parse(ip);
  return parsed !== null && bytesInRange(parsed.bytes, range);
}

function bytesInRange(bytes: Uint8Array, range: IpRange): boolean {
  const full = range.bits >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== range.bytes[i]) return false;
  const rest = range.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff00 >> rest) & 0xff;
  return (bytes[full]! & mask) === range.bytes[full];
}

/**
 * The canonical target of an IP ban: an address, or a range (`2001:db8::/32`, `203.0.113.0/24`). A
 * range of one address (`/32`, `/128`) is that address. null when `text` is neither.
 */
export function canonicalBanTarget(text: string): string | null {
  const range = parseIpRange(text, true);
  if (!range) return null;
  if (range.bits === 128) return canonicalIp(text.split('/')[0]!);
  return range.canonical;
}

/**
 * The narrowest prefix a new range ban may have: /16 for IPv4, /48 for IPv6 (a site). A broader range
 * would shut out whole providers, and behind carrier-grade NAT everyone they serve.
 */
export const BAN_RANGE_MIN_PREFIX = { ipv4: 16, ipv6: 48 } as const;

/** `canonicalBanTarget` for a ban being made: null also for a range broader than BAN_RANGE_MIN_PREFIX. */
export function newBanTarget(text: string): string | null {
  const target = canonicalBanTarget(text);
  const slash = target?.indexOf('/') ?? -1;
  if (target === null || slash < 0) return target;
  const prefix = Number(target.slice(slash + 1));
  const min = target.includes(':') ? BAN_RANGE_MIN_PREFIX.ipv6 : BAN_RANGE_MIN_PREFIX.ipv4;
  return prefix >= min ? target : null;
}

/** A set of addresses and ranges, e.g. trusted proxies. Throws on an entry that is neither. */
export class IpMatcher {
  readonly #exact = new Set<string>();
  readonly #ranges: IpRange[] = [];
  /** The canonical entries. */
  readonly entries: string[] = [];

  constructor(entries: Iterable<string>) {
    for (const entry of entries) {
      const range = parseIpRange(entry, true);
      if (!range) throw new Error(`"${entry}" is not an IP address or CIDR range`);
      if (range.bits === 128) this.#exact.add(canonicalIp(entry.split('/')[0]!)!);
      else this.#ranges.push(range);
      this.entries.push(range.bits === 128 ? canonicalIp(entry.split('/')[0]!)! : range.canonical);
    }
  }

  get size(): number {
    return this.entries.length;
  }

  has(ip: string): boolean {
    const parsed = parse(ip);
    if (!parsed) return false;
    if (this.#exact.has(parsed.canonical)) return true;
    for (const range of this.#ranges) if (bytesInRange(parsed.bytes, range)) return true;
    return false;
  }
}
