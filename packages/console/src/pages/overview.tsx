/** Overview: what an operator watches during a live match, refreshed every 5 s. */
import { readAll } from '../api.ts';
import { LoadState, Section, useApp, useLoad, when } from '../ui.tsx';
import type { Channel } from './live.tsx';

interface StatsMinute {
  minute: string;
  granted: number;
  denied: number;
  denials: Record<string, number>;
}
interface Stats {
  minutes: StatsMinute[];
  totals: { granted: number; denied: number; denials: Record<string, number> };
}
export interface LogEntry {
  id: string;
  sessionId: string;
  resourceId: string;
  userId: string | null;
  ip: string;
  userAgent: string;
  action: string;
  at: string;
  metadata: Record<string, unknown> | null;
}

export const POLL_MS = 5000;

/** Requests per minute as an inline SVG line chart (granted and denied). */
export function RequestsChart({ minutes }: { minutes: StatsMinute[] }) {
  const w = 600;
  const h = 160;
  const pad = 24;
  const max = Math.max(1, ...minutes.map((m) => m.granted + m.denied));
  const n = Math.max(1, minutes.length - 1);
  const line = (pick: (m: StatsMinute) => number) =>
    minutes
      .map(
        (m, i) =>
          `${(pad + (i / n) * (w - 2 * pad)).toFixed(1)},${(h - pad - (pick(m) / max) * (h - 2 * pad)).toFixed(1)}`,
      )
      .join(' ');
  const last = minutes[minutes.length - 1];
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${w} ${h}`}
        role="img"
        aria-label={`License requests per minute over the last ${minutes.length} minutes; latest minute: ${last?.granted ?? 0} granted, ${last?.denied ?? 0} denied; peak ${max}`}
      >
        <line x1={pad} y1={h - pad} x2={w - pad} y2={h - pad} className="axis" />
        <line x1={pad} y1={pad} x2={pad} y2={h - pad} className="axis" />
        {minutes.length > 0 && <polyline points={line((m) => m.granted)} className="granted" />}
        {minutes.length > 0 && <polyline points={line((m) => m.denied)} className="denied" />}
      </svg>
      <div className="chart-axis" aria-hidden="true">
        <span>
          {minutes[0] ? new Date(minutes[0].minute).toLocaleTimeString([], { timeStyle: 'short' }) : ''}
        </span>
        <span>peak {max}/min</span>
        <span>now</span>
      </div>
      <figcaption>
        <span className="key granted">granted</span> <span className="key denied">denied</span>
      </figcaption>
    </figure>
  );
}

/** Denials by reason as horizontal bars. */
export function DenialBars({ denials }: { denials: Record<string, number> }) {
  const rows = Object.entries(denials).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...rows.map((r) => r[1]));
  if (rows.length === 0) return <p className="empty">No denials in this window.</p>;
  return (
    <ul className="bars" aria-label="Denials by reason">
      {rows.map(([reason, n]) => (
        <li key={reason}>
          <span className="bar-label">{reason}</span>
          <span className="bar" style={{ width: `${(n / max) * 100}%` }} aria-hidden="true" />
          <span className="bar-value">{n}</span>
        </li>
      ))}
    </ul>
  );
}

export function OverviewPage() {
  const { client } = useApp();
  const stats = useLoad(
    () => client.get<Stats>('/v1/stats', 'Loading the stats', { minutes: 30 }),
    [],
    POLL_MS,
  );
  const active = useLoad(
    async () => {
      const since = new Date(Date.now() - 2 * 60_000).toISOString();
      const { items, more } = await readAll<LogEntry>(
        client,
        '/v1/access-logs',
        'entries',
        'Loading active sessions',
        1000,
        { since },
      );
      const playing = items.filter((e) => e.action === 'streamStart' || e.action === 'streamProgress');
      return { count: new Set(playing.map((e) => e.sessionId)).size, more };
    },
    [],
    POLL_MS,
  );
  const tamper = useLoad(
    async () => {
      const since = new Date(Date.now() - 60 * 60_000).toISOString();
      const { items } = await readAll<LogEntry>(
        client,
        '/v1/access-logs',
        'entries',
        'Loading tamper events',
        50,
        {
          action: 'suspiciousActivity',
          since,
        },
      );
      return items;
    },
    [],
    POLL_MS,
  );
  const channels = useLoad(
    async () =>
      (await readAll<Channel>(client, '/v1/live/channels', 'channels', 'Loading live channels', 100)).items,
    [],
    POLL_MS,
  );

  return (
    <div className="grid">
      <Section title="License requests per minute">
        <LoadState state={stats} what="stats">
          {(s) => (
            <>
              <p className="figures">
                <span>
                  <strong>{s.minutes.at(-1)?.granted ?? 0}</strong> granted this minute
                </span>
                <span>
                  <strong>{s.totals.granted}</strong> granted, <strong>{s.totals.denied}</strong> denied in 30
                  min
                </span>
              </p>
              <RequestsChart minutes={s.minutes} />
            </>
          )}
        </LoadState>
      </Section>
      <Section title="Active sessions">
        <LoadState state={active} what="active sessions">
          {(a) => (
            <p className="big" aria-describedby="active-hint">
              {a.count}
              {a.more ? '+' : ''}
              <small id="active-hint" className="muted">
                sessions with a license or heartbeat in the last 2 minutes
              </small>
            </p>
          )}
        </LoadState>
      </Section>
      <Section title="Denials by reason">
        <LoadState state={stats} what="denials">
          {(s) => <DenialBars denials={s.totals.denials} />}
        </LoadState>
      </Section>
      <Section title="Tamper events">
        <LoadState
          state={tamper}
          what="tamper events"
          isEmpty={(t) => t.length === 0}
          empty="No tamper reports in the last hour."
        >
          {(t) => (
            <ul className="events">
              {t.slice(0, 10).map((e) => (
                <li key={e.id}>
                  <time>{when(e.at)}</time> session <code>{e.sessionId}</code> from {e.ip}:{' '}
                  {String(
                    (e.metadata as { check?: string } | null)?.check ??
                      (e.metadata as { kind?: string } | null)?.kind ??
                      'report',
                  )}
                </li>
              ))}
            </ul>
          )}
        </LoadState>
      </Section>
      <Section title="Live channels' health">
        <LoadState
          state={channels}
          what="live channels"
          isEmpty={(c) => c.length === 0}
          empty="No live channels."
        >
          {(list) => (
            <ul className="events">
              {list.map((c) => (
                <li key={c.id}>
                  <strong>{c.id}</strong> <Health channel={c} />
                </li>
              ))}
            </ul>
          )}
        </LoadState>
      </Section>
    </div>
  );
}

export function Health({ channel }: { channel: Channel }) {
  const s = channel.status;
  if (channel.desired === 'stopped') return <span className="pill off">stopped</span>;
  if (!s) return <span className="pill warn">starting</span>;
  const lag = s.edgeLagMs === undefined || s.edgeLagMs === null ? undefined : s.edgeLagMs / 1000;
  const ok = s.state === 'running' && lag !== undefined && lag < 30;
  return (
    <span className={`pill ${ok ? 'ok' : 'warn'}`}>
      {s.state ?? 'unknown'}
      {lag !== undefined ? ` · edge lag ${lag.toFixed(1)} s` : ''}
      {s.encoder?.restarts ? ` · ${s.encoder.restarts} restarts` : ''}
    </span>
  );
}
