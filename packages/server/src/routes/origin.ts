import type { IncomingMessage } from 'node:http';
import { extname, resolve } from 'node:path';
import {
  DELIVERY_COOKIE,
  DELIVERY_PARAM,
  type DenialReason,
  normalizeUrlPath,
  verifyDelivery,
} from '@vigil/core';
import type { ObjectStorage } from '@vigil/media';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerConfig } from '../config.ts';
import { type DeliverySigner, isTenantId, ORIGIN_BASE } from '../delivery.ts';
import {
  isEndedPlaylist,
  MAX_REWRITTEN_PLAYLIST_BYTES,
  originPlaylistRewrite,
  rewritePlaylist,
} from '../hls-playlist.ts';
import type { HotState, TenantState } from '../hot-state.ts';
import type { KeyGrants } from '../key-grants.ts';
import { type OriginFile, openLocalFile, openStoredFile } from '../origin-files.ts';
import type { StatsRecorder } from '../stats/recorder.ts';
import { errorSchema } from './schemas.ts';

export interface OriginRoutesOptions {
  config: ServerConfig;
  hot: HotState;
  stats: StatsRecorder;
  signer: DeliverySigner;
  /** Key grants for the key URIs of the playlists served (native HLS); undefined: none. */
  keyGrants?: KeyGrants | undefined;
  clientIp: (req: IncomingMessage) => string;
  /** Media storage holding published packages (object storage); undefined: the origin folder only. */
  packages?: ObjectStorage | undefined;
}

/** The only files the origin serves; anything else (key info files, layouts, dotfiles) is a 404. */
export const ORIGIN_TYPES: Record<string, string> = {
  '.mpd': 'application/dash+xml',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.ts': 'video/mp2t',
  '.jpg': 'image/jpeg',
  '.vtt': 'text/vtt',
};
const MANIFESTS = new Set(['.mpd', '.m3u8']);

/**
 * Caching of signed content. Answers are `private`: a shared cache keyed on the URL would hand a
 * segment to anyone holding the URL, after the token expired and from any address, which is exactly
 * what signing prevents. Manifests and playlists change with every live segment: revalidated each time
 * (ETag). Segments never change once written: the viewer's own cache keeps them for an hour.
 */
const MANIFEST_CACHE = 'private, no-cache';
/** A playlist with tokens written in is the answer to one request: never kept. */
const REWRITTEN_CACHE = 'private, no-store';
const SEGMENT_CACHE = 'private, max-age=3600';

/** A cookie's value from the Cookie header, without a cookie parser. */
function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function deliveryToken(query: unknown, cookieHeader: string | undefined): string | undefined {
  const value = (query as Record<string, unknown> | undefined)?.[DELIVERY_PARAM];
  if (typeof value === 'string') return value;
  // Given twice: neither is believed.
  if (Array.isArray(value)) return '\u0000';
  return cookie(cookieHeader, DELIVERY_COOKIE);
}

const notFound = (reply: FastifyReply) =>
  reply
    .code(404)
    .header('cache-control', 'no-store')
    .send({ statusCode: 404, code: 'not_found', message: 'no such file' });

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` of a file of `size` bytes; null: serve it whole; 'bad': unsatisfiable. */
export function parseRange(header: string, size: number): { start: number; end: number } | null | 'bad' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges (or another unit): the whole file is a valid answer.
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'bad';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'bad';
  return { start, end };
}

const etagOf = (st: { size: number; mtimeMs: number }) =>
  `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;

/**
 * The origin: `GET|HEAD /origin/<tenantId>/<path>` serves `<originRoot>/<tenantId>/<path>`, or else the
 * media storage's `packages/<tenantId>/<path>`, to requests carrying a valid delivery token (`?vd=` or
 * the `vigil_delivery` cookie) whose prefix covers the path. Only regular files of the known media
 * types, never a dotfile, a folder, or anything a symlink leads to outside the tenant's folder.
 */
