/** Live channels: status, start, stop, create, delete. */
import { type FormEvent, useState } from 'react';
import { readAll } from '../api.ts';
import { canWrite, ErrorNote, Field, LoadState, Section, useAction, useApp, useLoad } from '../ui.tsx';
import { Health, POLL_MS } from './overview.tsx';

export interface Channel {
  id: string;
  resourceId: string;
  desired: 'running' | 'stopped';
  settings: Record<string, unknown>;
  status: {
    state?: string;
    encoder?: { state?: string; restarts?: number; runningSince?: number };
    edgeLagMs?: number | null;
    keyPeriod?: number | null;
    segmentsPublished?: number;
    lastError?: string | null;
  } | null;
  manifests: { dash: string; hls: string };
  updatedAt: string;
}

export function LivePage() {
  const { client, operator, notify } = useApp();
  const channels = useLoad(
    async () =>
      (await readAll<Channel>(client, '/v1/live/channels', 'channels', 'Loading live channels', 200)).items,
    [],
    POLL_MS,
  );
  const act = useAction();
  const create = useAction();
  const [id, setId] = useState('');
  const [resourceId, setResourceId] = useState('');
  const [input, setInput] = useState('test');
  const writer = canWrite(operator.role, 'operator');

  const action = (c: Channel, what: 'start' | 'stop' | 'delete') =>
    act.run(async () => {
      if (what === 'delete') {
        if (!confirm(`Delete channel ${c.id}? Its encoder stops and its keys and files go.`)) return;
        await client.del(`/v1/live/channels/${encodeURIComponent(c.id)}`, `Deleting channel ${c.id}`);
      } else {
        await client.post(
          `/v1/live/channels/${encodeURIComponent(c.id)}/${what}`,
          {},
          `${what === 'start' ? 'Starting' : 'Stopping'} channel ${c.id}`,
        );
      }
      notify(
        `Channel ${c.id}: ${what === 'delete' ? 'deleted' : what === 'start' ? 'starting' : 'stopped'}.`,
      );
      channels.reload();
    });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create.run(async () => {
      await client.put(
        `/v1/live/channels/${encodeURIComponent(id.trim())}`,
        { resourceId: resourceId.trim() || id.trim(), input: input.trim() || 'test' },
        `Creating channel ${id.trim()}`,
      );
      notify(`Channel ${id.trim()} created and starting.`);
      setId('');
      setResourceId('');
      channels.reload();
    });
  };

  return (
    <>
      <Section title="Channels">
        <ErrorNote error={act.error} />
        <LoadState
          state={channels}
          what="live channels"
          isEmpty={(c) => c.length === 0}
          empty="No live channels yet. Create one below."
        >
          {(list) => (
            <div className="table-wrap">
              <table className="stack">
                <thead>
                  <tr>
                    <th scope="col">Channel</th>
                    <th scope="col">Status</th>
                    <th scope="col">Encoder</th>
                    <th scope="col">Key period</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((c) => (
                    <tr key={c.id}>
                      <th scope="row">
                        {c.id}
                        <br />
                        <small className="muted">resource {c.resourceId}</small>
                      </th>
                      <td data-label="Status">
                        <Health channel={c} />
                        {c.status?.lastError && <div className="muted">last error: {c.status.lastError}</div>}
                      </td>
                      <td data-label="Encoder">
                        {c.status?.encoder?.state ?? '—'}
                        {c.status?.encoder?.restarts ? `, ${c.status.encoder.restarts} restarts` : ''}
                      </td>
                      <td data-label="Key period">{c.status?.keyPeriod ?? '—'}</td>
                      <td className="actions">
                        {c.desired === 'stopped' ? (
                          <button
                            type="button"
                            disabled={!writer || act.busy}
                            aria-label={`Start channel ${c.id}`}
                            onClick={() => action(c, 'start')}
                          >
                            Start
                          </button>
                        ) : (
                          <button
                            type="button"
                            disabled={!writer || act.busy}
                            aria-label={`Stop channel ${c.id}`}
                            onClick={() => action(c, 'stop')}
                          >
                            Stop
                          </button>
                        )}
                        <button
                          type="button"
                          className="danger"
                          disabled={!writer || act.busy}
                          aria-label={`Delete channel ${c.id}`}
                          onClick={() => action(c, 'delete')}
                        >
                          Delete
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted">Refreshes every 5 s.</p>
            </div>
          )}
        </LoadState>
      </Section>
      <Section title="Create a channel">
        {!writer && <p className="muted">Your role ({operator.role}) can look but not create channels.</p>}
        <form onSubmit={submit} className="form-row">
          <Field label="Channel id">
            {(fid) => (
              <input
                id={fid}
                required
                pattern="[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
                value={id}
                onChange={(e) => setId(e.target.value)}
              />
            )}
          </Field>
          <Field label="Resource id" hint="Defaults to the channel id">
            {(fid, hint) => (
              <input
                id={fid}
                aria-describedby={hint}
                value={resourceId}
                onChange={(e) => setResourceId(e.target.value)}
              />
            )}
          </Field>
          <Field label="Input" hint='"test" (test pattern) or an rtmp:// / srt:// URL to listen on'>
            {(fid, hint) => (
              <input
                id={fid}
                aria-describedby={hint}
                value={input}
                onChange={(e) => setInput(e.target.value)}
              />
            )}
          </Field>
          <button type="submit" disabled={create.busy || !writer}>
            Create channel
          </button>
        </form>
        <ErrorNote error={create.error} />
      </Section>
    </>
  );
}
