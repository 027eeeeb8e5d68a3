import { abortUpload, completeUpload, initiateUpload, putChunk, uploadStatus } from '@vigil/control';
import type { FastifyInstance } from 'fastify';
import { errorSchema, type MediaContext, security, tags } from './shared.ts';

const statusSchema = {
  type: 'object',
  properties: {
    uploadId: { type: 'string' },
    status: { type: 'string', enum: ['uploading', 'completing', 'completed', 'aborted', 'expired'] },
    filename: { type: 'string' },
    fileSize: { type: 'integer' },
    chunkSize: { type: 'integer' },
    totalChunks: { type: 'integer' },
    receivedChunks: { type: 'array', items: { type: 'integer' } },
    missingChunks: { type: 'array', items: { type: 'integer' } },
    receivedBytes: { type: 'integer' },
    expiresAt: { type: 'string', format: 'date-time' },
    assetId: { type: 'string' },
  },
};

const uploadIdBody = {
  type: 'object',
  required: ['uploadId'],
  additionalProperties: false,
  properties: { uploadId: { type: 'string', minLength: 1, maxLength: 100 } },
};

/** The seed's five upload endpoints: initiate, chunk, complete, abort, status. */
export function uploadRoutes(app: FastifyInstance, ctx: MediaContext): void {
  const { deps, apiKey, actor } = ctx;

  app.post(
    '/v1/media/upload/initiate',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: 'Start a chunked upload (operator)',
        description:
          'Validates the name, the declared size (413 `upload_too_large` over the limit) and the MIME type; answers where and how to send the chunks. Chunks are `PUT /v1/media/upload/chunk?uploadId=&index=` in any order.',
        body: {
          type: 'object',
          required: ['filename', 'fileSize', 'mimeType'],
          additionalProperties: false,
          properties: {
            filename: { type: 'string', maxLength: 1024 },
            fileSize: { type: 'integer' },
            mimeType: { type: 'string', maxLength: 200 },
            metadata: {
              type: 'object',
              additionalProperties: true,
              properties: {
                title: { type: 'string', maxLength: 500 },
                description: { type: 'string', maxLength: 5000 },
                tags: { type: 'array', maxItems: 50, items: { type: 'string', maxLength: 100 } },
                userId: { type: 'string', maxLength: 200 },
              },
            },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              uploadId: { type: 'string' },
              uploadUrl: { type: 'string' },
              chunkSize: { type: 'integer' },
              totalChunks: { type: 'integer' },
              expiresAt: { type: 'string', format: 'date-time' },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    async (request, reply) => {
      const body = request.body as Parameters<typeof initiateUpload>[2];
      const answer = await initiateUpload(deps, actor(request), { ...body, baseUrl: ctx.baseUrl(request) });
      return reply.code(201).send(answer);
    },
  );

  // The chunk's bytes are the body, streamed to storage as they come (never parsed or buffered whole).
  app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    raw.put(
      '/v1/media/upload/chunk',
      {
        preHandler: apiKey,
        schema: {
          tags,
          security,
          summary: 'Send one chunk (operator): the body is its bytes, X-Chunk-Sha256 its SHA-256 (hex)',
          description:
            'Idempotent and in any order: a chunk sent again replaces the earlier one once it checks out. Refused: a wrong size (`upload_chunk_size`; every chunk but the last is exactly `chunkSize`), a checksum that does not match (`upload_chunk_checksum`), an index out of range (`upload_chunk_index`).',
          querystring: {
            type: 'object',
            required: ['uploadId', 'index'],
            properties: {
              uploadId: { type: 'string', minLength: 1, maxLength: 100 },
              index: { type: 'integer', minimum: 0, maximum: 10_000_000 },
            },
          },
          headers: {
            type: 'object',
            properties: { 'x-chunk-sha256': { type: 'string', maxLength: 128 } },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                uploadId: { type: 'string' },
                index: { type: 'integer' },
                size: { type: 'integer' },
                sha256: { type: 'string' },
              },
            },
            '4xx': errorSchema,
          },
        },
      },
      async (request) => {
        const q = request.query as { uploadId: string; index: number };
        const length = request.headers['content-length'];
        const answer = await putChunk(deps, actor(request), {
          uploadId: q.uploadId,
          index: q.index,
          sha256: request.headers['x-chunk-sha256'] as string | undefined,
          contentLength: length === undefined ? undefined : Number(length),
          body: request.raw,
        });
        return answer;
      },
    );
  });

  app.post(
    '/v1/media/upload/complete',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: 'Complete an upload (operator): assemble, verify, validate, create the asset and queue it',
        description:
          'All chunks must be there (`upload_incomplete` lists the missing ones). The assembled file is checked against `sha256` when given (`upload_checksum_mismatch`), by its magic bytes and by ffprobe (`upload_not_video`, `upload_truncated`, `upload_corrupt`); a refused file ends the upload and leaves nothing behind. Completing a completed upload answers its asset again.',
        body: {
          type: 'object',
          required: ['uploadId'],
          additionalProperties: false,
          properties: {
            uploadId: { type: 'string', minLength: 1, maxLength: 100 },
            sha256: { type: 'string', maxLength: 128 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              uploadId: { type: 'string' },
              assetId: { type: 'string' },
              status: { type: 'string' },
              sha256: { type: 'string' },
              size: { type: 'integer' },
            },
          },
          '4xx': errorSchema,
        },
      },
    },
    async (request) =>
      completeUpload(deps, actor(request), request.body as { uploadId: string; sha256?: string }),
  );

  app.post(
    '/v1/media/upload/abort',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: 'Abort an upload (operator); its chunks are deleted',
        body: uploadIdBody,
        response: {
          200: { type: 'object', properties: { uploadId: { type: 'string' }, status: { type: 'string' } } },
          '4xx': errorSchema,
        },
      },
    },
    async (request) => abortUpload(deps, actor(request), (request.body as { uploadId: string }).uploadId),
  );

  app.get(
    '/v1/media/upload/status/:uploadId',
    {
      preHandler: apiKey,
      schema: {
        tags,
        security,
        summary: 'An upload: the chunks received and missing (to resume), and once complete its assetId',
        params: {
          type: 'object',
          required: ['uploadId'],
          properties: { uploadId: { type: 'string', maxLength: 100 } },
        },
        response: { 200: statusSchema, '4xx': errorSchema },
      },
    },
    async (request) => uploadStatus(deps, actor(request), (request.params as { uploadId: string }).uploadId),
  );
}
