import { sql } from 'kysely';
import { keysetPage, newestFirst, type Page, type PageRequest } from './pages.ts';
import type { Database } from './schema.ts';

/**
 * Leak-tracing storage over a VigilStore: detection jobs (a queue that survives restarts), watched
 * restreams with their recent events, and each tenant's leak policy. Jobs and watches are run by the
 * instance holding their lease (`lease_owner`, `lease_until`), so with several instances over PostgreSQL
 * each runs once; a lease that runs out (its instance died) is taken over.
 */

import {
  DEFAULT_LEAK_POLICY,
  type DetectionRecord,
  detectionFromRow,
  type LeakPolicyRecord,
  newDetectionId,
  type SessionAccessRecord,
} from './detection-records.ts';
import { WatchStore } from './watches.ts';

export * from './detection-records.ts';

/** A job's columns once it has ended at `now`: no longer leased. */
const ENDED = (now: number) => ({ lease_owner: null, lease_until: null, updated_at: now, finished_at: now });

/** When a value was first and last seen, and how often, from a grouped access-log row. */
const sighting = (r: { first: unknown; last: unknown; n: unknown }) => ({
  firstSeen: Number(r.first),
  lastSeen: Number(r.last),
  hits: Number(r.n),
});

/** Detection jobs, what the access log knows of a session, and leak policies; watches from WatchStore. */
export class DetectionStore extends WatchStore {
  async createDetection(input: {
    tenantId: string;
    id?: string;
    sourceKind: 'upload' | 'url';
    source: string;
    mode: string;
  }): Promise<DetectionRecord> {
    const now = Date.now();
    const row: Database['detections'] = {
      tenant_id: input.tenantId,
      id: input.id ?? newDetectionId(),
      status: 'queued',
      source_kind: input.sourceKind,
      source: input.source,
      mode: input.mode,
      progress: 0,
      footage_seconds: 0,
      result: null,
      error: null,
      attempts: 0,
      lease_owner: null,
      lease_until: null,
      created_at: now,
      updated_at: now,
      finished_at: null,
    };
    await this.db.insertInto('detections').values(row).execute();
    return detectionFromRow(row);
  }

  /** Detections of the tenant not yet ended (queued or running). */
  countActiveDetections(tenantId: string): Promise<number> {
    return this.countRows('detections', { tenant_id: tenantId, status: ['queued', 'running'] });
  }

  /** Watches of the tenant meant to run. */
  countRunningWatches(tenantId: string): Promise<number> {
    return this.countRows('watches', { tenant_id: tenantId, desired: 'running' });
  }

  async getDetection(tenantId: string, id: string): Promise<DetectionRecord | undefined> {
    const row = await this.findRow('detections', tenantId, { id });
    return row && detectionFromRow(row);
  }

  /** A tenant's detections, newest first. */
  pageDetections(tenantId: string, req: PageRequest): Promise<Page<DetectionRecord>> {
    const q = this.db.selectFrom('detections').selectAll().where('tenant_id', '=', tenantId);
    return keysetPage(this.parts, req, newestFirst('detections', tenantId), q, detectionFromRow);
  }

