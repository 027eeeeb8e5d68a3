import {
  DELIVERY_PARAM,
  type DeliveryGrant,
  KEY_GRANT_PARAM,
  type KeyGrant,
  normalizeUrlPath,
} from '@vigil/core';

/**
 * Writing tokens into the URIs an HLS playlist lists, for players that can't add them to each request
 * (native HLS in Safari and on TVs, any player given only a URL). The playlist is read line by line
 * (RFC 8216): URI lines (variant playlists, segments, byte-range segments) and the `URI` attribute of
 * tags (`#EXT-X-MAP`, `#EXT-X-MEDIA`, `#EXT-X-I-FRAME-STREAM-INF`, `#EXT-X-PART`, `#EXT-X-PRELOAD-HINT`,
 * `#EXT-X-RENDITION-REPORT`, `#EXT-X-SESSION-DATA`, `#EXT-X-KEY`, `#EXT-X-SESSION-KEY`). A URI gets the
 * delivery token when it resolves (relative, absolute-path or absolute) to this server and into the
 * token's prefix, and a key URI the key grant when it names this server's HLS key endpoint. Anything
 * else (other hosts, other paths, `data:` and `skd:` URIs, URIs with `#EXT-X-DEFINE` variables, which
 * could expand to another host) is left exactly as written, as are comments and other tags.
 */

/** Largest playlist rewritten (larger ones are served as they are). */
export const MAX_REWRITTEN_PLAYLIST_BYTES = 4 * 1024 * 1024;
/** Largest rewritten answer: tokens make every URI longer. */
const MAX_REWRITTEN_OUTPUT = 32 * 1024 * 1024;

/** This server as seen by the client: an origin (`scheme://host[:port]`) and the path it is mounted at. */
export interface SelfLocation {
  origin: string;
  /** '' or a path without a trailing slash, e.g. `/vigil`. */
  basePath: string;
}

export interface PlaylistRewrite {
  /** The playlist's own URL (what relative URIs resolve against). */
  url: string;
  /** Where this server is reachable: URIs elsewhere are never given a token. */
  self: readonly SelfLocation[];
  /** The delivery token for URIs into `prefix` (undefined: media URIs are left alone). */
  delivery?: { param: string; token: string; prefix: string } | undefined;
  /** The key grant for key URIs of this server's HLS key endpoint, made on first use (undefined: none). */
  keyGrant?: { param: string; token: () => string | undefined } | undefined;
}

const KEY_ENDPOINT = /^\/v1\/license\/hls\/[^/]+$/;
/** Tags whose `URI` attribute names a key rather than media. */
const KEY_TAGS = new Set(['#EXT-X-KEY', '#EXT-X-SESSION-KEY']);

/** Whether the playlist is one whose key grants may live as long as its delivery token (it never reloads). */
export function isEndedPlaylist(text: string): boolean {
  return text.includes('#EXT-X-ENDLIST') || /#EXT-X-PLAYLIST-TYPE:VOD\b/.test(text);
}

/** `uri` with `name=value` as its only `name` parameter, keeping its form (relative stays relative). */
export function withQueryParam(uri: string, name: string, value: string): string {
  const hash = uri.indexOf('#');
  const fragment = hash >= 0 ? uri.slice(hash) : '';
  const beforeFragment = hash >= 0 ? uri.slice(0, hash) : uri;
  const q = beforeFragment.indexOf('?');
  const path = q >= 0 ? beforeFragment.slice(0, q) : beforeFragment;
  const query = q >= 0 ? beforeFragment.slice(q + 1) : '';
  const kept = query.split('&').filter((part) => part !== '' && paramName(part) !== name);
  kept.push(`${name}=${value}`);
  return `${path}?${kept.join('&')}${fragment}`;
}