export async function originRoutes(app: FastifyInstance, opts: OriginRoutesOptions): Promise<void> {
  const { config, hot, stats, signer, keyGrants, clientIp, packages } = opts;
  const root = config.originRoot === undefined ? undefined : resolve(config.originRoot);

  app.route({
    method: ['GET', 'HEAD'],
    url: `${ORIGIN_BASE}/:tenantId/*`,
    schema: {
      summary: 'Manifests and segments, with signed delivery',
      description:
        'Serves a published file to a request carrying a delivery token (`?vd=`, or the `vigil_delivery` cookie) from `POST /v1/delivery` or `POST /v1/delivery/sign`. An HLS playlist comes with the token written into the URIs it lists on this server (when it came as `?vd=`) and a short-lived key grant (`?kg=`) in the URIs of the HLS key endpoint, so a player given only the signed URL plays. Refusals are 403 with code `delivery_missing`, `delivery_malformed`, `delivery_signature`, `delivery_expired`, `delivery_scope`, `delivery_ip`, `banned` or `origin_not_allowed`. Range requests and conditional requests (ETag, Last-Modified) are answered.',
      tags: ['delivery'],
      params: {
        type: 'object',
        properties: { tenantId: { type: 'string' }, '*': { type: 'string' } },
      },
      querystring: {
        type: 'object',
        properties: { [DELIVERY_PARAM]: { type: 'string', description: 'The delivery token' } },
      },
      response: {
        '4xx': errorSchema,
      },
    },
    handler: async (request, reply) => {
      if (root === undefined && !packages) return notFound(reply);
      const now = Date.now();
      const rawPath = (request.raw.url ?? '/').split('?', 1)[0]!;
      const path = normalizeUrlPath(rawPath);
      const segments = path?.split('/') ?? [];
      const pathTenant = segments[1] === ORIGIN_BASE.slice(1) ? segments[2] : undefined;
      const tenant: TenantState | undefined =
        pathTenant !== undefined && isTenantId(pathTenant)
          ? (hot.peek(pathTenant) ?? (await hot.tenant(pathTenant)))
          : undefined;

      const refuse = (reason: DenialReason, message: string) => {
        stats.record(tenant?.id, 'origin', reason, now);
        return reply
          .code(403)
          .header('cache-control', 'no-store')
          .send({ statusCode: 403, code: reason, message });
      };

      const origin = request.headers.origin;
      if (origin && tenant?.origins && !tenant.origins.has(origin)) {
        return refuse('origin_not_allowed', "this origin may not fetch this tenant's content");
      }
      const ip = clientIp(request.raw);
      const check = verifyDelivery(deliveryToken(request.query, request.headers.cookie), {
        path: rawPath,
        ip,
        now,
        tenantId: pathTenant ?? '',
        // A tenant that doesn't exist (any more) has no valid tokens.
        secretFor: (id) => (id === pathTenant && !tenant ? undefined : signer.secretFor(id)),
      });
      if (!check.ok) return refuse(check.reason, check.message);
      const { grant } = check;
      if (grant.sessionId !== undefined && tenant!.bans.sessionBan(grant.sessionId, now)) {
        return refuse('banned', 'this session is banned');
      }
      if (tenant!.bans.ipBan(ip, now)) return refuse('banned', 'this IP address is banned');

      // The token covers the normalised path, which names a file below the tenant's folder.
      const rest = segments.slice(3);
      const ext = extname(rest.at(-1) ?? '').toLowerCase();
      const type = ORIGIN_TYPES[ext];
      if (rest.length === 0 || !type || rest.some((s) => s.startsWith('.'))) return notFound(reply);
      const file: OriginFile | undefined =
        (root === undefined ? undefined : await openLocalFile(root, pathTenant!, rest)) ??
        (packages ? await openStoredFile(packages, pathTenant!, rest) : undefined);
      if (!file) return notFound(reply);
      const st = file;

      if (ext === '.m3u8' && st.size <= MAX_REWRITTEN_PLAYLIST_BYTES) {
        const text = await file.text().catch(async (err: unknown) => {
          await file.close();
          throw err;
        });
        const requestOrigin = `${request.protocol}://${request.host}`;
        const query = (request.query as Record<string, unknown> | undefined)?.[DELIVERY_PARAM];
        const rewrite = originPlaylistRewrite({
          grant,
          queryToken: typeof query === 'string' ? query : undefined,
          url: `${requestOrigin}${rawPath}`,
          requestOrigin,
          publicUrl: config.publicUrl,
          issueKeyGrant: keyGrants && ((g) => keyGrants.issue(g)),
          keyGrantTtlSeconds: config.keyGrantTtlSeconds,
          now,
          ended: isEndedPlaylist(text),
        });
        const body = rewrite && rewritePlaylist(text, rewrite);
        if (body !== undefined) {
          await file.close();
          const bytes = Buffer.from(body, 'utf8');
          return reply
            .header('content-type', type)
            .header('cache-control', REWRITTEN_CACHE)
            .header('x-content-type-options', 'nosniff')
            .header('content-length', String(bytes.length))
            .send(request.method === 'HEAD' ? undefined : bytes);
        }
        // Nothing to write in: served as the file it is (the stream below reads from its start).
      }

      const etag = etagOf(st);
      const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
      reply
        .header('content-type', type)
        .header('cache-control', MANIFESTS.has(ext) ? MANIFEST_CACHE : SEGMENT_CACHE)
        .header('etag', etag)
        .header('last-modified', lastModified.toUTCString())
        .header('accept-ranges', 'bytes')
        .header('x-content-type-options', 'nosniff');

      const ifNoneMatch = request.headers['if-none-match'];
      const ifModifiedSince = request.headers['if-modified-since'];
      const notModified =
        ifNoneMatch !== undefined
          ? ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')
          : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= lastModified.getTime();
      if (notModified) {
        await file.close();
        return reply.code(304).send();
      }

      let range: ReturnType<typeof parseRange> = null;
      const rangeHeader = request.headers.range;
      const ifRange = request.headers['if-range'];
      const rangeApplies =
        ifRange === undefined ||
        (typeof ifRange === 'string' && (ifRange === etag || Date.parse(ifRange) === lastModified.getTime()));
      if (typeof rangeHeader === 'string' && rangeApplies) range = parseRange(rangeHeader, st.size);
      if (range === 'bad') {
        await file.close();
        return reply
          .code(416)
          .header('content-range', `bytes */${st.size}`)
          .type('application/json; charset=utf-8')
          .send({ statusCode: 416, code: 'range_not_satisfiable', message: 'range not satisfiable' });
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? st.size - 1;
      if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${st.size}`);
      reply.header('content-length', String(Math.max(0, end - start + 1)));
      if (request.method === 'HEAD' || st.size === 0) {
        await file.close();
        return reply.send();
      }
      return reply.send(await file.stream(start, end));
    },
  });
}