  /**
   * Takes the oldest queued job (or a running one whose lease ran out, which counts as an attempt) for
   * `owner` until `leaseUntil`. Jobs that already had `maxAttempts` fail instead. undefined: none.
   */
  async claimDetection(
    owner: string,
    leaseUntil: number,
    maxAttempts: number,
  ): Promise<DetectionRecord | undefined> {
    const now = Date.now();
    for (let tries = 0; tries < 5; tries++) {
      const candidate = await this.db
        .selectFrom('detections')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb('status', '=', 'queued'),
            eb.and([eb('status', '=', 'running'), eb('lease_until', '<', now)]),
          ]),
        )
        .orderBy('created_at')
        .limit(1)
        .executeTakeFirst();
      if (!candidate) return undefined;
      const attempts = Number(candidate.attempts);
      if (attempts >= maxAttempts) {
        const message = `the detection was interrupted ${attempts} times (server restarts); start it again`;
        const { tenant_id, id, updated_at } = candidate;
        await this.updateRows(
          'detections',
          { tenant_id, id, updated_at },
          { status: 'failed', error: JSON.stringify({ code: 'interrupted', message }), ...ENDED(now) },
        );
        continue;
      }
      const { tenant_id, id, status } = candidate;
      const set = {
        status: 'running',
        attempts: attempts + 1,
        lease_owner: owner,
        lease_until: leaseUntil,
        updated_at: now,
      };
      const match = { tenant_id, id, status, attempts: candidate.attempts };
      if ((await this.updateRows('detections', match, set)) === 1)
        return detectionFromRow({ ...candidate, ...set });
    }
    return undefined;
  }

  /** Progress and lease renewal of a running job this owner holds; false when it no longer holds it. */
  async updateRunning(
    tenantId: string,
    id: string,
    owner: string,
    patch: { progress?: number; footageSeconds?: number; leaseUntil?: number },
  ): Promise<boolean> {
    const set: Partial<Database['detections']> = { updated_at: Date.now() };
    if (patch.progress !== undefined)
      set.progress = Math.round(Math.min(1, Math.max(0, patch.progress)) * 1000);
    if (patch.footageSeconds !== undefined) set.footage_seconds = Math.round(patch.footageSeconds * 1000);
    if (patch.leaseUntil !== undefined) set.lease_until = patch.leaseUntil;
    const match = { tenant_id: tenantId, id, status: 'running', lease_owner: owner };
    return (await this.updateRows('detections', match, set)) === 1;
  }

  /** Ends a running job: done with its result, or failed with its error. */
  async finishDetection(
    tenantId: string,
    id: string,
    owner: string,
    outcome:
      | { status: 'done'; result: Record<string, unknown>; footageSeconds: number }
      | { status: 'failed'; error: { code: string; message: string } },
  ): Promise<boolean> {
    const set = {
      status: outcome.status,
      progress: 1000,
      ...(outcome.status === 'done'
        ? {
            result: JSON.stringify(outcome.result),
            footage_seconds: Math.round(outcome.footageSeconds * 1000),
          }
        : { error: JSON.stringify(outcome.error) }),
      ...ENDED(Date.now()),
    };
    return (await this.updateRows('detections', { tenant_id: tenantId, id, lease_owner: owner }, set)) === 1;
  }

  /** Deletes up to `max` detections that ended before `before`; returns them (their folders go too). */
  async purgeDetections(before: number, max = 500): Promise<{ tenantId: string; id: string }[]> {
    const rows = await this.db
      .selectFrom('detections')
      .select(['tenant_id', 'id'])
      .where('status', 'in', ['done', 'failed'])
      .where('finished_at', '<', before)
      .orderBy('finished_at')
      .limit(max)
      .execute();
    for (const r of rows) await this.deleteRows('detections', { tenant_id: r.tenant_id, id: r.id });
    return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
  }

  /** Gives this owner's running jobs back to the queue (a clean shutdown), without counting an attempt. */
  async releaseDetections(owner: string): Promise<void> {
    await this.db
      .updateTable('detections')
      .set({
        status: 'queued',
        lease_owner: null,
        lease_until: null,
        attempts: sql<number>`attempts - 1`,
        updated_at: Date.now(),
      })
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner)
      .execute();
  }

  // --- evidence to action ---

  /**
   * What the access log knows of a session: the addresses and user agents it used (most recent first,
   * at most `max` of each), the resources it played, first and last seen. Grouped in the database, so
   * bounded however long the session ran.
   */
  async sessionAccess(tenantId: string, sessionId: string, max = 50): Promise<SessionAccessRecord> {
    const base = () =>
      this.db.selectFrom('access_logs').where('tenant_id', '=', tenantId).where('session_id', '=', sessionId);
    /** Each value of `column` the session used, with when it was first and last seen and how often. */
    const seen = <C extends 'ip' | 'user_agent'>(column: C) =>
      base()
        .select((eb) => [
          column,
          eb.fn.min('at').as('first'),
          eb.fn.max('at').as('last'),
          eb.fn.countAll().as('n'),
        ])
        .groupBy(column)
        .orderBy(sql`max(at)`, 'desc')
        .limit(max)
        .execute();
    const [totals, ips, agents, resources] = await Promise.all([
      base()
        .select((eb) => [eb.fn.min('at').as('first'), eb.fn.max('at').as('last'), eb.fn.countAll().as('n')])
        .executeTakeFirst(),
      seen('ip'),
      seen('user_agent'),
      base()
        .select((eb) => ['resource_id', eb.fn.countAll().as('n')])
        .groupBy('resource_id')
        .orderBy(sql`max(at)`, 'desc')
        .limit(max)
        .execute(),
    ]);
    const n = Number(totals?.n ?? 0);
    return {
      sessionId,
      entries: n,
      firstSeen: n > 0 ? Number(totals!.first) : null,
      lastSeen: n > 0 ? Number(totals!.last) : null,
      ips: ips.map((r) => ({ ip: r.ip, ...sighting(r) })),
      userAgents: agents.map((r) => ({ userAgent: r.user_agent, ...sighting(r) })),
      resources: resources.map((r) => r.resource_id),
    };
  }

  /** Session ids the tenant served (access log), most recent first, at most `max`: what OCR may match. */
  async servedSessions(tenantId: string, since: number, max = 10_000): Promise<string[]> {
    const rows = await this.db
      .selectFrom('access_logs')
      .select('session_id')
      .where('tenant_id', '=', tenantId)
      .where('at', '>=', since)
      .groupBy('session_id')
      .orderBy(sql`max(at)`, 'desc')
      .limit(max)
      .execute();
    return rows.map((r) => r.session_id);
  }

  // --- leak policy ---

  async getLeakPolicy(tenantId: string): Promise<LeakPolicyRecord> {
    const row = await this.firstRow('leak_policies', { tenant_id: tenantId });
    return row
      ? { ...DEFAULT_LEAK_POLICY, ...(JSON.parse(row.policy) as Partial<LeakPolicyRecord>) }
      : DEFAULT_LEAK_POLICY;
  }

  async putLeakPolicy(tenantId: string, policy: LeakPolicyRecord): Promise<void> {
    const set = { policy: JSON.stringify(policy), updated_at: Date.now() };
    await this.upsertRow('leak_policies', { tenant_id: tenantId, ...set }, ['tenant_id'], set);
  }
}
