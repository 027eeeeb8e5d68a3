import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { BadRequest, canonicalIp, IpMatcher, parseIpRange } from '@vigil/core';

/**
 * The one way the server fetches a URL a tenant gave it (a recording or a restream to trace): a
 * `fetch`-compatible function that refuses to reach the server's own network. Only http and https; the
 * host is resolved here and every address it resolves to is checked (loopback, private, link-local,
 * CGNAT, multicast, unspecified, reserved and documentation ranges, metadata addresses, and the IPv4
 * inside IPv4-mapped, NAT64 and 6to4 addresses); the connection then goes to the address that was
 * checked (the socket's `lookup` answers it), so a second DNS answer can't point it elsewhere. Every
 * redirect hop is checked the same way, up to a bounded count; the response body and the time it takes
 * are bounded too. The operator opens private addresses (`VIGIL_DETECT_ALLOW_PRIVATE=1`) or some ranges
 * (`VIGIL_DETECT_ALLOW_ADDRESSES`).
 */

export interface OutboundSettings {
  /** Let every address through (an operator tracing restreams on its own network). */
  allowPrivate: boolean;
  /** Addresses or ranges let through although refused otherwise. */
  allowAddresses?: readonly string[];
  /** Redirect hops followed at most (default 5). */
  maxRedirects?: number;
  /** Bytes of one response body at most (default 1 GiB). */
  maxBytes?: number;
  /** Milliseconds without any byte (connect, headers, body) before giving up (default 20 s). */
  idleTimeoutMs?: number;
  /** Milliseconds one response may take, headers to last byte (default 30 min). */
  totalTimeoutMs?: number;
  /** Name resolution (tests); default the system resolver, every address. */
  resolve?: (host: string) => Promise<string[]>;
}

/** 400 `url_forbidden`: the URL, or a hop it redirects to, is not one the server may fetch. */
export class UrlForbidden extends BadRequest {
  constructor(message: string) {
    super('url_forbidden', message);
    this.name = 'UrlForbidden';
  }
}

const HOW_TO_ALLOW =
  'the operator can allow private addresses with VIGIL_DETECT_ALLOW_PRIVATE=1, or some with VIGIL_DETECT_ALLOW_ADDRESSES=<address or CIDR>,...';

/** Ranges never fetched unless allowed, with what they are. IPv4 ranges also match their mapped forms. */
const REFUSED: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', 'an unspecified ("this network") address'],
  ['10.0.0.0/8', 'a private address'],
  ['100.64.0.0/10', 'a carrier-grade NAT (shared) address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address (cloud metadata services live there)'],
  ['172.16.0.0/12', 'a private address'],
  ['192.0.0.0/24', 'an IETF protocol address (some metadata services live there)'],
  ['192.0.2.0/24', 'a documentation address'],
  ['192.88.99.0/24', 'a 6to4 relay address'],
  ['192.168.0.0/16', 'a private address'],
  ['198.18.0.0/15', 'a benchmarking address'],
  ['198.51.100.0/24', 'a documentation address'],
  ['203.0.113.0/24', 'a documentation address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['240.0.0.0/4', 'a reserved address'],
  ['::/128', 'the unspecified address'],
  ['::1/128', 'a loopback address'],
  ['::/96', 'an IPv4-compatible address (deprecated)'],
  ['64:ff9b:1::/48', 'a local NAT64 address'],
  ['100::/64', 'a discard address'],
  ['2001::/32', 'a Teredo tunnel address'],
  ['2001:db8::/32', 'a documentation address'],
  ['fc00::/7', 'a unique local (private) address (cloud metadata services live there)'],
  ['fe80::/10', 'a link-local address'],
  ['fec0::/10', 'a site-local address'],
  ['ff00::/8', 'a multicast address'],
];
const refused = REFUSED.map(([cidr, what]) => ({ range: new IpMatcher([cidr]), what }));

/** The 16 bytes of a canonical IPv6 address. */
function v6Bytes(ip: string): Uint8Array | null {
  const range = parseIpRange(`${ip}/128`);
  return range ? range.bytes : null;
}

