import type { IncomingMessage } from 'node:http';
import type { Actor, MediaDeps } from '@vigil/control';
import type { VigilStore } from '@vigil/store';
import type { FastifyRequest } from 'fastify';
import type { AccessLog } from '../../access-log.ts';
import { requireRole } from '../../auth/admin.ts';
import type { ServerConfig } from '../../config.ts';
import type { DeliverySigner } from '../../delivery.ts';
import type { HotState } from '../../hot-state.ts';

export interface MediaRoutesOptions {
  deps: MediaDeps;
  hot: HotState;
  config: ServerConfig;
  signer: DeliverySigner;
  store: VigilStore;
  clientIp: (req: IncomingMessage) => string;
  /** The access log (its buffer is flushed before the media monitoring routes read it). */
  access?: AccessLog | undefined;
}

export interface MediaContext extends MediaRoutesOptions {
  /** Any valid API key of the tenant; the operation checks the role it needs. */
  apiKey: ReturnType<typeof requireRole>;
  actor(request: FastifyRequest): Actor;
  baseUrl(request: FastifyRequest): string;
}

export const security = [{ apiKey: [] }];
export const tags = ['media'];

export const errorSchema = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: {
      type: 'string',
      description: 'upload_*, transcoding_*, drm_*, asset_* (the MediaException family)',
    },
    message: { type: 'string' },
  },
  additionalProperties: true,
};

export const assetParams = {
  type: 'object',
  required: ['assetId'],
  properties: { assetId: { type: 'string', maxLength: 100 } },
};

/** A route on one asset (`/…/:assetId/…`): any API key of the tenant (the operation checks the role). */
export function assetRoute(ctx: MediaContext, summary: string, answer: object, status = 200) {
  return {
    preHandler: ctx.apiKey,
    schema: {
      tags,
      security,
      summary,
      params: assetParams,
      response: { [status]: answer, '4xx': errorSchema },
    },
  };
}

export const ID_PATTERN = '^[a-z]+_[0-9a-f]{24}$';

export function mediaContext(opts: MediaRoutesOptions): MediaContext {
  return {
    ...opts,
    apiKey: requireRole(opts.hot, 'readonly'),
    // Set by authenticate: the API key's, or the console operator's.
    actor: (request) => request.actor,
    baseUrl: (request) => opts.config.publicUrl ?? `${request.protocol}://${request.host}`,
  };
}
