/**
 * Leak tracing: a recording or a stream URL → a detection (progress, the session, evidence, its access,
 * ban in one click); watches of live restreams with their events; the manual colour keyboard for a still.
 */
import { type DragEvent, type FormEvent, useState } from 'react';
import { readAll } from '../api.ts';
import { COLOUR_NAMES, CYCLE, decodeTyped, PALETTE } from '../colour-keyboard.ts';
import { canWrite, ErrorNote, Field, LoadState, Section, useAction, useApp, useLoad, when } from '../ui.tsx';

export interface DetectionResult {
  found: boolean;
  reason?: string;
  sessionId?: string;
  mode?: string;
  confidence?: number;
  falseMatchProbability?: number;
  footageSeconds?: number;
  evidence?: { t: number; url?: string }[];
  access?: {
    entries?: number;
    firstSeen: string | null;
    lastSeen: string | null;
    ips: string[];
    userAgents: string[];
    resources?: string[];
    addresses?: { ip: string; firstSeen: string; lastSeen: string; hits: number }[];
  };
}
export interface Detection {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  progress?: number;
  error?: { code?: string; message?: string } | null;
  result?: DetectionResult | null;
}
interface WatchEvent {
  event?: string;
  sessionId?: string;
  atSeconds?: number;
  message?: string;
  at?: string;
}
interface Watch {
  id: string;
  url: string;
  autoBan: boolean;
  desired?: 'running' | 'stopped';
  status?: { state?: string; sessionId?: string; message?: string } | null;
  events?: WatchEvent[];
}

function DetectionView({ id }: { id: string }) {
  const { client, operator, notify } = useApp();
  const det = useLoad(
    () => client.get<Detection>(`/v1/detections/${id}`, 'Reading the detection'),
    [id],
    1500,
  );
  const act = useAction();
  const d = det.data;
  const writer = canWrite(operator.role, 'operator');
  const pct = Math.round((d?.progress ?? 0) <= 1 ? (d?.progress ?? 0) * 100 : (d?.progress ?? 0));
  const r = d?.result;
  return (
    <Section title="Detection" id="detection">
      <LoadState state={det} what="the detection">
        {(dd) => (
          <>
            {(dd.status === 'queued' || dd.status === 'running') && (
              <>
                <p>{dd.status === 'queued' ? 'Waiting to start…' : 'Looking for a watermark…'}</p>
                <progress max={100} value={pct} aria-label="Detection progress">
                  {pct}%
                </progress>
              </>
            )}
            {dd.status === 'failed' && (
              <p className="error" role="alert">
                The detection failed:{' '}
                {typeof dd.error === 'string' ? dd.error : (dd.error?.message ?? 'no reason given')}. Check
                the recording and try again.
              </p>
            )}
            {dd.status === 'done' && r && !r.found && (
              <p className="empty" role="status">
                No watermark found{r.reason ? `: ${r.reason}` : ''}.
              </p>
            )}
            {dd.status === 'done' && r?.found && (
              <div>
                <p role="status">
                  Found session <code>{r.sessionId}</code> ({r.mode} mark)
                  {r.confidence !== undefined ? `, confidence ${(r.confidence * 100).toFixed(1)}%` : ''}
                  {r.falseMatchProbability !== undefined
                    ? `, false match chance ${r.falseMatchProbability.toExponential(1)}`
                    : ''}
                  {r.footageSeconds !== undefined ? `, from ${r.footageSeconds.toFixed(1)} s of footage` : ''}
                  .
                </p>
                {r.access && (
                  <p>
                    <strong>IPs:</strong> {r.access.ips.join(', ') || '—'}
                    <br />
                    <strong>User agents:</strong> {r.access.userAgents.join(' | ') || '—'}
                    <br />
                    <strong>Seen:</strong> {when(r.access.firstSeen)} to {when(r.access.lastSeen)}
                    {r.access.resources?.length ? ` on ${r.access.resources.join(', ')}` : ''}
                  </p>
                )}
                <div className="buttons">
                  <button
                    type="button"
                    className="danger"
                    disabled={act.busy || !writer}
                    onClick={() =>
                      act.run(async () => {
                        await client.post(`/v1/detections/${id}/ban`, { ips: false }, 'Banning the session');
                        notify(`Session ${r.sessionId} banned.`);
                      })
                    }
                  >
                    Ban session {r.sessionId}
                  </button>
                  <button
                    type="button"
                    className="danger"
                    disabled={act.busy || !writer}
                    onClick={() =>
                      act.run(async () => {
                        await client.post(
                          `/v1/detections/${id}/ban`,
                          { ips: true },
                          'Banning the session and its IPs',
                        );
                        notify(`Session ${r.sessionId} and its IPs banned.`);
                      })
                    }
                  >
                    Ban session and its IPs
                  </button>
                </div>
                <ErrorNote error={act.error} />
                {r.evidence && r.evidence.length > 0 && (
                  <ul className="evidence" aria-label="Evidence frames">
                    {r.evidence.map((e, n) => (
                      <li key={`${e.t}-${n}`}>
                        <img
                          src={client.url(e.url ?? `/v1/detections/${id}/evidence/${n}`)}
                          alt={`Evidence frame at ${e.t.toFixed(1)} s`}
                          loading="lazy"
                        />
                        <span>{e.t.toFixed(1)} s</span>
                      </li>
                    ))}
                  </ul>
                )}
              </div>
            )}
          </>
        )}
      </LoadState>
    </Section>
  );
}

