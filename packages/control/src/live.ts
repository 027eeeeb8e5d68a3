import {
  CHANNEL_ID,
  channelKeyOwner,
  checkResourceContent,
  defineChannel,
  type LiveInput,
  LiveSettingsError,
  listenUrl,
  parseInput,
  ResourceContentError,
} from '@vigil/live';
import { type LiveChannelRecord, type PageRequest, pageLiveChannels } from '@vigil/store';
import { type Actor, hasRole, requireRole } from './actor.ts';
import type { StoreDeps } from './deps.ts';
import { conflict, forbidden, invalid, notFound } from './errors.ts';
import { check, defined } from './schema.ts';

/** Live channels: desired state in the store, run by the instance whose `LiveManager` reconciles it. */
export interface LiveDeps extends StoreDeps {
  /** Where the origin serves files from (to find content the channel did not make). */
  originRoot?: string | undefined;
  /** The channels this instance runs; without it a change waits for the instance that runs them. */
  live?: { reconcile(): Promise<void> } | undefined;
}

export const CHANNEL_ID_PATTERN = CHANNEL_ID.source;

export const channelIdSchema = {
  type: 'object',
  required: ['id'],
  properties: {
    id: { type: 'string', pattern: CHANNEL_ID_PATTERN },
    resourceId: { type: 'string', pattern: CHANNEL_ID_PATTERN },
  },
} as const;

const liveError = (err: unknown): unknown => {
  if (err instanceof LiveSettingsError) return invalid(err.code, err.message);
  if (err instanceof ResourceContentError) return conflict(err.code, err.message);
  return err;
};

/**
 * What a caller may make this server ingest. Reading a server-side file or fetching a URL from the
 * server's network would let one tenant read what is not theirs (another tenant's sources, internal
 * services), and an SRT caller or rendezvous input makes the server dial a host of the tenant's choosing:
 * only the platform role may (the local CLI acts with it). Everyone else's inputs make the server listen —
 * RTMP, SRT in listener mode, on an IP address or localhost and a port from 1024 — and every input URL is
 * read option by option against an allow-list (parseInputUrl), never handed to ffmpeg as given.
 */
function checkInputAllowed(raw: unknown, actor: Actor): void {
  if (raw === undefined) return;
  let input: LiveInput;
  try {
    input = parseInput(raw);
  } catch (err) {
    throw liveError(err);
  }
  const platform = hasRole(actor, 'platform');
  if ((input.kind === 'file' || input.kind === 'hls') && !platform) {
    throw forbidden(
      `a ${input.kind} input reads from the server's disk or network: it needs the platform role (or the local CLI)`,
    );
  }
  if (input.kind !== 'rtmp' && input.kind !== 'srt') return;
  let url: ReturnType<typeof listenUrl>;
  try {
    url = listenUrl(input.kind, input.url);
  } catch (err) {
    throw liveError(err);
  }
  if (url.outbound) {
    if (!platform)
      throw invalid(
        'input_outbound_forbidden',
        `an srt input in caller or rendezvous mode makes the server connect out to ${url.host}: it needs the platform role; through the API inputs listen (mode=listener, the default)`,
      );
    return;
  }
  if (!url.localBind && !platform)
    throw invalid(
      'input_outbound_forbidden',
      `the ${input.kind} input must listen on an IP address of this server (0.0.0.0, ::, 127.0.0.1) or localhost, not a host name to look up`,
    );
  if (url.port < 1024)
    throw invalid(
      'invalid_channel',
      `the ${input.kind} input must name a port from 1024 to 65535 to listen on`,
    );
}

export interface PutChannelInput {
  id: string;
  resourceId?: string | undefined;
  /** Run it (default) or only define it. */
  start?: boolean | undefined;
  /** Its settings (see LiveSettings); `input`, `ladder`, `takeover`, ... */
  settings: Record<string, unknown>;
  /** Keep the settings (and resource) of an existing channel that `settings` does not name. */
  merge?: boolean | undefined;
}

/** Creates or replaces a channel (and runs it unless `start` is false); `created` says which. */
export async function putChannel(
  deps: LiveDeps,
  actor: Actor,
  input: PutChannelInput,
): Promise<{ record: LiveChannelRecord; created: boolean }> {
  requireRole(actor, 'operator');
  const { id } = check<{ id: string }>(
    channelIdSchema,
    defined({ id: input.id, resourceId: input.resourceId }),
  );
  const existed = await deps.store.getLiveChannel(actor.tenantId, id);
  const keep = input.merge === true ? existed : undefined;
  const settings = { ...(keep?.settings ?? {}), ...input.settings };
  checkInputAllowed(input.settings.input, actor);
  try {
    await defineChannel(deps.store, actor.tenantId, id, {
      resourceId: input.resourceId ?? keep?.resourceId,
      settings,
      desired: input.start === false ? 'stopped' : 'running',
      originRoot: deps.originRoot,
    });
  } catch (err) {
    throw liveError(err);
  }
  return { record: (await deps.store.getLiveChannel(actor.tenantId, id))!, created: !existed };
}

async function mustGet(deps: LiveDeps, actor: Actor, id: string): Promise<LiveChannelRecord> {
  const record = await deps.store.getLiveChannel(actor.tenantId, id);
  if (!record) throw notFound(`no live channel "${id}"`, 'channel_not_found');
  return record;
}

export async function getChannel(deps: LiveDeps, actor: Actor, id: string): Promise<LiveChannelRecord> {
  requireRole(actor, 'readonly');
  return mustGet(deps, actor, id);
}

/** One page of the tenant's channels (by id). */
export async function listChannels(deps: LiveDeps, actor: Actor, page: PageRequest) {
  requireRole(actor, 'readonly');
  return pageLiveChannels(deps.store, actor.tenantId, page);
}

/**
 * Starts or stops a channel. Starting checks again that nothing was put into its folder (or made for its
 * resource) since it was defined; stopping stops its encoder, deletes its keys and removes its files.
 */
export async function setChannelRunning(
  deps: LiveDeps,
  actor: Actor,
  input: { id: string; running: boolean },
): Promise<LiveChannelRecord> {
  requireRole(actor, 'operator');
  const record = await mustGet(deps, actor, input.id);
  if (input.running) {
    await checkResourceContent(
      deps.store,
      record.tenantId,
      record.id,
      record.resourceId,
      record.settings.takeover === true,
      deps.originRoot,
    ).catch((err) => {
      throw liveError(err);
    });
  }
  await deps.store.setLiveChannelDesired(record.tenantId, record.id, input.running ? 'running' : 'stopped');
  if (deps.live) await deps.live.reconcile();
  return (await deps.store.getLiveChannel(record.tenantId, record.id))!;
}

/** Stops and deletes a channel, and its own keys (also when no instance was running it). */
export async function deleteChannel(deps: LiveDeps, actor: Actor, id: string): Promise<void> {
  requireRole(actor, 'operator');
  const record = await mustGet(deps, actor, id);
  await deps.store.deleteLiveChannel(record.tenantId, record.id);
  if (deps.live) await deps.live.reconcile();
  // Its own keys only; the resource's other keys stay.
  await deps.store.deleteOwnedKeys(record.tenantId, channelKeyOwner(record.id));
}
