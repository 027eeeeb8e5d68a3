import type { StatsMinute } from '@vigil/control';
import type { VigilStore } from '@vigil/store';
import type { StatsRecorder } from './recorder.ts';

export type { StatsMinute };

/** The last `count` minutes of a tenant's license outcomes, every minute present, oldest first. */
export async function statsMinutes(
  store: VigilStore,
  stats: StatsRecorder,
  tenantId: string,
  count: number,
): Promise<StatsMinute[]> {
  await stats.flush();
  const now = Date.now();
  const first = now - (now % 60_000) - (count - 1) * 60_000;
  const byMinute = new Map<number, StatsMinute>();
  for (let m = first; m <= now; m += 60_000)
    byMinute.set(m, { minute: m, granted: 0, denied: 0, denials: {} });
  for (const r of await store.readStats(tenantId, first)) {
    const slot = byMinute.get(r.minute);
    if (!slot) continue;
    if (r.outcome === 'granted') slot.granted += r.count;
    else {
      slot.denied += r.count;
      slot.denials[r.outcome] = (slot.denials[r.outcome] ?? 0) + r.count;
    }
  }
  return [...byMinute.values()];
}
