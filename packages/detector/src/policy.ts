import type { LeakPolicy, WatchEvent } from './types.ts';

/**
 * Whether a live watch may ban: the newest identifications must name one session, each with a
 * false-match probability at or under the policy's threshold, in `agreeingWindows` pairwise disjoint
 * windows, with no identification of another session among them. Pure; never bans on text-mode readings
 * without a probability unless the policy's threshold is 1 (it cannot be checked).
 */
export function banDecision(
  history: readonly WatchEvent[],
  policy: LeakPolicy,
): { ban: boolean; sessionId?: string } {
  const needed = Math.max(1, Math.floor(policy.agreeingWindows));
  const ids = history.filter((e) => e.event === 'identified');
  const last = ids.at(-1);
  if (!last) return { ban: false };
  const passing = (e: (typeof ids)[number]) =>
    e.falseMatchProbability === null
      ? policy.maxFalseMatchProbability >= 1
      : e.falseMatchProbability <= policy.maxFalseMatchProbability;
  // Any identification of another session since the first of this session's windows blocks the ban.
  const windows: [number, number][] = [];
  for (let i = ids.length - 1; i >= 0; i--) {
    const e = ids[i]!;
    if (e.sessionId !== last.sessionId) return { ban: false };
    if (!passing(e)) continue;
    const [a, b] = e.window;
    if (windows.every(([x, y]) => b <= x || a >= y)) windows.push([a, b]);
    if (windows.length >= needed) break;
  }
  return windows.length >= needed ? { ban: true, sessionId: last.sessionId } : { ban: false };
}

/**
 * The policy `vigil watch --ban` applies unless told otherwise: each of two disjoint windows at most 1e-4
 * (the codec's false-match probability, times the decodes tried), so both together well under 1e-8.
 */
export const DEFAULT_LEAK_POLICY: LeakPolicy = Object.freeze({
  autoBan: false,
  maxFalseMatchProbability: 1e-4,
  agreeingWindows: 2,
});
