import type { IncomingMessage } from 'node:http';
import { canonicalIp, IpMatcher } from '@vigil/core';

/** The trusted proxies of a config, canonicalised; throws one clear message on an entry that is no address or range. */
export function trustedProxyMatcher(trustedProxies: readonly string[]): IpMatcher {
  try {
    return new IpMatcher(trustedProxies);
  } catch (err) {
    throw new Error(`trusted proxies: ${(err as Error).message}`);
  }
}

/**
 * The viewer's address, canonical (see canonicalIp): the socket's, or, only when the socket belongs to a
 * trusted proxy, the one the proxy reports (X-Real-IP, else the nearest untrusted hop of X-Forwarded-For,
 * read from the right). Throws at build time on a trusted-proxy entry that is no address or range.
 */
export function clientIpResolver(trustedProxies: readonly string[]): (req: IncomingMessage) => string {
  const trust = trustedProxyMatcher(trustedProxies);
  const socketIp = (req: IncomingMessage) => {
    const raw = req.socket.remoteAddress ?? '';
    return canonicalIp(raw) ?? raw;
  };
  if (trust.size === 0) return socketIp;
  return (req) => {
    let ip = socketIp(req);
    if (!trust.has(ip)) return ip;
    const real = req.headers['x-real-ip'];
    if (typeof real === 'string') {
      const canonical = canonicalIp(real);
      if (canonical !== null) return canonical;
    }
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof forwarded !== 'string') return ip;
    const hops = forwarded.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = canonicalIp(hops[i]!);
      // A hop that is no address ends the walk: the trusted proxy that passed it on is the last one known.
      if (hop === null) return ip;
      ip = hop;
      if (!trust.has(ip)) return ip;
    }
    return ip;
  };
}
