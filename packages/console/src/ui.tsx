/** Shared pieces of every page: the app's context, loading/empty/error states, polling, forms. */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { type ApiClient, ApiError, explain, type Operator } from './api.ts';

export interface AppContext {
  client: ApiClient;
  operator: Operator;
  /** Shows a short confirmation at the top of the page (role="status"). */
  notify(message: string): void;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error('useApp outside the signed-in app');
  return ctx;
}

export interface Loaded<T> {
  data: T | undefined;
  /** When data last arrived (ms). */
  updatedAt: number | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/**
 * Loads with `load` on mount and on reload(); with `everyMs`, again on that interval (the previous
 * data stays shown while a refresh runs, and a failed refresh keeps it too, beside the error).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [updatedAt, setUpdatedAt] = useState<number | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller names what the load depends on
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await loadRef.current();
        if (!live) return;
        setData(value);
        setUpdatedAt(Date.now());
        setError(undefined);
      } catch (err) {
        if (live) setError(err);
      } finally {
        if (live) {
          setLoading(false);
          if (everyMs) timer = setTimeout(run, everyMs);
        }
      }
    };
    setLoading(true);
    void run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, tick, everyMs]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, updatedAt, error, loading, reload };
}

/** Runs an action, keeping its error and whether it is running. */
export function useAction(): {
  busy: boolean;
  error: unknown;
  run(fn: () => Promise<unknown>): Promise<boolean>;
  clear(): void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}

/** A failed call: what failed and what to do. Nothing when there is no error. */
export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const ctx = useContext(Ctx);
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <span>{explain(error, ctx?.operator.role)}</span>
      {onRetry && (
        <button type="button" className="link" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** The three states of anything loaded: loading, failed (with retry), empty; else its content. */
export function LoadState<T>({
  state,
  what,
  empty,
  isEmpty,
  children,
}: {
  state: Loaded<T>;
  what: string;
  empty?: ReactNode;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ReactNode;
}) {
  if (state.data === undefined) {
    if (state.error) return <ErrorNote error={state.error} onRetry={state.reload} />;
    return (
      <p className="muted" role="status">
        Loading {what}…
      </p>
    );
  }
  return (
    <>
      {state.error instanceof ApiError && state.error.kind === 'unreachable' ? (
        // The banner says the server is gone; here only that what shows is not fresh.
        <p className="stale">
          Not updated since{' '}
          {new Date(state.updatedAt ?? Date.now()).toLocaleTimeString([], { timeStyle: 'medium' })}.
        </p>
      ) : state.error ? (
        <ErrorNote error={state.error} onRetry={state.reload} />
      ) : null}
      {isEmpty?.(state.data) ? <p className="empty">{empty ?? `No ${what} yet.`}</p> : children(state.data)}
    </>
  );
}

export function Section({ title, children, id }: { title: string; children: ReactNode; id?: string }) {
  const headingId = `${id ?? title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-h`;
  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

export function Field({
  label,
  hint,
  children,
}: {
  label: string;
  hint?: string;
  children: (id: string, describedBy?: string) => ReactNode;
}) {
  const id = `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id, hint ? `${id}-hint` : undefined)}
      {hint && (
        <small id={`${id}-hint`} className="muted">
          {hint}
        </small>
      )}
    </div>
  );
}

/** A labelled number input; `onChange` gets its value as a number (NaN while empty or not a number). */
export function NumberField({
  label,
  hint,
  value,
  onChange,
  step,
  min,
  max,
}: {
  label: string;
  hint?: string;
  value: number;
  onChange: (value: number) => void;
  step: number;
  min?: number;
  max?: number;
}) {
  return (
    <Field label={label} {...(hint === undefined ? {} : { hint })}>
      {(id, describedBy) => (
        <input
          id={id}
          type="number"
          step={step}
          min={min}
          max={max}
          value={value}
          aria-describedby={describedBy}
          onChange={(e) => onChange(e.target.value === '' ? Number.NaN : Number(e.target.value))}
        />
      )}
    </Field>
  );
}

export const when = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—';

export const canWrite = (role: string, needed: 'operator' | 'admin') =>
  needed === 'operator' ? role !== 'readonly' : role === 'admin' || role === 'platform';
