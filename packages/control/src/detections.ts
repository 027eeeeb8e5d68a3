import { type Ban, newBanTarget } from '@vigil/core';
import {
  DEFAULT_LEAK_POLICY,
  type DetectionRecord,
  type DetectionStore,
  type LeakPolicyRecord,
  type Page,
  type PageRequest,
  type SessionAccessRecord,
  type VigilStore,
} from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import { ControlError, conflict, invalid, notFound } from './errors.ts';

/**
 * Leak tracing as control operations: detection jobs (a clip or a URL to trace), what the access log
 * knows of the session found, banning from a detection, and the tenant's leak policy. The jobs run in
 * the server (its runner); these functions only validate, check roles and store.
 */

export type DetectMode = 'auto' | 'color' | 'text';
export const DETECT_MODES: readonly DetectMode[] = ['auto', 'color', 'text'];

export interface DetectionDeps {
  store: VigilStore;
  detections: DetectionStore;
  /**
   * Checks a URL the tenant gave can and may be fetched (the server's outbound guard and a first
   * request): throws ControlError 400 `url_forbidden` or `url_unreachable`.
   */
  preflight?: (url: string) => Promise<void>;
  /** Writes the queued access-log entries, so a summary sees the latest. */
  flushAccessLog?: () => Promise<void>;
  /** Tells the runner a job is waiting. */
  wake?: () => void;
}

export const MAX_URL_LENGTH = 2048;
/** Detections a tenant may have queued or running at once, and watches running. */
export const MAX_ACTIVE_DETECTIONS = 20;
export const MAX_RUNNING_WATCHES = 10;

/** 429 `too_many_detections` when the tenant's queue is full (the upload route asks before streaming). */
export async function assertDetectionCapacity(
  deps: Pick<DetectionDeps, 'detections'>,
  actor: Actor,
): Promise<void> {
  requireRole(actor, 'operator');
  if ((await deps.detections.countActiveDetections(actor.tenantId)) >= MAX_ACTIVE_DETECTIONS)
    throw new ControlError(
      429,
      'too_many_detections',
      `${MAX_ACTIVE_DETECTIONS} detections are queued or running for this tenant; wait for one to end`,
    );
}

export function parseMode(mode: unknown): DetectMode {
  if (mode === undefined) return 'auto';
  if (typeof mode !== 'string' || !DETECT_MODES.includes(mode as DetectMode))
    throw invalid('invalid_mode', '"mode" must be one of auto, color, text');
  return mode as DetectMode;
}

/** The URL's form (http or https, bounded); where it leads is the preflight's to check. */
export function parseSourceUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH)
    throw invalid(
      'invalid_url',
      `"url" must be an http or https URL of at most ${MAX_URL_LENGTH} characters`,
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('invalid_url', '"url" is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ControlError(
      400,
      'url_forbidden',
      `only http and https URLs are fetched, not ${parsed.protocol}`,
    );
  return parsed.href;
}

/**
 * The access-log summary of a session, as the API and the CLI show it: distinct addresses, user agents
 * and resources, most recent first (`ips`, `userAgents`, `resources`, `resource` the latest), with each
 * address's and user agent's own first and last sighting and count (`addresses`, `agents`).
 */
