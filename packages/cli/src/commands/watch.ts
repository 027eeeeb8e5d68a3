/**
 * `vigil watch <URL>`: follows a live restream and prints one line per event; with `--ban`, bans the
 * identified session once the tenant's threshold is passed and enough disjoint windows agree.
 */
import {
  banDecision,
  DEFAULT_LEAK_POLICY,
  type LeakPolicy,
  storeContext,
  type WatchEvent,
  watch,
} from '@vigil/detector';
import { DetectionStore } from '@vigil/store';
import { type Command, common, out, positiveNumber, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';
import { oneInput, parseMode } from './detect.ts';

/** The URL without its query (tokens), for ban reasons. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

export const watchCommand: Command = {
  options: {
    ...common,
    json: { type: 'boolean' },
    ban: { type: 'boolean' },
    mode: { type: 'string' },
    window: { type: 'string' },
    'max-seconds': { type: 'string' },
    threshold: { type: 'string' },
    windows: { type: 'string' },
  },
  async run(values, positionals) {
    const url = oneInput(positionals, 'usage: vigil watch <URL> [--json] [--ban] [--mode auto|color|text]');
    if (!/^https?:\/\//i.test(url))
      throw new UsageError('vigil watch needs an http(s) URL (HLS, DASH or progressive)');
    const mode = parseMode(values);
    const threshold = positiveNumber(
      values,
      'threshold',
      DEFAULT_LEAK_POLICY.maxFalseMatchProbability,
      false,
    );
    if (threshold > 1) throw new UsageError('--threshold is a probability, at most 1');
    const flags: LeakPolicy = {
      autoBan: values.ban === true,
      maxFalseMatchProbability: threshold,
      agreeingWindows: positiveNumber(values, 'windows', DEFAULT_LEAK_POLICY.agreeingWindows, true),
    };
    const windowSeconds = str(values, 'window') ? positiveNumber(values, 'window', 20, false) : undefined;
    const maxSeconds = str(values, 'max-seconds')
      ? positiveNumber(values, 'max-seconds', 1, false)
      : undefined;
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const print = (event: Record<string, unknown>) => {
      if (values.json) out(JSON.stringify(event));
      else
        out(
          Object.entries(event)
            .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
            .join(' '),
        );
    };
    try {
      await withStore(values, async (store, tenantId) => {
        const ctx = await storeContext(store, tenantId, { signal: abort.signal, maxSeconds });
        // The tenant's leak policy (PUT /v1/tenant) unless the flags say otherwise; --ban or its autoBan bans.
        const stored = await new DetectionStore(store).getLeakPolicy(tenantId);
        const policy: LeakPolicy = {
          autoBan: flags.autoBan || stored.autoBan,
          maxFalseMatchProbability:
            str(values, 'threshold') !== undefined
              ? flags.maxFalseMatchProbability
              : stored.maxFalseMatchProbability,
          agreeingWindows:
            str(values, 'windows') !== undefined ? flags.agreeingWindows : stored.agreeingWindows,
        };
        const history: WatchEvent[] = [];
        const banned = new Set<string>();
        for await (const event of watch(url, mode, { ...ctx, windowSeconds })) {
          history.push(event);
          print(event);
          if (event.event === 'error') process.exitCode = 1;
          if (!policy.autoBan || event.event !== 'identified') continue;
          const decision = banDecision(history, policy);
          if (!decision.ban || !decision.sessionId || banned.has(decision.sessionId)) continue;
          const windows = history
            .filter((e) => e.event === 'identified' && e.sessionId === decision.sessionId)
            .slice(-policy.agreeingWindows)
            .map((e) => (e.event === 'identified' ? e.window : [0, 0]));
          const reason =
            `leak detection: vigil watch of ${shown(url)} identified session ${decision.sessionId} in ${event.mode === 'text' ? 'text' : 'colour'} mode ` +
            `in ${windows.length} disjoint windows (${windows.map(([a, b]) => `${a}-${b} s`).join(', ')}), ` +
            `false-match probability ${event.falseMatchProbability ?? 'n/a'}`;
          const ban = await store.upsertBan({
            tenantId,
            kind: 'session',
            value: decision.sessionId,
            reason,
            expiresAt: null,
          });
          banned.add(decision.sessionId);
          print({
            event: 'banned',
            sessionId: decision.sessionId,
            banId: ban.id,
            atSeconds: event.atSeconds,
            reason,
          });
        }
      });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
