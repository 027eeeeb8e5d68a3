import {
  CHANNEL_ID_PATTERN,
  deleteChannel,
  getChannel,
  type LiveDeps,
  listChannels,
  putChannel,
  setChannelRunning,
} from '@vigil/control';
import { type ChannelStatus, channelFolder, type LiveManager } from '@vigil/live';
import type { LiveChannelRecord, VigilStore } from '@vigil/store';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import { authenticate } from '../auth/admin.ts';
import type { ServerConfig } from '../config.ts';
import type { HotState } from '../hot-state.ts';
import { pageRequest, pageSchema } from '../pagination.ts';
import type { StatsRecorder } from '../stats/recorder.ts';
import { guarded } from './admin/shared.ts';

export interface LiveRoutesOptions {
  store: VigilStore;
  hot: HotState;
  stats: StatsRecorder;
  config: ServerConfig;
  /** The channels this instance runs; without it channels are defined here and run elsewhere. */
  live?: LiveManager | undefined;
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: CHANNEL_ID_PATTERN } },
};

const inputSchema = {
  description:
    'What the channel ingests: "test" (test pattern with a clock and a tone), an rtmp:// or srt:// URL to listen on, an http(s) HLS URL or a file path, or an object {kind, url|path, loop}.',
  anyOf: [
    { type: 'string', maxLength: 2048 },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: {
        kind: { type: 'string', enum: ['test-pattern', 'rtmp', 'srt', 'file', 'hls'] },
        url: { type: 'string', maxLength: 2048 },
        path: { type: 'string', maxLength: 4096 },
        loop: { type: 'boolean' },
      },
    },
  ],
};

const channelBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    resourceId: { type: 'string', pattern: CHANNEL_ID_PATTERN },
    start: { type: 'boolean', description: 'Start it now (default true)' },
    input: inputSchema,
    ladder: {
      type: 'array',
      minItems: 1,
      maxItems: 6,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['height', 'bitrate'],
        properties: { height: { type: 'integer' }, bitrate: { type: 'integer' } },
      },
    },
    frameRate: { type: 'integer' },
    segmentDuration: { type: 'integer' },
    keyPeriodSeconds: { type: 'integer' },
    windowSeconds: { type: 'integer' },
    retentionSeconds: { type: 'integer' },
    audioBitrate: { type: 'integer' },
    preset: { type: 'string', maxLength: 16 },
    takeover: {
      type: 'boolean',
      description:
        'Run on a resource that already holds other content (an on-demand package, keys made by others): the channel publishes in its own live/ subfolder and removes only what it made. Without it such a resource is refused (409 resource_has_content).',
    },
  },
};