export interface SessionAccess {
  sessionId: string;
  entries: number;
  firstSeen: string | null;
  lastSeen: string | null;
  ips: string[];
  userAgents: string[];
  resources: string[];
  resource: string | null;
  addresses: { ip: string; firstSeen: string; lastSeen: string; hits: number }[];
  agents: { userAgent: string; firstSeen: string; lastSeen: string; hits: number }[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function renderSessionAccess(a: SessionAccessRecord): SessionAccess {
  return {
    sessionId: a.sessionId,
    entries: a.entries,
    firstSeen: a.firstSeen === null ? null : iso(a.firstSeen),
    lastSeen: a.lastSeen === null ? null : iso(a.lastSeen),
    ips: a.ips.map((i) => i.ip),
    userAgents: a.userAgents.map((u) => u.userAgent),
    resources: a.resources,
    resource: a.resources[0] ?? null,
    addresses: a.ips.map((i) => ({ ...i, firstSeen: iso(i.firstSeen), lastSeen: iso(i.lastSeen) })),
    agents: a.userAgents.map((u) => ({ ...u, firstSeen: iso(u.firstSeen), lastSeen: iso(u.lastSeen) })),
  };
}

/**
 * Who the session is, from the access log: addresses, user agents, first and last seen, resources.
 * Used for found detections (API and `vigil detect`) and before a ban.
 */
export async function sessionAccess(
  deps: Pick<DetectionDeps, 'detections' | 'flushAccessLog'>,
  tenantId: string,
  sessionId: string,
): Promise<SessionAccess> {
  await deps.flushAccessLog?.();
  return renderSessionAccess(await deps.detections.sessionAccess(tenantId, sessionId));
}

/** A detection as the API answers it. */
export interface DetectionView {
  id: string;
  status: DetectionRecord['status'];
  source: { kind: 'upload' | 'url'; url?: string };
  mode: string;
  progress: number;
  footageSeconds: number;
  result: Record<string, unknown> | null;
  error?: { code: string; message: string };
  attempts: number;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** Evidence frames are served by the API (`/v1/detections/<id>/evidence/<n>`), never by file path. */
export function detectionView(d: DetectionRecord): DetectionView {
  let result = d.result;
  if (result && Array.isArray(result.evidence)) {
    result = {
      ...result,
      evidence: (result.evidence as { t: number }[]).map((e, n) => ({
        t: e.t,
        url: `/v1/detections/${d.id}/evidence/${n}`,
      })),
    };
  }
  return {
    id: d.id,
    status: d.status,
    source: d.sourceKind === 'url' ? { kind: 'url', url: d.source } : { kind: 'upload' },
    mode: d.mode,
    progress: d.progress,
    footageSeconds: d.footageSeconds,
    result,
    ...(d.error ? { error: d.error } : {}),
    attempts: d.attempts,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    finishedAt: d.finishedAt === null ? null : iso(d.finishedAt),
  };
}

/** Queues a detection of a URL (checked by the preflight first). */
export async function createUrlDetection(
  deps: DetectionDeps,
  actor: Actor,
  input: { url: unknown; mode?: unknown },
): Promise<DetectionView> {
  requireRole(actor, 'operator');
  const mode = parseMode(input.mode);
  const url = parseSourceUrl(input.url);
  await assertDetectionCapacity(deps, actor);
  await deps.preflight?.(url);
  const d = await deps.detections.createDetection({
    tenantId: actor.tenantId,
    sourceKind: 'url',
    source: url,
    mode,
  });
  deps.wake?.();
  return detectionView(d);
}

/** Queues a detection of a clip already written to the job's folder under `id` (the upload route). */
export async function createUploadDetection(
  deps: DetectionDeps,
  actor: Actor,
  input: { id: string; file: string; mode?: unknown },
): Promise<DetectionView> {
  requireRole(actor, 'operator');
  const mode = parseMode(input.mode);
  const d = await deps.detections.createDetection({
    tenantId: actor.tenantId,
    id: input.id,
    sourceKind: 'upload',
    source: input.file,
    mode,
  });
  deps.wake?.();
  return detectionView(d);
}

async function ownDetection(deps: DetectionDeps, actor: Actor, id: string): Promise<DetectionRecord> {
  const d =
    typeof id === 'string' && id.length <= 64
      ? await deps.detections.getDetection(actor.tenantId, id)
      : undefined;
  if (!d) throw notFound('no such detection');
  return d;
}

export async function getDetection(deps: DetectionDeps, actor: Actor, id: string): Promise<DetectionView> {
  requireRole(actor, 'readonly');
  return detectionView(await ownDetection(deps, actor, id));
}

/** The stored record (the evidence route reads the frame's file from it). */
export async function getDetectionRecord(
  deps: DetectionDeps,
  actor: Actor,
  id: string,
): Promise<DetectionRecord> {
  requireRole(actor, 'readonly');
  return ownDetection(deps, actor, id);
}

export async function listDetections(
  deps: DetectionDeps,
  actor: Actor,
  page: PageRequest,
): Promise<Page<DetectionView>> {
  requireRole(actor, 'readonly');
  const p = await deps.detections.pageDetections(actor.tenantId, page);
  return { items: p.items.map(detectionView), next: p.next };
}

/** The reason a ban made from a detection records (what `vigil`'s ban lists show). */
export const detectionBanReason = (id: string, note?: string) =>
  note ? `detection:${id} ${note}` : `detection:${id}`;

/**
 * Bans the session a detection found and, with `ips`, every address the access log saw it use (ranges
 * are never made from them: one address each). The reason records the detection.
 */
export async function banFromDetection(
  deps: DetectionDeps,
  actor: Actor,
  id: string,
  input: { ips?: unknown; reason?: unknown },
): Promise<{ session: Ban; ips: Ban[] }> {
  requireRole(actor, 'operator');
  if (input.ips !== undefined && typeof input.ips !== 'boolean')
    throw invalid('invalid_ban', '"ips" must be true or false');
  if (input.reason !== undefined && (typeof input.reason !== 'string' || input.reason.length > 400))
    throw invalid('invalid_ban', '"reason" must be a text of at most 400 characters');
  const d = await ownDetection(deps, actor, id);
  const sessionId = d.status === 'done' && d.result?.found === true ? d.result.sessionId : undefined;
  if (typeof sessionId !== 'string')
    throw conflict(
      'detection_not_found_session',
      d.status === 'done'
        ? 'this detection found no session to ban'
        : `this detection is ${d.status}, not done`,
    );
  return banSession(
    deps,
    actor.tenantId,
    sessionId,
    detectionBanReason(d.id, input.reason as string | undefined),
    input.ips === true,
  );
}

/** Bans a session (and on request its addresses) with `reason`: detections and watches share it. */
export async function banSession(
  deps: Pick<DetectionDeps, 'store' | 'detections' | 'flushAccessLog'>,
  tenantId: string,
  sessionId: string,
  reason: string,
  withIps: boolean,
): Promise<{ session: Ban; ips: Ban[] }> {
  const session = await deps.store.upsertBan({
    tenantId,
    kind: 'session',
    value: sessionId,
    reason,
    expiresAt: null,
  });
  const ips: Ban[] = [];
  if (withIps) {
    await deps.flushAccessLog?.();
    const access = await deps.detections.sessionAccess(tenantId, sessionId);
    for (const { ip } of access.ips) {
      const target = newBanTarget(ip);
      if (target === null) continue;
      ips.push(await deps.store.upsertBan({ tenantId, kind: 'ip', value: target, reason, expiresAt: null }));
    }
  }
  return { session, ips };
}

// --- leak policy ---

export type LeakPolicy = LeakPolicyRecord;

export async function getLeakPolicy(
  deps: Pick<DetectionDeps, 'detections'>,
  actor: Actor,
): Promise<LeakPolicy> {
  requireRole(actor, 'readonly');
  return deps.detections.getLeakPolicy(actor.tenantId);
}

/** Checks a (partial) leak policy and merges it over `current`. */
export function mergeLeakPolicy(current: LeakPolicy, input: unknown): LeakPolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid('invalid_leak_policy', '"leakPolicy" must be an object');
  const p = input as Record<string, unknown>;
  for (const k of Object.keys(p)) {
    if (!(k in DEFAULT_LEAK_POLICY))
      throw invalid(
        'invalid_leak_policy',
        `"leakPolicy" has no setting "${k.slice(0, 40)}" (autoBan, maxFalseMatchProbability, agreeingWindows)`,
      );
  }
  const next = { ...current };
  if (p.autoBan !== undefined) {
    if (typeof p.autoBan !== 'boolean')
      throw invalid('invalid_leak_policy', '"autoBan" must be true or false');
    next.autoBan = p.autoBan;
  }
  if (p.maxFalseMatchProbability !== undefined) {
    const v = p.maxFalseMatchProbability;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 1e-3)
      throw invalid(
        'invalid_leak_policy',
        '"maxFalseMatchProbability" must be a number above 0 and at most 0.001 (a ban on a 1-in-1000 chance of the wrong viewer is not allowed)',
      );
    next.maxFalseMatchProbability = v;
  }
  if (p.agreeingWindows !== undefined) {
    const v = p.agreeingWindows;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 10)
      throw invalid('invalid_leak_policy', '"agreeingWindows" must be a whole number from 1 to 10');
    next.agreeingWindows = v;
  }
  return next;
}

export async function putLeakPolicy(
  deps: Pick<DetectionDeps, 'detections'>,
  actor: Actor,
  input: unknown,
): Promise<LeakPolicy> {
  requireRole(actor, 'admin');
  const next = mergeLeakPolicy(await deps.detections.getLeakPolicy(actor.tenantId), input);
  await deps.detections.putLeakPolicy(actor.tenantId, next);
  return next;
}
