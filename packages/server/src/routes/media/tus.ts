import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import {
  adoptTusUpload,
  ControlError,
  createTusUpload,
  openTusUpload,
  terminateTusUpload,
} from '@vigil/control';
import type { LocalDiskStorage } from '@vigil/media';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MediaContext } from './shared.ts';
import { tags } from './shared.ts';

export const TUS_PATH = '/v1/media/tus';
/** Set by Vigil on the request it hands the tus server (a client's own is removed first). */
const TENANT_HEADER = 'x-vigil-tenant';
const ACTOR_HEADER = 'x-vigil-actor';
/** The checksum extension: the largest PATCH body that may carry an `Upload-Checksum` (it is buffered). */
const MAX_CHECKSUM_BODY = 64 * 1024 * 1024;
const CHECKSUM_ALGORITHMS: Record<string, string> = { sha1: 'sha1', sha256: 'sha256', md5: 'md5' };

const refusal = (status: number, code: string, message: string) => ({
  status_code: status,
  body: JSON.stringify({ statusCode: status, code, message }),
});

function asRefusal(err: unknown) {
  if (err instanceof ControlError) return refusal(err.status, err.code, err.message);
  throw err;
}

/**
 * tus 1.0 at `/v1/media/tus/` (core, creation, termination, expiration, and checksum — verified here,
 * ahead of the tus server, since its stores have none): `@tus/server` over a file store in the media
 * storage's `tus/` folder, with the API key in `Authorization`. `Upload-Metadata` carries `filename` and
 * `filetype`; the upload id (the last segment of the upload URL) is also a Vigil upload id, so
 * `GET /v1/media/upload/status/{id}` answers its `assetId` once finished. A finished upload is validated
 * and becomes an asset like a completed chunked upload.
 */
export function tusRoutes(app: FastifyInstance, ctx: MediaContext, storage: LocalDiskStorage): void {
  const { deps } = ctx;
  const datastore = new FileStore({
    directory: storage.path('tus'),
    expirationPeriodInMilliseconds: deps.settings.uploadTtlMs,
  });
  const tus = new Server({
    path: TUS_PATH,
    datastore,
    maxSize: deps.settings.maxUploadBytes,
    respectForwardedHeaders: false,
    namingFunction: () => `upload_${randomBytes(12).toString('hex')}`,
    async onUploadCreate(req, upload) {
      const actor = JSON.parse(req.headers.get(ACTOR_HEADER) ?? 'null');
      const meta = upload.metadata ?? {};
      try {
        await createTusUpload(deps, actor, {
          id: upload.id,
          filename: meta.filename ?? meta.name ?? '',
          filetype: meta.filetype ?? meta.type ?? '',
          size: upload.size ?? -1,
          metadata: Object.fromEntries(
            Object.entries(meta).filter(([k]) => ['title', 'description', 'userId'].includes(k)),
          ),
        });
      } catch (err) {
        throw asRefusal(err);
      }
      return {};
    },
    async onUploadFinish(req, upload) {
      const tenantId = req.headers.get(TENANT_HEADER) ?? '';
      try {
        const { assetId } = await adoptTusUpload(deps, tenantId, upload.id, datastore.read(upload.id));
        return { headers: { 'Vigil-Asset-Id': assetId } };
      } catch (err) {
        throw asRefusal(err);
      } finally {
        await datastore.remove(upload.id).catch(() => {});
      }
    },
  });

  const answer = async (request: FastifyRequest, reply: FastifyReply, body?: Buffer) => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (name === TENANT_HEADER || name === ACTOR_HEADER || value === undefined) continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    if (request.apiKey) {
      headers.set(TENANT_HEADER, request.apiKey.tenantId);
      headers.set(ACTOR_HEADER, JSON.stringify(ctx.actor(request)));
    }
    const method = request.method;
    const hasBody = method === 'PATCH' || method === 'POST';
    const init: RequestInit & { duplex?: 'half' } = { method, headers };
    if (hasBody) {
      init.body = (body
        ? Readable.toWeb(Readable.from([body]))
        : Readable.toWeb(request.raw)) as unknown as BodyInit;
      init.duplex = 'half';
    }
    const res = await tus.handleWeb(new Request(`http://vigil${request.url}`, init));
    reply.code(res.status);
    res.headers.forEach((value, name) => {
      if (name === 'content-length') return;
      reply.header(name, value);
    });
    const ext = res.headers.get('tus-extension');
    if (ext) reply.header('tus-extension', `${ext},checksum`);
    if (res.headers.has('tus-version') || method === 'OPTIONS')
      reply.header('tus-checksum-algorithm', Object.keys(CHECKSUM_ALGORITHMS).join(','));
    if (method === 'DELETE' && res.status === 204 && request.apiKey) {
      const id = request.url.split('?')[0]!.split('/').pop()!;
      await terminateTusUpload(deps, request.apiKey.tenantId, id);
    }
    return reply.send(Buffer.from(await res.arrayBuffer()));
  };

  app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.method === 'OPTIONS') return answer(request, reply);
      await ctx.apiKey(request, reply);
      if (reply.sent) return reply;
      const id = request.url.split('?')[0]!.slice(TUS_PATH.length + 1);
      if (id !== '') {
        // Someone else's upload (or none) is not there for this key.
        try {
          const u = await openTusUpload(deps, ctx.actor(request), id);
          if (request.method === 'PATCH' && u.status !== 'uploading')
            return reply.code(u.status === 'expired' ? 410 : 409).send({
              statusCode: u.status === 'expired' ? 410 : 409,
              code: u.status === 'expired' ? 'upload_expired' : `upload_${u.status}`,
              message: `the upload is ${u.status}`,
            });
        } catch (err) {
          if (err instanceof ControlError)
            return reply
              .code(err.status)
              .send({ statusCode: err.status, code: err.code, message: err.message });
          throw err;
        }
      }
      const checksum = request.headers['upload-checksum'];
      if (request.method === 'PATCH' && typeof checksum === 'string') {
        const [algo, digest] = checksum.trim().split(/\s+/);
        const hash = algo ? CHECKSUM_ALGORITHMS[algo] : undefined;
        if (!hash || !digest)
          return reply.code(400).send({
            statusCode: 400,
            code: 'upload_chunk_checksum',
            message: 'unsupported checksum algorithm',
          });
        const parts: Buffer[] = [];
        let size = 0;
        for await (const part of request.raw) {
          size += (part as Buffer).length;
          if (size > MAX_CHECKSUM_BODY)
            return reply.code(413).send({
              statusCode: 413,
              code: 'upload_too_large',
              message: `a PATCH with Upload-Checksum may carry at most ${MAX_CHECKSUM_BODY} bytes`,
            });
          parts.push(part as Buffer);
        }
        const body = Buffer.concat(parts);
        const actual = createHash(hash).update(body).digest();
        const claimed = Buffer.from(digest, 'base64');
        if (actual.length !== claimed.length || !timingSafeEqual(actual, claimed))
          return reply
            .code(460)
            .send({ statusCode: 460, code: 'upload_chunk_checksum', message: 'Checksum Mismatch' });
        return answer(request, reply, body);
      }
      return answer(request, reply);
    };
    const schema = {
      tags,
      hide: false,
      summary: 'tus 1.0 resumable uploads (core, creation, termination, expiration, checksum)',
    };
    for (const url of [TUS_PATH, `${TUS_PATH}/`, `${TUS_PATH}/:id`]) {
      raw.route({ method: ['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS'], url, schema, handler });
    }
  });
}