function paramName(part: string): string {
  const eq = part.indexOf('=');
  const raw = (eq >= 0 ? part.slice(0, eq) : part).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The server-side path `uri` names, resolved against the playlist; undefined when it is not this server. */
function serverPath(uri: string, opts: PlaylistRewrite): string | undefined {
  // #EXT-X-DEFINE variables: what they expand to is not known here.
  if (uri.length === 0 || uri.includes('{$')) return undefined;
  let resolved: URL;
  try {
    resolved = new URL(uri, opts.url);
  } catch {
    return undefined;
  }
  for (const self of opts.self) {
    if (resolved.origin !== self.origin) continue;
    const path = resolved.pathname;
    if (self.basePath === '') return path;
    if (path.startsWith(`${self.basePath}/`)) return path.slice(self.basePath.length);
  }
  return undefined;
}

function rewriteUri(uri: string, isKey: boolean, opts: PlaylistRewrite): string {
  const path = serverPath(uri, opts);
  if (path === undefined) return uri;
  if (isKey && opts.keyGrant && KEY_ENDPOINT.test(path)) {
    const grant = opts.keyGrant.token();
    return grant === undefined ? uri : withQueryParam(uri, opts.keyGrant.param, grant);
  }
  const { delivery } = opts;
  if (delivery && normalizeUrlPath(path)?.startsWith(delivery.prefix)) {
    return withQueryParam(uri, delivery.param, delivery.token);
  }
  return uri;
}

/**
 * A tag line with its quoted `URI` attribute rewritten; the line unchanged when it has none or its
 * attribute list doesn't parse (`NAME=value` pairs, commas between, quoted strings without `"`).
 */
function rewriteTag(line: string, opts: PlaylistRewrite): string {
  const colon = line.indexOf(':');
  if (colon < 0) return line;
  const tag = line.slice(0, colon);
  const isKey = KEY_TAGS.has(tag);
  let i = colon + 1;
  while (i < line.length) {
    const eq = line.indexOf('=', i);
    if (eq < 0) return line;
    const name = line.slice(i, eq).trim();
    if (!/^[A-Z0-9-]+$/.test(name)) return line;
    let end: number;
    if (line[eq + 1] === '"') {
      const close = line.indexOf('"', eq + 2);
      if (close < 0) return line;
      if (name === 'URI') {
        const uri = line.slice(eq + 2, close);
        const rewritten = rewriteUri(uri, isKey, opts);
        // One URI attribute per tag.
        return rewritten === uri ? line : `${line.slice(0, eq + 2)}${rewritten}${line.slice(close)}`;
      }
      end = close + 1;
    } else {
      const comma = line.indexOf(',', eq + 1);
      end = comma < 0 ? line.length : comma;
    }
    if (end < line.length && line[end] !== ',') return line;
    i = end + 1;
  }
  return line;
}

/**
 * The playlist with tokens written into its URIs, or undefined when it isn't a playlist (no `#EXTM3U`
 * first line) or the answer would grow beyond the bound: the caller then serves the file as it is.
 */
export function rewritePlaylist(text: string, opts: PlaylistRewrite): string | undefined {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (!body.startsWith('#EXTM3U')) return undefined;
  const lines = body.split('\n');
  let size = 0;
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const cr = raw.endsWith('\r');
    const line = cr ? raw.slice(0, -1) : raw;
    let out = line;
    if (line.startsWith('#EXT')) out = rewriteTag(line, opts);
    else if (!line.startsWith('#') && line.trim() !== '') out = rewriteUri(line.trim(), false, opts);
    if (out !== line) {
      lines[n] = cr ? `${out}\r` : out;
      size += out.length - line.length;
      if (body.length + size > MAX_REWRITTEN_OUTPUT) return undefined;
    }
  }
  return lines.join('\n');
}

/** Key grants of live playlists end on a whole minute, so reloads within it list the same key URIs. */
const GRANT_ROUNDING_MS = 60_000;
const RESOURCE_ID = /^[\x21-\x7e]{1,256}$/;

export interface OriginPlaylistOptions {
  /** The verified delivery grant the playlist is served under. */
  grant: DeliveryGrant;
  /** The delivery token when it came in the query (then media URIs get it); undefined: from the cookie. */
  queryToken: string | undefined;
  /** The playlist's URL as requested: `<scheme>://<host><path>`. */
  url: string;
  /** The request's own origin and the configured public URL, if any. */
  requestOrigin: string;
  publicUrl: string | undefined;
  /** Issues key grants (undefined: key URIs are left alone). */
  issueKeyGrant: ((grant: KeyGrant) => string) | undefined;
  keyGrantTtlSeconds: number;
  now: number;
  /** Whether the playlist is an ended one (see isEndedPlaylist). */
  ended: boolean;
}

function selfLocations(requestOrigin: string, publicUrl: string | undefined): SelfLocation[] {
  const self: SelfLocation[] = [{ origin: requestOrigin, basePath: '' }];
  if (publicUrl !== undefined) {
    try {
      const u = new URL(publicUrl);
      self.push({ origin: u.origin, basePath: u.pathname.replace(/\/+$/, '') });
    } catch {
      // Not a URL: only the request's own origin is this server.
    }
  }
  return self;
}

/**
 * What the origin writes into a playlist served under a delivery grant: the delivery token into media
 * URIs when it came in the query (a cookie goes with every request by itself), and into key URIs a key
 * grant naming the grant's session, its resource (the prefix's folder) and its address if bound. A key
 * grant lives `keyGrantTtlSeconds` (rounded up to the minute) in a playlist that reloads, as long as the
 * delivery token in an ended one, which a player never reloads; never beyond the delivery token. No
 * session or no resource folder in the grant: no key grant. Undefined when there is nothing to write.
 */
export function originPlaylistRewrite(o: OriginPlaylistOptions): PlaylistRewrite | undefined {
  const { grant } = o;
  const folder = grant.prefix.split('/');
  // `/origin/<tenant>/<resourceId>/`: the resource whose keys a grant may cover.
  const resourceId = folder.length === 5 ? folder[3] : undefined;
  let keyGrant: PlaylistRewrite['keyGrant'];
  if (
    o.issueKeyGrant !== undefined &&
    grant.sessionId !== undefined &&
    resourceId !== undefined &&
    RESOURCE_ID.test(resourceId)
  ) {
    const issue = o.issueKeyGrant;
    const sessionId = grant.sessionId;
    let token: string | undefined;
    keyGrant = {
      param: KEY_GRANT_PARAM,
      token: () => {
        if (token === undefined) {
          const short =
            Math.ceil((o.now + o.keyGrantTtlSeconds * 1000) / GRANT_ROUNDING_MS) * GRANT_ROUNDING_MS;
          const expiresAt = o.ended ? grant.expiresAt : Math.min(grant.expiresAt, short);
          token = issue({
            tenantId: grant.tenantId,
            sessionId,
            resourceId,
            expiresAt,
            ...(grant.ip === undefined ? {} : { ip: grant.ip }),
          });
        }
        return token;
      },
    };
  }
  const delivery =
    o.queryToken === undefined
      ? undefined
      : { param: DELIVERY_PARAM, token: o.queryToken, prefix: grant.prefix };
  if (delivery === undefined && keyGrant === undefined) return undefined;
  return { url: o.url, self: selfLocations(o.requestOrigin, o.publicUrl), delivery, keyGrant };
}
