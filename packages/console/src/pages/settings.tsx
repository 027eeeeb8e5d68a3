/** Settings: viewer-token keys (HS256 secret rotation, JWKS), allowed origins, leak policy, operators, API keys. */
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { ApiError, readAll } from '../api.ts';
import { canWrite, ErrorNote, Field, LoadState, Section, useAction, useApp, useLoad, when } from '../ui.tsx';

interface Tenant {
  id: string;
  name: string;
  allowedOrigins: string[];
  jwks: { keys: Record<string, unknown>[] } | null;
  leakPolicy?: LeakPolicy;
}
interface LeakPolicy {
  autoBan: boolean;
  maxFalseMatchProbability: number;
  agreeingWindows: number;
}
interface ApiKey {
  prefix: string;
  name: string;
  role: string;
  createdAt: string;
  revokedAt: string | null;
}
interface OperatorRow {
  name: string;
  role: string;
  createdAt?: string;
}

function TenantSettings() {
  const { client, operator, notify } = useApp();
  const tenant = useLoad(() => client.get<Tenant>('/v1/tenant', "Loading the tenant's settings"), []);
  const [origins, setOrigins] = useState('');
  const [jwks, setJwks] = useState('');
  const [policy, setPolicy] = useState<LeakPolicy | undefined>(undefined);
  const [jsonError, setJsonError] = useState<string | undefined>(undefined);
  const save = useAction();
  const writer = canWrite(operator.role, 'admin');
  useEffect(() => {
    const t = tenant.data;
    if (!t) return;
    setOrigins(t.allowedOrigins.join('\n'));
    setJwks(t.jwks ? JSON.stringify(t.jwks, null, 2) : '');
    setPolicy(t.leakPolicy);
  }, [tenant.data]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setJsonError(undefined);
    let parsedJwks: unknown = null;
    try {
      parsedJwks = jwks.trim() ? JSON.parse(jwks) : null;
    } catch {
      setJsonError('The JWKS is not valid JSON. Paste a {"keys": [...]} document of public keys.');
      return;
    }
    void save.run(async () => {
      const body: Record<string, unknown> = {
        allowedOrigins: origins.split(/\s+/).filter(Boolean),
        jwks: parsedJwks,
      };
      if (policy) body.leakPolicy = policy;
      await client.put('/v1/tenant', body, "Saving the tenant's settings");
      notify('Tenant settings saved.');
      tenant.reload();
    });
  };

  return (
    <Section title="Viewer tokens and origins">
      <LoadState state={tenant} what="the tenant's settings">
        {(t) => (
          <form onSubmit={submit}>
            <p>
              Tenant <strong>{t.name}</strong> (<code>{t.id}</code>). Viewer tokens are HS256 with the
              tenant's secret (it never reaches this console; set it with <code>VIGIL_JWT_SECRET</code> or at
              tenant creation), or RS256/ES256 with the public keys below.
            </p>
            <Field
              label="Allowed browser origins"
              hint="One per line, e.g. https://watch.example.com; * allows any"
            >
              {(id, hint) => (
                <textarea
                  id={id}
                  rows={3}
                  aria-describedby={hint}
                  value={origins}
                  onChange={(e) => setOrigins(e.target.value)}
                />
              )}
            </Field>
            <Field label="Public keys for viewer tokens (JWKS)" hint="Empty: HS256 only">
              {(id, hint) => (
                <textarea
                  id={id}
                  rows={4}
                  className="mono"
                  aria-describedby={hint}
                  value={jwks}
                  onChange={(e) => setJwks(e.target.value)}
                />
              )}
            </Field>
            {policy && (
              <fieldset>
                <legend>Leak policy</legend>
                <label className="check">
                  <input
                    type="checkbox"
                    checked={policy.autoBan}
                    onChange={(e) => setPolicy({ ...policy, autoBan: e.target.checked })}
                  />
                  Ban identified sessions without asking (watches and detections)
                </label>
                <div className="form-row">
                  <Field label="Ban only below this false-match chance" hint="e.g. 0.000001">
                    {(id, hint) => (
                      <input
                        id={id}
                        type="number"
                        step="any"
                        min={0}
                        max={1}
                        aria-describedby={hint}
                        value={policy.maxFalseMatchProbability}
                        onChange={(e) =>
                          setPolicy({ ...policy, maxFalseMatchProbability: Number(e.target.value) })
                        }
                      />
                    )}
                  </Field>
                  <Field label="Windows of footage that must agree">
                    {(id) => (
                      <input
                        id={id}
                        type="number"
                        min={1}
                        step={1}
                        value={policy.agreeingWindows}
                        onChange={(e) => setPolicy({ ...policy, agreeingWindows: Number(e.target.value) })}
                      />
                    )}
                  </Field>
                </div>
              </fieldset>
            )}
            {jsonError && (
              <p className="error" role="alert">
                {jsonError}
              </p>
            )}
            <button type="submit" disabled={save.busy || !writer}>
              Save tenant settings
            </button>
            <ErrorNote error={save.error} />
          </form>
        )}
      </LoadState>
    </Section>
  );
}

