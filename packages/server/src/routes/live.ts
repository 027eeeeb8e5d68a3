import { BadRequest } from '@vigil/core';
import {
  type ChannelStatus,
  channelFolder,
  channelKeyOwner,
  checkResourceContent,
  defineChannel,
  type LiveInput,
  type LiveManager,
  LiveSettingsError,
  listenUrl,
  parseInput,
  ResourceContentError,
} from '@vigil/live';
import { type LiveChannelRecord, pageLiveChannels, type VigilStore } from '@vigil/store';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import { requireRole } from '../auth/admin.ts';
import type { ServerConfig } from '../config.ts';
import type { HotState } from '../hot-state.ts';
import { nextSchema, pageParams, pageRequest } from '../pagination.ts';
import type { StatsRecorder } from '../stats/recorder.ts';

export interface LiveRoutesOptions {
  store: VigilStore;
  hot: HotState;
  stats: StatsRecorder;
  config: ServerConfig;
  /** The channels this instance runs; without it channels are defined here and run elsewhere. */
  live?: LiveManager | undefined;
}

const security = [{ apiKey: [] }];
const CHANNEL_ID = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: CHANNEL_ID } },
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
    resourceId: { type: 'string', pattern: CHANNEL_ID },
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
  const { store, hot, live } = opts;
  const readonly = requireRole(hot, 'readonly');
  const operator = requireRole(hot, 'operator');

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

  const mustGet = async (request: FastifyRequest) => {
    const { id } = request.params as { id: string };
    const record = await store.getLiveChannel(request.apiKey.tenantId, id);
    if (!record) throw new BadRequest('channel_not_found', `no live channel "${id}"`, 404);
    return record;
  };

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
    {
      preHandler: operator,
      schema: {
        tags: ['live'],
        summary: 'Create or replace a live channel (and start it unless start is false)',
        security,
        params: idParams,
        body: channelBody,
        response: { 200: channelView, 201: channelView },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { resourceId, start, ...settings } = (request.body ?? {}) as Record<string, unknown>;
      const tenantId = request.apiKey.tenantId;
      const existed = await store.getLiveChannel(tenantId, id);
      checkInputAllowed(settings.input, request.apiKey.role);
      try {
        await defineChannel(store, tenantId, id, {
          resourceId: resourceId as string | undefined,
          settings,
          desired: start === false ? 'stopped' : 'running',
          originRoot: opts.config.originRoot,
        });
      } catch (err) {
        if (err instanceof LiveSettingsError) throw new BadRequest(err.code, err.message);
        if (err instanceof ResourceContentError) throw new BadRequest(err.code, err.message, 409);
        throw err;
      }
      const record = (await store.getLiveChannel(tenantId, id))!;
      return reply.code(existed ? 200 : 201).send(view(record));
    },
  );

  app.get(
    '/v1/live/channels',
    {
      preHandler: readonly,
      schema: {
        tags: ['live'],
        summary: "The tenant's live channels with their status (by id, paginated)",
        security,
        querystring: { type: 'object', properties: pageParams },
        response: {
          200: {
            type: 'object',
            properties: { channels: { type: 'array', items: channelView }, next: nextSchema },
          },
        },
      },
    },
    async (request) => {
      const page = await pageLiveChannels(store, request.apiKey.tenantId, pageRequest(request.query));
      return { channels: page.items.map(view), next: page.next };
    },
  );

  app.get(
    '/v1/live/channels/:id',
    {
      preHandler: readonly,
      schema: {
        tags: ['live'],
        summary: 'One live channel: settings, desired state, encoder status, live edge',
        security,
        params: idParams,
        response: { 200: channelView },
      },
    },
    async (request) => view(await mustGet(request)),
  );

  for (const action of ['start', 'stop'] as const) {
    app.post(
      `/v1/live/channels/:id/${action}`,
      {
        preHandler: operator,
        schema: {
          tags: ['live'],
          summary:
            action === 'start'
              ? 'Start a live channel'
              : 'Stop a live channel: its encoder stops, its keys are deleted (no more licenses), its files go',
          security,
          params: idParams,
          response: { 200: channelView },
        },
      },
      async (request: FastifyRequest, _reply: FastifyReply) => {
        const record = await mustGet(request);
        if (action === 'start') {
          // What was put into its folder (or made for its resource) since it was defined stays untouched.
          await checkResourceContent(
            store,
            record.tenantId,
            record.id,
            record.resourceId,
            record.settings.takeover === true,
            opts.config.originRoot,
          ).catch((err) => {
            if (err instanceof ResourceContentError) throw new BadRequest(err.code, err.message, 409);
            throw err;
          });
        }
        await store.setLiveChannelDesired(
          record.tenantId,
          record.id,
          action === 'start' ? 'running' : 'stopped',
        );
        if (live) await live.reconcile();
        return view((await store.getLiveChannel(record.tenantId, record.id))!);
      },
    );
  }

  app.delete(
    '/v1/live/channels/:id',
    {
      preHandler: operator,
      schema: { tags: ['live'], summary: 'Stop and delete a live channel', security, params: idParams },
    },
    async (request, reply) => {
      const record = await mustGet(request);
      await store.deleteLiveChannel(record.tenantId, record.id);
      if (live) await live.reconcile();
      // Its own keys only (also when no instance was running it); the resource's other keys stay.
      await store.deleteOwnedKeys(record.tenantId, channelKeyOwner(record.id));
      return reply.code(204).send();
    },
  );

  if (live) registerLiveMetrics(opts.stats, live);
}