const channelView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    resourceId: { type: 'string' },
    desired: { type: 'string', enum: ['running', 'stopped'] },
    settings: { type: 'object', additionalProperties: true },
    status: { type: ['object', 'null'], additionalProperties: true },
    manifests: {
      type: 'object',
      properties: { dash: { type: 'string' }, hls: { type: 'string' } },
      description: 'Origin paths; players need a delivery token (POST /v1/delivery) to fetch them',
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Live channels (control API): define, start, stop, inspect, delete. A change is a store write; the
 * instance running channels reconciles on it, wherever the write came from (API or `vigil live`).
 * Also `GET /v1/time`, the UTCTiming source live DASH manifests name.
 */
export async function liveRoutes(app: FastifyInstance, opts: LiveRoutesOptions): Promise<void> {
  const { hot, live } = opts;
  const auth = authenticate(hot);
  const deps: LiveDeps = { store: opts.store, originRoot: opts.config.originRoot, live };

  const view = (r: LiveChannelRecord) => {
    const local: ChannelStatus | undefined = live?.status(r.tenantId, r.id);
    const base = `/origin/${r.tenantId}/${channelFolder(r.resourceId, r.settings.takeover === true)}`;
    return {
      id: r.id,
      resourceId: r.resourceId,
      desired: r.desired,
      settings: r.settings,
      status: local ? { ...local, encoder: { ...local.encoder, lastExit: undefined } } : r.status,
      manifests: { dash: `${base}/manifest.mpd`, hls: `${base}/master.m3u8` },
      createdAt: iso(r.createdAt),
      updatedAt: iso(r.updatedAt),
    };
  };

  const channelId = (request: FastifyRequest) => (request.params as { id: string }).id;

  app.get(
    '/v1/time',
    {
      schema: {
        tags: ['live'],
        summary: 'The server clock (ISO 8601), the UTCTiming source of live DASH manifests',
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8');
      return new Date().toISOString();
    },
  );

  app.put(
    '/v1/live/channels/:id',
    guarded(auth, ['live'], 'Create or replace a live channel (and start it unless start is false)', {
      params: idParams,
      body: channelBody,
      response: { 200: channelView, 201: channelView },
    }),
    async (request, reply) => {
      const { resourceId, start, ...settings } = (request.body ?? {}) as Record<string, unknown>;
      const { record, created } = await putChannel(deps, request.actor, {
        id: channelId(request),
        resourceId: resourceId as string | undefined,
        start: start as boolean | undefined,
        settings,
      });
      return reply.code(created ? 201 : 200).send(view(record));
    },
  );

  app.get(
    '/v1/live/channels',
    guarded(
      auth,
      ['live'],
      "The tenant's live channels with their status (by id, paginated)",
      pageSchema('channels', channelView),
    ),
    async (request) => {
      const page = await listChannels(deps, request.actor, pageRequest(request.query));
      return { channels: page.items.map(view), next: page.next };
    },
  );

  app.get(
    '/v1/live/channels/:id',
    guarded(auth, ['live'], 'One live channel: settings, desired state, encoder status, live edge', {
      params: idParams,
      response: { 200: channelView },
    }),
    async (request) => view(await getChannel(deps, request.actor, channelId(request))),
  );

  for (const action of ['start', 'stop'] as const) {
    app.post(
      `/v1/live/channels/:id/${action}`,
      guarded(
        auth,
        ['live'],
        action === 'start'
          ? 'Start a live channel'
          : 'Stop a live channel: its encoder stops, its keys are deleted (no more licenses), its files go',
        {
          params: idParams,
          response: { 200: channelView },
        },
      ),
      async (request: FastifyRequest, _reply: FastifyReply) => {
        const running = action === 'start';
        return view(await setChannelRunning(deps, request.actor, { id: channelId(request), running }));
      },
    );
  }

  app.delete(
    '/v1/live/channels/:id',
    guarded(auth, ['live'], 'Stop and delete a live channel', { params: idParams }),
    async (request, reply) => {
      await deleteChannel(deps, request.actor, channelId(request));
      return reply.code(204).send();
    },
  );

  if (live) registerLiveMetrics(opts.stats, live);
}

/** Channel gauges read at scrape time from the channels this instance runs. */
function registerLiveMetrics(stats: StatsRecorder, live: LiveManager): void {
  const registers = [stats.registry];
  const labelNames = ['tenant', 'channel'] as const;
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers });
  const restarts = gauge('vigil_live_encoder_restarts', 'Encoder restarts since the channel started');
  const segments = gauge(
    'vigil_live_segments_published',
    'Segment groups published since the channel started',
  );
  const lag = gauge('vigil_live_edge_lag_seconds', 'How far the newest segment ends behind the wall clock');
  const processing = gauge(
    'vigil_live_processing_ms_avg',
    'Mean time to retime, encrypt and publish one segment group',
  );
  const up: Gauge<'tenant' | 'channel'> = new Gauge({
    name: 'vigil_live_channel_up',
    help: '1 while the channel encodes and publishes',
    labelNames,
    registers,
    collect() {
      for (const g of [up, restarts, segments, lag, processing]) g.reset();
      for (const { tenantId, channelId, status } of live.statuses()) {
        const l = { tenant: tenantId, channel: channelId };
        up.set(l, status.state === 'running' ? 1 : 0);
        restarts.set(l, status.encoder.restarts);
        segments.set(l, status.segmentsPublished);
        if (status.edgeLagMs !== undefined) lag.set(l, status.edgeLagMs / 1000);
        if (status.processingMsAvg !== undefined) processing.set(l, status.processingMsAvg);
      }
    },
  });
}