/** The IPv4 address embedded in a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address, if any. */
function embeddedV4(ip: string): string | null {
  if (!ip.includes(':')) return null;
  const b = v6Bytes(ip);
  if (!b) return null;
  const nat64 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];
  if (nat64.every((v, i) => b[i] === v)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (b[0] === 0x20 && b[1] === 0x02) return `${b[2]}.${b[3]}.${b[4]}.${b[5]}`;
  return null;
}

/** Why `ip` must not be fetched, or null when it may (settings aside). */
export function refusedAddressReason(ip: string): string | null {
  const canonical = canonicalIp(ip);
  if (canonical === null) return 'not an IP address';
  for (const { range, what } of refused) if (range.has(canonical)) return what;
  const inner = embeddedV4(canonical);
  if (inner !== null) {
    const why = refusedAddressReason(inner);
    if (why !== null) return `${why}, inside ${canonical.startsWith('2002:') ? 'a 6to4' : 'a NAT64'} address`;
  }
  return null;
}

/** Checks a URL's form: http or https, a host, no credentials. Returns the host without brackets. */
function checkUrlForm(url: URL): string {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UrlForbidden(`only http and https URLs can be fetched, not ${url.protocol.replace(':', '')}`);
  if (url.username !== '' || url.password !== '')
    throw new UrlForbidden('URLs with credentials (user:password@) are not fetched');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UrlForbidden('the URL has no host');
  return host;
}

export interface CheckedTarget {
  host: string;
  /** The address to connect to (checked). */
  address: string;
  family: 4 | 6;
}

/**
 * Resolves the URL's host and checks every address it resolves to; the first one is the one to connect
 * to. Throws UrlForbidden (why, and how the operator allows it) or an Error when the name doesn't resolve.
 */
export async function checkOutboundUrl(url: URL, settings: OutboundSettings): Promise<CheckedTarget> {
  const host = checkUrlForm(url);
  const literal = canonicalIp(host);
  let addresses: string[];
  if (literal !== null) addresses = [literal];
  else {
    const resolve =
      settings.resolve ??
      (async (h: string) => (await dnsLookup(h, { all: true, verbatim: true })).map((a) => a.address));
    try {
      addresses = await resolve(host);
    } catch (err) {
      throw Object.assign(new Error(`could not resolve "${host}": ${(err as Error).message}`), {
        code: 'ENOTFOUND',
      });
    }
    addresses = addresses.map((a) => canonicalIp(a)).filter((a): a is string => a !== null);
    if (addresses.length === 0) throw new Error(`"${host}" resolves to no address`);
  }
  if (!settings.allowPrivate) {
    const allowed = new IpMatcher(settings.allowAddresses ?? []);
    for (const address of addresses) {
      if (allowed.has(address)) continue;
      const why = refusedAddressReason(address);
      if (why !== null) {
        const named = literal === null ? `"${host}" resolves to ${address}, ` : `${address} is `;
        throw new UrlForbidden(`${url.origin} is not fetched: ${named}${why}; ${HOW_TO_ALLOW}`);
      }
    }
  }
  const address = addresses[0]!;
  return { host, address, family: address.includes(':') ? 6 : 4 };
}

/** A lookup that answers the checked address whatever it is asked (no second resolution). */
function pinnedLookup(target: CheckedTarget): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  }) as unknown as LookupFunction;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function requestOnce(
  url: URL,
  target: CheckedTarget,
  method: string,
  headers: Record<string, string>,
  idleMs: number,
  signal: AbortSignal | undefined,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method,
      headers: { 'user-agent': 'vigil-detector', ...headers },
      lookup: pinnedLookup(target),
      // A literal host skips lookup; connect to the checked form of it.
      ...(canonicalIp(target.host) !== null ? { hostname: target.address } : {}),
      servername: canonicalIp(target.host) === null ? target.host : undefined,
      signal,
      agent: false,
    });
    req.setTimeout(idleMs, () => req.destroy(new Error(`no answer from ${url.origin} within ${idleMs} ms`)));
    req.once('response', (res) => resolve(res));
    req.once('error', reject);
    req.end();
  });
}