/**
 * What a tenant may make this server ingest. Reading a server-side file or fetching a URL from the
 * server's network would let one tenant read what is not theirs (another tenant's sources, internal
 * services), and an SRT caller or rendezvous input makes the server dial a host of the tenant's choosing:
 * only the platform operator may, and the local CLI. Everyone else's inputs make the server listen — RTMP,
 * SRT in listener mode, on an IP address or localhost and a port from 1024 — and every input URL is read
 * option by option against an allow-list (parseInputUrl), never handed to ffmpeg as given.
 */
function checkInputAllowed(raw: unknown, role: string): void {
  if (raw === undefined) return;
  let input: LiveInput;
  try {
    input = parseInput(raw);
  } catch (err) {
    if (err instanceof LiveSettingsError) throw new BadRequest(err.code, err.message);
    throw err;
  }
  const platform = role === 'platform';
  if ((input.kind === 'file' || input.kind === 'hls') && !platform) {
    throw new BadRequest(
      'forbidden',
      `a ${input.kind} input reads from the server's disk or network: it needs the platform role (or the local CLI)`,
      403,
    );
  }
  if (input.kind !== 'rtmp' && input.kind !== 'srt') return;
  const url = listenUrl(input.kind, input.url);
  if (url.outbound) {
    if (!platform)
      throw new BadRequest(
        'input_outbound_forbidden',
        `an srt input in caller or rendezvous mode makes the server connect out to ${url.host}: it needs the platform role; through the API inputs listen (mode=listener, the default)`,
      );
    return;
  }
  if (!url.localBind && !platform)
    throw new BadRequest(
      'input_outbound_forbidden',
      `the ${input.kind} input must listen on an IP address of this server (0.0.0.0, ::, 127.0.0.1) or localhost, not a host name to look up`,
    );
  if (url.port < 1024)
    throw new BadRequest(
      'invalid_channel',
      `the ${input.kind} input must name a port from 1024 to 65535 to listen on`,
    );
}

/** Channel gauges read at scrape time from the channels this instance runs. */
function registerLiveMetrics(stats: StatsRecorder, live: LiveManager): void {
  const registers = [stats.registry];
  const labelNames = ['tenant', 'channel'] as const;
  const restarts = new Gauge({
    name: 'vigil_live_encoder_restarts',
    help: 'Encoder restarts since the channel started',
    labelNames,
    registers,
  });
  const segments = new Gauge({
    name: 'vigil_live_segments_published',
    help: 'Segment groups published since the channel started',
    labelNames,
    registers,
  });
  const lag = new Gauge({
    name: 'vigil_live_edge_lag_seconds',
    help: 'How far the newest segment ends behind the wall clock',
    labelNames,
    registers,
  });
  const processing = new Gauge({
    name: 'vigil_live_processing_ms_avg',
    help: 'Mean time to retime, encrypt and publish one segment group',
    labelNames,
    registers,
  });
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
