import type { IncomingMessage } from 'node:http';
import { isIpAddress, normalizeIp } from '@vigil/core';
import proxyaddr from 'proxy-addr';

/**
 * The viewer's address: the socket's, or, only when the socket belongs to a trusted proxy, the one the
 * proxy reports (X-Real-IP, else the nearest untrusted hop of X-Forwarded-For).
 */
export function clientIpResolver(trustedProxies: string[]): (req: IncomingMessage) => string {
  if (trustedProxies.length === 0) return (req) => normalizeIp(req.socket.remoteAddress ?? '');
  const trust = proxyaddr.compile(trustedProxies);
  return (req) => {
    const socketAddress = req.socket.remoteAddress ?? '';
    if (trust(socketAddress, 0)) {
      const real = req.headers['x-real-ip'];
      if (typeof real === 'string' && isIpAddress(real)) return normalizeIp(real);
    }
    return normalizeIp(proxyaddr(req, trust));
  };
}
