import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertDetectionCapacity,
  banFromDetection,
  ControlError,
  createUploadDetection,
  createUrlDetection,
  getDetection,
  getDetectionRecord,
  invalid,
  listDetections,
  parseMode,
} from '@vigil/control';
import { newDetectionId } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { inside, jobDir } from '../../detect/jobs.ts';
import { nextSchema, pageParams, pageRequest } from '../../pagination.ts';
import { type AdminContext, security } from './shared.ts';

const CLIP_FILE = 'clip';
const EVIDENCE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};

export const detectionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'done', 'failed'] },
    source: {
      type: 'object',
      properties: { kind: { type: 'string', enum: ['upload', 'url'] }, url: { type: 'string' } },
    },
    mode: { type: 'string' },
    progress: { type: 'number', description: '0 to 1' },
    footageSeconds: { type: 'number' },
    result: {
      type: ['object', 'null'],
      additionalProperties: true,
      description:
        'found: sessionId, tenant, mode, confidence, falseMatchProbability, footageSeconds, evidence [{t, url}], access (the access-log summary); or found: false with a reason',
    },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
    attempts: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
  },
};

/** Counts bytes through, failing past `max`. */
function limit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(new ControlError(413, 'clip_too_large', `the clip is larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
}

/** True when ffprobe finds a video stream in the file (within 20 s). */
function hasVideo(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn(
      'ffprobe',
      ['-v', 'error', '-select_streams', 'v', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', file],
      { stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    p.on('error', () => resolve(false));
    p.on('close', (code) => resolve(code === 0 && out.includes('video')));
  });
}

/** Leak tracing from a clip or a URL: detection jobs, their evidence, and the ban they lead to. */
export function detectionsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { leak, auth, config } = ctx;
  const deps = leak.deps;
  const maxUpload = config.detectMaxUploadBytes;

  void app.register(async (sub) => {
    // Clips arrive as the raw body, streamed to disk (not buffered, not bounded by the JSON body limit).
    const raw = (_req: unknown, payload: unknown, done: (err: null, body: unknown) => void) =>
      done(null, payload);
    sub.addContentTypeParser('application/octet-stream', raw);
    sub.addContentTypeParser(/^video\/[a-z0-9.+-]+/i, raw);
    sub.post(
      '/v1/detections',
      {
        preHandler: auth,
        bodyLimit: maxUpload,
        schema: {
          tags: ['leak tracing'],
          summary:
            'Trace a leak: upload a clip (Content-Type video/* or application/octet-stream, ?mode=) or send {"url", "mode"} of a recording or a restream (HLS, DASH, progressive); 202, then poll',
          security,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { mode: { type: 'string', enum: ['auto', 'color', 'text'] } },
          },
          response: { 202: detectionSchema },
        },
      },
      async (request, reply) => {
        const actor = request.actor;
        const body = request.body as unknown;
        if (body instanceof Readable) {
          const mode = parseMode((request.query as { mode?: string }).mode);
          const declared = Number(request.headers['content-length']);
          if (Number.isFinite(declared) && declared > maxUpload) {
            body.resume();
            throw new ControlError(413, 'clip_too_large', `the clip is larger than ${maxUpload} bytes`);
          }
          try {
            await assertDetectionCapacity(deps, actor);
          } catch (err) {
            body.resume();
            throw err;
          }
          const id = newDetectionId();
          const dir = jobDir(leak.dir, actor.tenantId, id);
          const file = `${dir}/${CLIP_FILE}`;
          mkdirSync(dir, { recursive: true, mode: 0o700 });
          try {
            await pipeline(body, limit(maxUpload), createWriteStream(file, { mode: 0o600 }));
            if (statSync(file).size === 0)
              throw invalid('empty_clip', 'the body is empty: send the clip itself');
            if (!(await hasVideo(file)))
              throw invalid(
                'not_a_video',
                'the clip has no readable video stream (not a video, or truncated before its index)',
              );
            const view = await createUploadDetection(deps, actor, { id, file: CLIP_FILE, mode });
            return reply.code(202).send(view);
          } catch (err) {
            rmSync(dir, { recursive: true, force: true });
            if (!body.readableEnded) body.resume();
            if (err instanceof ControlError) throw err;
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET')
              throw invalid('upload_aborted', 'the upload ended before the clip did');
            throw err;
          }
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw invalid('invalid_detection', 'send a clip (video/*) or a JSON object {"url", "mode"}');
        const { url, mode, ...rest } = body as Record<string, unknown>;
        const extra = Object.keys(rest)[0];
        if (extra !== undefined) throw invalid('invalid_detection', `unknown field "${extra.slice(0, 40)}"`);
        return reply.code(202).send(await createUrlDetection(deps, actor, { url, mode }));
      },
    );
  });

  app.get(
    '/v1/detections',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary: 'Detections, newest first (paginated)',
        security,
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: { detections: { type: 'array', items: detectionSchema }, next: nextSchema },
          },
        },
      },
    },
    async (request) => {
      const page = await listDetections(deps, request.actor, pageRequest(request.query));
      return { detections: page.items, next: page.next };
    },
  );

  const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } };

  app.get(
    '/v1/detections/:id',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary: 'A detection: status, progress, result (with the access-log summary of the session found)',
        security,
        params: idParams,
        response: { 200: detectionSchema },
      },
    },
    async (request) => getDetection(deps, request.actor, (request.params as { id: string }).id),
  );

  app.get(
    '/v1/detections/:id/evidence/:n',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary: 'An evidence frame of a detection (PNG or JPEG), by its number in result.evidence',
        security,
        params: {
          type: 'object',
          properties: {
            id: { type: 'string', maxLength: 64 },
            n: { type: 'integer', minimum: 0, maximum: 1000 },
          },
        },
      },
    },
    async (request, reply) => {
      const { id, n } = request.params as { id: string; n: number };
      const d = await getDetectionRecord(deps, request.actor, id);
      const evidence = (d.result?.evidence ?? []) as { file?: string }[];
      const name = evidence[n]?.file;
      const file = typeof name === 'string' ? inside(jobDir(leak.dir, d.tenantId, d.id), name) : null;
      const type = file ? EVIDENCE_TYPES[extname(file).toLowerCase()] : undefined;
      if (!file || !type) throw new ControlError(404, 'not_found', 'no such evidence frame');
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new ControlError(404, 'not_found', 'the evidence frame is not on this server');
      }
      return reply
        .type(type)
        .header('content-length', size)
        .header('cache-control', 'private, max-age=3600')
        .header('x-content-type-options', 'nosniff')
        .send(createReadStream(file));
    },
  );

  app.post(
    '/v1/detections/:id/ban',
    {
      preHandler: auth,
      schema: {
        tags: ['leak tracing'],
        summary:
          'Ban the session a detection found and, with "ips": true, the addresses the access log saw it use; the reason records the detection',
        security,
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { ips: { type: 'boolean' }, reason: { type: 'string', maxLength: 400 } },
        },
      },
    },
    async (request, reply) => {
      const r = await banFromDetection(
        deps,
        request.actor,
        (request.params as { id: string }).id,
        (request.body ?? {}) as { ips?: boolean; reason?: string },
      );
      const ban = (b: typeof r.session) => ({
        id: b.id,
        kind: b.kind,
        value: b.value,
        reason: b.reason,
        createdAt: new Date(b.createdAt).toISOString(),
        expiresAt: b.expiresAt && new Date(b.expiresAt).toISOString(),
      });
      return reply.code(201).send({ session: ban(r.session), ips: r.ips.map(ban) });
    },
  );
}