function Operators() {
  const { client, operator, notify } = useApp();
  const ops = useLoad(
    async () =>
      (await client.get<{ operators: OperatorRow[] }>('/v1/operators', 'Loading the operators')).operators,
    [],
  );
  const [name, setName] = useState('');
  const [role, setRole] = useState('operator');
  const [password, setPassword] = useState('');
  const act = useAction();
  const writer = canWrite(operator.role, 'admin');
  if (!writer) return null;
  return (
    <Section title="Operators">
      <LoadState state={ops} what="operators" isEmpty={(o) => o.length === 0}>
        {(list) => (
          <ul className="list">
            {list.map((o) => (
              <li key={o.name} className="item">
                <div className="item-head">
                  <strong>{o.name}</strong>
                  <span className="pill off">{o.role}</span>
                  {o.createdAt && <span className="muted">since {when(o.createdAt)}</span>}
                  <button
                    type="button"
                    className="secondary"
                    aria-label={`Set a new password for ${o.name}`}
                    disabled={act.busy}
                    onClick={() => {
                      const pw = prompt(`New password for ${o.name} (at least 12 characters)`);
                      if (pw)
                        void act.run(async () => {
                          await client.put(
                            `/v1/operators/${encodeURIComponent(o.name)}/password`,
                            { password: pw },
                            `Changing ${o.name}'s password`,
                          );
                          notify(`Password of ${o.name} changed.`);
                        });
                    }}
                  >
                    New password
                  </button>
                  {o.name !== operator.name && (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Remove operator ${o.name}`}
                      disabled={act.busy}
                      onClick={() =>
                        confirm(`Remove operator ${o.name}?`) &&
                        act.run(async () => {
                          await client.del(
                            `/v1/operators/${encodeURIComponent(o.name)}`,
                            `Removing ${o.name}`,
                          );
                          notify(`Operator ${o.name} removed.`);
                          ops.reload();
                        })
                      }
                    >
                      Remove
                    </button>
                  )}
                </div>
              </li>
            ))}
          </ul>
        )}
      </LoadState>
      <form
        className="form-row"
        onSubmit={(e) => {
          e.preventDefault();
          void act.run(async () => {
            await client.post(
              '/v1/operators',
              { name: name.trim(), role, password },
              `Adding operator ${name.trim()}`,
            );
            notify(`Operator ${name.trim()} added.`);
            setName('');
            setPassword('');
            ops.reload();
          });
        }}
      >
        <Field label="New operator's name">
          {(id) => (
            <input
              id={id}
              required
              autoComplete="off"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <Field label="Their role">
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole(e.target.value)}>
              <option value="readonly">readonly</option>
              <option value="operator">operator</option>
              <option value="admin">admin</option>
            </select>
          )}
        </Field>
        <Field label="Their password">
          {(id) => (
            <input
              id={id}
              type="password"
              required
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" disabled={act.busy}>
          Add operator
        </button>
      </form>
      <ErrorNote error={act.error} />
    </Section>
  );
}

/** A secret the server answers once (a new API key, a rotated token secret): copy it now. */
function ShownOnce(props: {
  id: string;
  label: string;
  value: string;
  copy: string;
  onDone: () => void;
  children: ReactNode;
}) {
  return (
    <div className="once" role="alert">
      <p>{props.children}</p>
      <label htmlFor={props.id}>{props.label}</label>
      <input id={props.id} readOnly className="mono" value={props.value} onFocus={(e) => e.target.select()} />
      <div className="buttons">
        <button
          type="button"
          className="secondary"
          onClick={() => void navigator.clipboard?.writeText(props.value)}
        >
          {props.copy}
        </button>
        <button type="button" className="secondary" onClick={props.onDone}>
          I have copied it
        </button>
      </div>
    </div>
  );
}

/** How long the old secret keeps verifying after a rotation, as offered. */
const GRACE_CHOICES: [number, string][] = [
  [0, 'not at all'],
  [300, '5 minutes'],
  [3600, '1 hour'],
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
];

/** The HS256 viewer-token secret: rotate it, the old one verifying for a grace period. */
function TokenSecret() {
  const { client, operator, notify } = useApp();
  const [grace, setGrace] = useState(3600);
  const [rotated, setRotated] = useState<
    { jwtSecret: string; previousSecretValidUntil: number } | undefined
  >();
  const act = useAction();
  if (!canWrite(operator.role, 'admin'))
    return (
      <Section title="Viewer-token secret (HS256)">
        <p className="muted">
          Your role ({operator.role}) can't rotate the secret. Ask an admin of this tenant.
        </p>
      </Section>
    );
  return (
    <Section title="Viewer-token secret (HS256)">
      {rotated && (
        <ShownOnce
          id="new-secret"
          label="The new viewer-token secret"
          value={rotated.jwtSecret}
          copy="Copy the secret"
          onDone={() => setRotated(undefined)}
        >
          Sign viewer tokens with this secret from now on; it is shown only once. Tokens signed with the old
          secret are accepted until {when(new Date(rotated.previousSecretValidUntil).toISOString())}.
        </ShownOnce>
      )}
      <form
        className="form-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!confirm('Rotate the viewer-token secret? Your backend must sign with the new one.')) return;
          void act.run(async () => {
            const res = await client.post<{ jwtSecret: string; previousSecretValidUntil: number }>(
              '/v1/tenant/secret/rotate',
              { graceSeconds: grace },
              'Rotating the viewer-token secret',
            );
            setRotated(res);
            notify('Viewer-token secret rotated.');
          });
        }}
      >
        <Field label="Old secret accepted for">
          {(id) => (
            <select id={id} value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
              {GRACE_CHOICES.map(([s, label]) => (
                <option key={s} value={s}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" className="danger" disabled={act.busy}>
          Rotate the secret
        </button>
      </form>
      <ErrorNote error={act.error} />
    </Section>
  );
}

function ApiKeys() {
  const { client, operator, notify } = useApp();
  const keys = useLoad(
    async () => (await readAll<ApiKey>(client, '/v1/apikeys', 'apiKeys', 'Loading the API keys', 500)).items,
    [],
  );
  const [name, setName] = useState('');
  const [role, setRole] = useState('operator');
  const [created, setCreated] = useState<{ key: string; name: string } | undefined>(undefined);
  const act = useAction();
  if (!canWrite(operator.role, 'admin'))
    return (
      <Section title="API keys">
        <p className="muted">
          Your role ({operator.role}) can't see or make API keys. Ask an admin of this tenant.
        </p>
      </Section>
    );
  return (
    <Section title="API keys">
      {created && (
        <ShownOnce
          id="new-key"
          label="The new API key"
          value={created.key}
          copy="Copy the key"
          onDone={() => setCreated(undefined)}
        >
          New key <strong>{created.name || '(unnamed)'}</strong>. Copy it now: it is shown only once.
        </ShownOnce>
      )}
      <form
        className="form-row"
        onSubmit={(e) => {
          e.preventDefault();
          void act.run(async () => {
            const res = await client.post<{ key: string; name: string }>(
              '/v1/apikeys',
              { name: name.trim(), role },
              'Creating the API key',
            );
            setCreated(res);
            setName('');
            keys.reload();
          });
        }}
      >
        <Field label="Key name">
          {(id) => <input id={id} value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Key role">
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole(e.target.value)}>
              <option value="readonly">readonly</option>
              <option value="operator">operator</option>
              <option value="admin">admin</option>
            </select>
          )}
        </Field>
        <button type="submit" disabled={act.busy}>
          Create API key
        </button>
      </form>
      <ErrorNote error={act.error} />
      <LoadState state={keys} what="API keys" isEmpty={(k) => k.length === 0}>
        {(list) => (
          <div className="table-wrap">
            <table className="stack">
              <thead>
                <tr>
                  <th scope="col">Prefix</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {list.map((k) => (
                  <tr key={`${k.prefix}-${k.createdAt}`}>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td data-label="Name">{k.name || '—'}</td>
                    <td data-label="Role">{k.role}</td>
                    <td data-label="Created">{when(k.createdAt)}</td>
                    <td>
                      {k.revokedAt ? (
                        <span className="muted">revoked {when(k.revokedAt)}</span>
                      ) : (
                        <button
                          type="button"
                          className="danger"
                          aria-label={`Revoke API key ${k.name || k.prefix}`}
                          disabled={act.busy}
                          onClick={() =>
                            act.run(async () => {
                              try {
                                await client.del(`/v1/apikeys/${k.prefix}`, `Revoking key ${k.prefix}`);
                              } catch (err) {
                                if (
                                  err instanceof ApiError &&
                                  err.code === 'apikey_ambiguous' &&
                                  confirm(`${err.message}. Revoke them all?`)
                                )
                                  await client.del(`/v1/apikeys/${k.prefix}`, `Revoking keys ${k.prefix}`, {
                                    all: true,
                                  });
                                else throw err;
                              }
                              notify(`API key ${k.name || k.prefix} revoked.`);
                              keys.reload();
                            })
                          }
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </LoadState>
    </Section>
  );
}

export function SettingsPage() {
  return (
    <>
      <TenantSettings />
      <TokenSecret />
      <ApiKeys />
      <Operators />
    </>
  );
}