/** A body stream that stops at `maxBytes`, goes idle for at most `idleMs` and ends by `deadline`. */
function boundedBody(
  res: IncomingMessage,
  maxBytes: number,
  idleMs: number,
  deadline: number,
): ReadableStream {
  let seen = 0;
  res.setTimeout(idleMs, () => res.destroy(new Error(`the response stalled for ${idleMs} ms`)));
  const late = setTimeout(
    () => res.destroy(new Error('the response took longer than allowed')),
    Math.max(0, deadline - Date.now()),
  );
  late.unref();
  res.once('close', () => clearTimeout(late));
  res.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > maxBytes) res.destroy(new Error(`the response is larger than ${maxBytes} bytes`));
  });
  return Readable.toWeb(res) as ReadableStream;
}

/** Builds the guarded fetch. Only GET and HEAD; redirects are followed (bounded, each hop checked). */
export function outboundFetch(settings: OutboundSettings): typeof fetch {
  const maxRedirects = settings.maxRedirects ?? 5;
  const maxBytes = settings.maxBytes ?? 1024 ** 3;
  const idleMs = settings.idleTimeoutMs ?? 20_000;
  const totalMs = settings.totalTimeoutMs ?? 30 * 60_000;
  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const first = input instanceof Request ? input.url : String(input);
    let url: URL;
    try {
      url = new URL(first);
    } catch {
      throw new UrlForbidden(`"${first.slice(0, 200)}" is not a URL`);
    }
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    if (method !== 'GET' && method !== 'HEAD')
      throw new UrlForbidden(`only GET and HEAD are sent, not ${method}`);
    const headers: Record<string, string> = {};
    new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).forEach((v, k) => {
      if (k === 'range' || k === 'accept' || k === 'if-none-match' || k === 'if-modified-since')
        headers[k] = v;
    });
    const signal = init?.signal ?? undefined;
    const deadline = Date.now() + totalMs;
    for (let hop = 0; ; hop++) {
      const target = await checkOutboundUrl(url, settings);
      let res: IncomingMessage;
      try {
        res = await requestOnce(url, target, method, headers, idleMs, signal);
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        throw new TypeError(`fetch failed: ${url.origin}: ${(err as Error).message}`, { cause: err });
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.has(status) && location !== undefined) {
        res.resume();
        res.destroy();
        if (hop >= maxRedirects)
          throw new TypeError(
            `fetch failed: more than ${maxRedirects} redirects from ${first.slice(0, 200)}`,
          );
        try {
          url = new URL(location, url);
        } catch {
          throw new TypeError(`fetch failed: ${url.origin} redirects to a malformed URL`);
        }
        continue;
      }
      if (status < 200 || status > 599) {
        res.destroy();
        throw new TypeError(`fetch failed: ${url.origin} answered status ${status}`);
      }
      const responseHeaders = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        try {
          responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        } catch {
          // A header fetch can't represent: dropped.
        }
      }
      const empty = method === 'HEAD' || status === 204 || status === 304;
      if (empty) res.resume();
      const response = new Response(empty ? null : boundedBody(res, maxBytes, idleMs, deadline), {
        status,
        statusText: res.statusMessage ?? '',
        headers: responseHeaders,
      });
      // What relative URIs in a playlist resolve against: the last hop, as fetch's own `url`.
      Object.defineProperty(response, 'url', { value: url.href });
      Object.defineProperty(response, 'redirected', { value: hop > 0 });
      return response;
    }
  };
  return guarded as typeof fetch;
}

/** The settings from the environment: VIGIL_DETECT_ALLOW_PRIVATE=1, VIGIL_DETECT_ALLOW_ADDRESSES=a,b. */
export function outboundSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): OutboundSettings {
  const list = (env.VIGIL_DETECT_ALLOW_ADDRESSES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    if (!parseIpRange(entry, true))
      throw new Error(`VIGIL_DETECT_ALLOW_ADDRESSES: "${entry}" is not an IP address or CIDR range`);
  }
  return { allowPrivate: env.VIGIL_DETECT_ALLOW_PRIVATE === '1', allowAddresses: list };
}
