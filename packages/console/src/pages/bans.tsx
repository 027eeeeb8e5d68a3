/** Bans: list, search, add (session or IP, reason, expiry), lift; a banned session's IPs, banned in one click. */
import { type FormEvent, useState } from 'react';
import { readAll } from '../api.ts';
import { canWrite, ErrorNote, Field, LoadState, Section, useAction, useApp, useLoad, when } from '../ui.tsx';

export interface Ban {
  id: string;
  kind: 'session' | 'ip';
  value: string;
  reason: string;
  createdAt: string;
  expiresAt: string | null;
  sightings: { ip: string; firstSeen: string; lastSeen: string; hits: number }[];
}

export function BansPage() {
  const { client, operator, notify } = useApp();
  const bans = useLoad(() => readAll<Ban>(client, '/v1/bans', 'bans', 'Loading the bans', 1000), [], 10_000);
  const [query, setQuery] = useState('');
  const [kind, setKind] = useState<'session' | 'ip'>('session');
  const [value, setValue] = useState('');
  const [reason, setReason] = useState('');
  const [expires, setExpires] = useState('');
  const add = useAction();
  const act = useAction();
  const writer = canWrite(operator.role, 'operator');

  const ban = async (k: 'session' | 'ip', v: string, why: string, expiresAt?: string) => {
    await client.post(
      '/v1/bans',
      { [k === 'ip' ? 'ip' : 'sessionId']: v, reason: why, ...(expiresAt ? { expiresAt } : {}) },
      `Banning ${k === 'ip' ? 'address' : 'session'} ${v}`,
    );
    notify(`Banned ${k === 'ip' ? 'address' : 'session'} ${v}.`);
    bans.reload();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void add.run(async () => {
      await ban(kind, value.trim(), reason.trim(), expires ? new Date(expires).toISOString() : undefined);
      setValue('');
      setReason('');
      setExpires('');
    });
  };

  const q = query.trim().toLowerCase();
  const banned = new Set(bans.data?.items.filter((b) => b.kind === 'ip').map((b) => b.value));

  return (
    <>
      <Section title="Add a ban">
        {!writer && <p className="muted">Your role ({operator.role}) can look but not ban.</p>}
        <form onSubmit={submit}>
          <fieldset>
            <legend>What to ban</legend>
            <label className="radio">
              <input
                type="radio"
                name="ban-kind"
                checked={kind === 'session'}
                onChange={() => setKind('session')}
              />
              A session
            </label>
            <label className="radio">
              <input type="radio" name="ban-kind" checked={kind === 'ip'} onChange={() => setKind('ip')} />
              An IP address or range
            </label>
          </fieldset>
          <div className="form-row">
            <Field label={kind === 'ip' ? 'IP address or CIDR range' : 'Session id'}>
              {(id) => (
                <input
                  id={id}
                  required
                  value={value}
                  placeholder={kind === 'ip' ? '203.0.113.7 or 203.0.113.0/24' : ''}
                  onChange={(e) => setValue(e.target.value)}
                />
              )}
            </Field>
            <Field label="Reason">
              {(id) => (
                <input id={id} value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
              )}
            </Field>
            <Field label="Expires" hint="Empty: never">
              {(id, hint) => (
                <input
                  id={id}
                  type="datetime-local"
                  aria-describedby={hint}
                  value={expires}
                  onChange={(e) => setExpires(e.target.value)}
                />
              )}
            </Field>
            <button type="submit" disabled={add.busy || !writer}>
              Ban
            </button>
          </div>
        </form>
        <ErrorNote error={add.error} />
      </Section>
      <Section title="Bans">
        <Field label="Search bans" hint="Session id, address or reason">
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
        <ErrorNote error={act.error} />
        <LoadState
          state={bans}
          what="bans"
          isEmpty={(b) => b.items.length === 0}
          empty="No bans. Nobody is banned right now."
        >
          {({ items, more }) => {
            const shown = items.filter(
              (b) =>
                !q ||
                b.value.toLowerCase().includes(q) ||
                b.reason.toLowerCase().includes(q) ||
                b.sightings.some((s) => s.ip.includes(q)),
            );
            return (
              <>
                {shown.length === 0 && <p className="empty">No ban matches “{query}”.</p>}
                <ul className="list">
                  {shown.map((b) => (
                    <li key={b.id} className="item">
                      <div className="item-head">
                        <span className={`pill ${b.kind === 'ip' ? 'warn' : 'off'}`}>
                          {b.kind === 'ip' ? 'IP' : 'session'}
                        </span>
                        <code>{b.value}</code>
                        <span className="muted">{b.reason || 'no reason given'}</span>
                        <span className="muted">
                          since {when(b.createdAt)}
                          {b.expiresAt ? `, until ${when(b.expiresAt)}` : ''}
                        </span>
                        <button
                          type="button"
                          className="danger"
                          disabled={act.busy || !writer}
                          aria-label={`Lift the ban on ${b.kind === 'ip' ? 'address' : 'session'} ${b.value}`}
                          onClick={() =>
                            act.run(async () => {
                              await client.del(
                                `/v1/bans/${encodeURIComponent(b.id)}`,
                                `Lifting the ban on ${b.value}`,
                              );
                              notify(`Ban on ${b.value} lifted.`);
                              bans.reload();
                            })
                          }
                        >
                          Lift ban
                        </button>
                      </div>
                      {b.kind === 'session' && b.sightings.length > 0 && (
                        <ul className="sightings" aria-label={`Addresses session ${b.value} called from`}>
                          {b.sightings.map((s) => (
                            <li key={s.ip}>
                              <code>{s.ip}</code>{' '}
                              <span className="muted">
                                {s.hits} calls, last {when(s.lastSeen)}
                              </span>{' '}
                              {banned.has(s.ip) ? (
                                <span className="pill warn">IP banned</span>
                              ) : (
                                <button
                                  type="button"
                                  className="secondary"
                                  disabled={act.busy || !writer}
                                  aria-label={`Ban IP ${s.ip}`}
                                  onClick={() =>
                                    act.run(() => ban('ip', s.ip, `seen with banned session ${b.value}`))
                                  }
                                >
                                  Ban this IP
                                </button>
                              )}
                            </li>
                          ))}
                        </ul>
                      )}
                    </li>
                  ))}
                </ul>
                {more && <p className="muted">Showing the first {items.length} bans.</p>}
              </>
            );
          }}
        </LoadState>
      </Section>
    </>
  );
}
