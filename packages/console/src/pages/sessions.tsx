/** Sessions: search by session id, user or IP over the access log; one session's log. */
import { type FormEvent, useState } from 'react';
import { readAll } from '../api.ts';
import { canWrite, ErrorNote, Field, LoadState, Section, useAction, useApp, useLoad, when } from '../ui.tsx';
import type { LogEntry } from './overview.tsx';

/** What an access-log entry was, in words. */
export function describe(e: LogEntry): string {
  const m = (e.metadata ?? {}) as Record<string, unknown>;
  if (e.action === 'streamStart') return 'playback started (first key)';
  if (e.action === 'streamProgress') return m.event === 'heartbeat' ? 'heartbeat' : 'license granted';
  if (e.action === 'suspiciousActivity') return `tamper report${m.check ? ` (${String(m.check)})` : ''}`;
  if (e.action.startsWith('denied') || m.reason) return `refused${m.reason ? `: ${String(m.reason)}` : ''}`;
  return e.action;
}

export function SessionLog({ sessionId }: { sessionId: string }) {
  const { client, operator, notify } = useApp();
  const log = useLoad(
    () =>
      readAll<LogEntry>(client, '/v1/access-logs', 'entries', `Loading the log of ${sessionId}`, 500, {
        sessionId,
      }),
    [sessionId],
  );
  const act = useAction();
  const ips = [...new Set(log.data?.items.map((e) => e.ip))];
  const agents = [...new Set(log.data?.items.map((e) => e.userAgent))];
  const writer = canWrite(operator.role, 'operator');
  return (
    <Section title={`Session ${sessionId}`} id="session-log">
      <LoadState
        state={log}
        what="the session's log"
        isEmpty={(l) => l.items.length === 0}
        empty="This session has no log entries."
      >
        {({ items }) => (
          <>
            <p>
              <strong>IPs:</strong> {ips.join(', ')}
              <br />
              <strong>User agents:</strong> {agents.join(' | ')}
            </p>
            <div className="buttons">
              <button
                type="button"
                className="danger"
                disabled={act.busy || !writer}
                onClick={() =>
                  act.run(async () => {
                    await client.post(
                      '/v1/bans',
                      { sessionId, reason: 'banned from the console' },
                      `Banning session ${sessionId}`,
                    );
                    notify(`Session ${sessionId} banned.`);
                  })
                }
              >
                Ban this session
              </button>
            </div>
            <ErrorNote error={act.error} />
            <div className="table-wrap">
              <table className="stack">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">What</th>
                    <th scope="col">IP</th>
                    <th scope="col">Resource</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((e) => (
                    <tr key={e.id}>
                      <td>{when(e.at)}</td>
                      <td data-label="What">{describe(e)}</td>
                      <td data-label="IP">{e.ip}</td>
                      <td data-label="Resource">{e.resourceId}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </LoadState>
    </Section>
  );
}

export function SessionsPage() {
  const { client } = useApp();
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [open, setOpen] = useState<string | undefined>(undefined);
  const recent = useLoad(
    () => readAll<LogEntry>(client, '/v1/access-logs', 'entries', 'Searching the access log', 1000),
    [search],
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSearch(query.trim());
  };
  const q = search.toLowerCase();
  const sessions = new Map<
    string,
    { sessionId: string; userId: string | null; ips: Set<string>; last: string; n: number }
  >();
  for (const e of recent.data?.items ?? []) {
    if (
      q &&
      !e.sessionId.toLowerCase().includes(q) &&
      !(e.userId ?? '').toLowerCase().includes(q) &&
      !e.ip.includes(q)
    )
      continue;
    const s = sessions.get(e.sessionId) ?? {
      sessionId: e.sessionId,
      userId: e.userId,
      ips: new Set(),
      last: e.at,
      n: 0,
    };
    s.ips.add(e.ip);
    s.n++;
    sessions.set(e.sessionId, s);
  }
  return (
    <>
      <Section title="Find a session">
        <form onSubmit={submit} className="form-row">
          <Field label="Session id, user or IP" hint="Searches the latest 1000 access-log entries">
            {(id, hint) => (
              <input
                id={id}
                type="search"
                aria-describedby={hint}
                value={query}
                onChange={(e) => setQuery(e.target.value)}
              />
            )}
          </Field>
          <button type="submit">Search</button>
        </form>
        <ErrorNote error={undefined} />
        <LoadState
          state={recent}
          what="sessions"
          isEmpty={() => sessions.size === 0}
          empty={search ? `No session matches “${search}”.` : 'No sessions in the access log yet.'}
        >
          {() => (
            <div className="table-wrap">
              <table className="stack">
                <thead>
                  <tr>
                    <th scope="col">Session</th>
                    <th scope="col">User</th>
                    <th scope="col">IPs</th>
                    <th scope="col">Last seen</th>
                    <th scope="col">Entries</th>
                  </tr>
                </thead>
                <tbody>
                  {[...sessions.values()].map((s) => (
                    <tr key={s.sessionId}>
                      <th scope="row">
                        <button
                          type="button"
                          className="link"
                          aria-label={`Open the log of session ${s.sessionId}`}
                          onClick={() => setOpen(s.sessionId)}
                        >
                          {s.sessionId}
                        </button>
                      </th>
                      <td data-label="User">{s.userId ?? '—'}</td>
                      <td data-label="IPs">{[...s.ips].join(', ')}</td>
                      <td data-label="Last seen">{when(s.last)}</td>
                      <td data-label="Entries">{s.n}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </LoadState>
      </Section>
      {open && <SessionLog sessionId={open} />}
    </>
  );
}