function Watches() {
  const { client, operator, notify } = useApp();
  const watches = useLoad(
    async () => (await readAll<Watch>(client, '/v1/watches', 'watches', 'Loading watches', 100)).items,
    [],
    5000,
  );
  const [url, setUrl] = useState('');
  const [autoBan, setAutoBan] = useState(false);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const events = useLoad(
    async () => (open ? client.get<Watch>(`/v1/watches/${open}`, 'Loading the watch') : undefined),
    [open],
    3000,
  );
  const act = useAction();
  const writer = canWrite(operator.role, 'operator');
  return (
    <Section title="Watches of live restreams">
      <form
        className="form-row"
        onSubmit={(e) => {
          e.preventDefault();
          void act.run(async () => {
            await client.post('/v1/watches', { url: url.trim(), autoBan }, 'Starting the watch');
            notify('Watch started.');
            setUrl('');
            watches.reload();
          });
        }}
      >
        <Field label="Restream URL to watch">
          {(id) => <input id={id} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />}
        </Field>
        <label className="check">
          <input type="checkbox" checked={autoBan} onChange={(e) => setAutoBan(e.target.checked)} /> Ban what
          it finds
        </label>
        <button type="submit" disabled={act.busy || !writer}>
          Start watching
        </button>
      </form>
      <ErrorNote error={act.error} />
      <LoadState state={watches} what="watches" isEmpty={(w) => w.length === 0} empty="No watches running.">
        {(list) => (
          <ul className="list">
            {list.map((w) => (
              <li key={w.id} className="item">
                <div className="item-head">
                  <code>{w.url}</code>
                  <span className={`pill ${w.status?.state === 'error' ? 'warn' : 'ok'}`}>
                    {w.status?.state ?? 'starting'}
                    {w.status?.sessionId ? `: ${w.status.sessionId}` : ''}
                  </span>
                  {w.autoBan && <span className="pill warn">auto-ban</span>}
                  <button
                    type="button"
                    className="secondary"
                    aria-label={`Show events of the watch of ${w.url}`}
                    onClick={() => setOpen(w.id)}
                  >
                    Events
                  </button>
                  <button
                    type="button"
                    className="danger"
                    disabled={act.busy || !writer}
                    aria-label={`Stop watching ${w.url}`}
                    onClick={() =>
                      act.run(async () => {
                        await client.del(`/v1/watches/${w.id}`, 'Stopping the watch');
                        notify('Watch stopped.');
                        if (open === w.id) setOpen(undefined);
                        watches.reload();
                      })
                    }
                  >
                    Stop
                  </button>
                </div>
                {open === w.id && events.data && (
                  <ul className="events" aria-label="Watch events" aria-live="polite">
                    {(events.data.events ?? []).length === 0 && <li className="muted">No events yet.</li>}
                    {(events.data.events ?? []).map((ev, i) => (
                      <li key={`${ev.at}-${i}`}>
                        {ev.at ? <time>{when(ev.at)}</time> : null} {ev.event}
                        {ev.sessionId ? (
                          <>
                            {' '}
                            session <code>{ev.sessionId}</code>
                          </>
                        ) : null}
                        {ev.atSeconds !== undefined ? ` at ${ev.atSeconds.toFixed(1)} s of the stream` : ''}
                        {ev.message ? `: ${ev.message}` : ''}
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ul>
        )}
      </LoadState>
    </Section>
  );
}

function ColourKeyboard() {
  const { client } = useApp();
  const [typed, setTyped] = useState<number[]>([]);
  const [found, setFound] = useState<
    { tag: number; sessions: { sessionId: string; firstSeen: string }[] } | null | undefined
  >(undefined);
  const act = useAction();
  const find = () =>
    act.run(async () => {
      const decoded = decodeTyped(typed);
      if (!decoded) {
        setFound(null);
        return;
      }
      const res = await client.get<{ sessions: { sessionId: string; firstSeen: string }[] }>(
        `/v1/sessions/by-tag/${decoded.tag}`,
        'Looking up the tag',
      );
      setFound({ tag: decoded.tag, sessions: res.sessions });
    });
  return (
    <Section title="Colour keyboard (from stills)">
      <p className="muted">
        Only a screenshot or a few stills? Type the box's colours in the order they appear, one per symbol,
        for one whole cycle ({CYCLE} colours, starting anywhere; one of them is grey).
      </p>
      <div className="keys" role="group" aria-label="Colours">
        {PALETTE.map((rgb, i) => (
          <button
            type="button"
            key={COLOUR_NAMES[i]}
            className="colour-key"
            aria-label={`Add ${COLOUR_NAMES[i]}`}
            style={{ background: `rgb(${rgb.join(',')})` }}
            onClick={() => setTyped((t) => (t.length < CYCLE ? [...t, i] : t))}
          />
        ))}
      </div>
      <p aria-live="polite">
        {typed.length} of {CYCLE} colours:{' '}
        <span className="typed">
          {typed.map((c, i) => (
            <span
              // biome-ignore lint/suspicious/noArrayIndexKey: the typed sequence is positional
              key={i}
              className="swatch"
              title={COLOUR_NAMES[c]}
              style={{ background: `rgb(${PALETTE[c]!.join(',')})` }}
            />
          ))}
        </span>
      </p>
      <div className="buttons">
        <button
          type="button"
          className="secondary"
          onClick={() => setTyped((t) => t.slice(0, -1))}
          disabled={typed.length === 0}
        >
          Remove last colour
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            setTyped([]);
            setFound(undefined);
          }}
        >
          Clear colours
        </button>
        <button type="button" onClick={find} disabled={typed.length !== CYCLE || act.busy}>
          Find the session
        </button>
      </div>
      <ErrorNote error={act.error} />
      {found === null && (
        <p className="error" role="alert">
          These colours are not a valid sequence. Check them and try again.
        </p>
      )}
      {found && (
        <p role="status">
          Tag {found.tag}:{' '}
          {found.sessions.length === 0
            ? 'no session of this tenant showed it.'
            : found.sessions.map((s) => `${s.sessionId} (first seen ${when(s.firstSeen)})`).join(', ')}
        </p>
      )}
    </Section>
  );
}

export function LeaksPage() {
  const { client, operator } = useApp();
  const [detection, setDetection] = useState<string | undefined>(undefined);
  const [url, setUrl] = useState('');
  const [mode, setMode] = useState('auto');
  const [dragging, setDragging] = useState(false);
  const start = useAction();
  const writer = canWrite(operator.role, 'operator');

  const send = (file: File) =>
    start.run(async () => {
      const res = await client.request<{ id: string }>('/v1/detections', {
        method: 'POST',
        body: file.type.startsWith('video/') ? file : new Blob([file], { type: 'video/mp4' }),
        action: `Sending ${file.name}`,
      });
      setDetection(res.id);
    });
  const submitUrl = (e: FormEvent) => {
    e.preventDefault();
    void start.run(async () => {
      const res = await client.post<{ id: string }>(
        '/v1/detections',
        { url: url.trim(), mode },
        'Starting the detection',
      );
      setDetection(res.id);
    });
  };
  const drop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer.files[0];
    if (f) void send(f);
  };

  return (
    <>
      <Section title="Trace a leak">
        {/* biome-ignore lint/a11y/noStaticElementInteractions: dropping a file is a pointer shortcut; the file input inside does the same by keyboard */}
        <div
          className={`dropzone${dragging ? ' over' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={drop}
        >
          <p>Drop a recording of the leak here, or</p>
          <label className="button-like">
            Choose a recording
            <input
              type="file"
              accept="video/*"
              className="visually-hidden"
              disabled={!writer || start.busy}
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) void send(f);
                e.target.value = '';
              }}
            />
          </label>
        </div>
        <form className="form-row" onSubmit={submitUrl}>
          <Field label="Or a stream URL">
            {(id) => (
              <input id={id} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />
            )}
          </Field>
          <Field label="Mark to look for">
            {(id) => (
              <select id={id} value={mode} onChange={(e) => setMode(e.target.value)}>
                <option value="auto">Any</option>
                <option value="color">Colour box</option>
                <option value="text">Text</option>
              </select>
            )}
          </Field>
          <button type="submit" disabled={!writer || start.busy}>
            Trace this stream
          </button>
        </form>
        {start.busy && <p role="status">Sending…</p>}
        <ErrorNote error={start.error} />
      </Section>
      {detection && <DetectionView id={detection} />}
      <Watches />
      <ColourKeyboard />
    </>
  );
}
