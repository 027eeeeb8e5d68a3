import type { Page, PageRequest, WatchEventRecord, WatchRecord } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import { type DetectionDeps, MAX_RUNNING_WATCHES, parseMode, parseSourceUrl } from './detections.ts';
import { ControlError, invalid, notFound } from './errors.ts';

/**
 * Watched restreams: desired state in the store (a URL, a mode, whether to ban on its own), run by the
 * server's watch runner, which records recent events. Deleting a watch stops it.
 */

export interface WatchDeps extends DetectionDeps {
  /** Tells the runner the set of watches changed. */
  wakeWatches?: () => void;
}

export interface WatchView {
  id: string;
  url: string;
  mode: string;
  autoBan: boolean;
  desired: 'running' | 'stopped';
  status: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  events?: ({ at: string } & Record<string, unknown>)[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function watchView(w: WatchRecord, events?: WatchEventRecord[]): WatchView {
  return {
    id: w.id,
    url: w.url,
    mode: w.mode,
    autoBan: w.autoBan,
    desired: w.desired,
    status: w.status,
    createdAt: iso(w.createdAt),
    updatedAt: iso(w.updatedAt),
    ...(events ? { events: events.map((e) => ({ ...e.event, at: iso(e.at) })) } : {}),
  };
}

export async function createWatch(
  deps: WatchDeps,
  actor: Actor,
  input: { url: unknown; mode?: unknown; autoBan?: unknown },
): Promise<WatchView> {
  requireRole(actor, 'operator');
  const mode = parseMode(input.mode);
  const url = parseSourceUrl(input.url);
  if (input.autoBan !== undefined && typeof input.autoBan !== 'boolean')
    throw invalid('invalid_watch', '"autoBan" must be true or false');
  if ((await deps.detections.countRunningWatches(actor.tenantId)) >= MAX_RUNNING_WATCHES)
    throw new ControlError(
      429,
      'too_many_watches',
      `${MAX_RUNNING_WATCHES} watches run for this tenant; delete one first`,
    );
  await deps.preflight?.(url);
  const w = await deps.detections.createWatch({
    tenantId: actor.tenantId,
    url,
    mode,
    autoBan: input.autoBan === true,
  });
  deps.wakeWatches?.();
  return watchView(w, []);
}

export async function getWatch(deps: WatchDeps, actor: Actor, id: string): Promise<WatchView> {
  requireRole(actor, 'readonly');
  const w =
    typeof id === 'string' && id.length <= 64
      ? await deps.detections.getWatch(actor.tenantId, id)
      : undefined;
  if (!w) throw notFound('no such watch');
  return watchView(w, await deps.detections.watchEvents(actor.tenantId, w.id));
}

export async function listWatches(
  deps: WatchDeps,
  actor: Actor,
  page: PageRequest,
): Promise<Page<WatchView>> {
  requireRole(actor, 'readonly');
  const p = await deps.detections.pageWatches(actor.tenantId, page);
  return { items: p.items.map((w) => watchView(w)), next: p.next };
}

export async function deleteWatch(deps: WatchDeps, actor: Actor, id: string): Promise<void> {
  requireRole(actor, 'operator');
  const deleted =
    typeof id === 'string' && id.length <= 64 && (await deps.detections.deleteWatch(actor.tenantId, id));
  if (!deleted) throw notFound('no such watch');
  deps.wakeWatches?.();
}
