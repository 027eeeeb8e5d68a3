import { isIP } from 'node:net';

/** Normalises an address for comparison: strips the IPv4-mapped IPv6 prefix and lowercases IPv6. */
export function normalizeIp(address: string): string {
  const lower = address.trim().toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

export function isIpAddress(value: string): boolean {
  return isIP(value.trim()) !== 0;
}
