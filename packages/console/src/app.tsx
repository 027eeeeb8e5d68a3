/**
 * The app: sign-in, then the shell (header, navigation, the page). Routes are paths under the base
 * (/admin/…), so a page can be bookmarked and reloaded (the server answers every /admin path with the app).
 */
import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiClient, type ApiError, type ConsoleSession } from './api.ts';
import { AssetsPage } from './pages/assets.tsx';
import { BansPage } from './pages/bans.tsx';
import { LeaksPage } from './pages/leaks.tsx';
import { LivePage } from './pages/live.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { SessionsPage } from './pages/sessions.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { SignIn } from './pages/signin.tsx';
import { WatermarkPage } from './pages/watermark.tsx';
import { Ctx } from './ui.tsx';

export const PAGES: { path: string; title: string; render: () => ReactNode }[] = [
  { path: '', title: 'Overview', render: () => <OverviewPage /> },
  { path: 'watermark', title: 'Watermark', render: () => <WatermarkPage /> },
  { path: 'bans', title: 'Bans', render: () => <BansPage /> },
  { path: 'sessions', title: 'Sessions', render: () => <SessionsPage /> },
  { path: 'leaks', title: 'Leak tracing', render: () => <LeaksPage /> },
  { path: 'live', title: 'Live channels', render: () => <LivePage /> },
  { path: 'assets', title: 'Assets', render: () => <AssetsPage /> },
  { path: 'settings', title: 'Settings', render: () => <SettingsPage /> },
];

const BASE = (import.meta.env?.BASE_URL ?? '/admin/').replace(/\/?$/, '/');

function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
  return p.replace(/\/$/, '');
}

export function App({ client: given }: { client?: ApiClient }) {
  const [unreachable, setUnreachable] = useState(false);
  const [session, setSession] = useState<ConsoleSession | null | undefined>(undefined);
  const [signInMessage, setSignInMessage] = useState<string | undefined>(undefined);
  const [path, setPath] = useState(currentPath());
  const [notice, setNotice] = useState('');
  const noticeTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const signedOut = useRef(false);
  const client = useMemo(() => given ?? new ApiClient(''), [given]);

  useEffect(() => {
    client.events = {
      onReachable: () => setUnreachable(false),
      onUnreachable: () => setUnreachable(true),
      onSignedOut: (err: ApiError) => {
        // The first refusal says why; the calls still in flight then find the cookie cleared.
        if (signedOut.current) return;
        signedOut.current = true;
        setSession(null);
        setSignInMessage(
          err.code === 'console_session_expired'
            ? 'Your session has expired. Sign in again to continue.'
            : 'You were signed out. Sign in again to continue.',
        );
      },
    };
  }, [client]);

  const check = useCallback(async () => {
    try {
      setSession(await client.session());
    } catch (err) {
      const e = err as ApiError;
      if (e.kind === 'unreachable') {
        // Keep trying: the banner says so; sign-in shows once the server answers.
        setTimeout(check, 3000);
        return;
      }
      if (e.code === 'console_session_expired') setSignInMessage('Your session has expired. Sign in again.');
      setSession(null);
    }
  }, [client]);

  useEffect(() => {
    void check();
  }, [check]);

  useEffect(() => {
    const onPop = () => setPath(currentPath());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  const page = PAGES.find((p) => p.path === path) ?? PAGES[0]!;
  useEffect(() => {
    document.title = `${page.title} · Vigil console`;
  }, [page]);

  const navigate = (to: string) => {
    history.pushState(null, '', `${BASE}${to}`);
    setPath(to);
    // Move focus to the new page's heading, for keyboard and screen-reader users.
    requestAnimationFrame(() => document.getElementById('page-title')?.focus());
  };

  const notify = useCallback((message: string) => {
    setNotice(message);
    clearTimeout(noticeTimer.current);
    noticeTimer.current = setTimeout(() => setNotice(''), 6000);
  }, []);

  const banner = unreachable && (
    <div className="banner" role="alert">
      Vigil is not reachable. Check that the server is running; the console keeps retrying.
    </div>
  );

  if (session === undefined) {
    return (
      <>
        {banner}
        <main className="signin">
          <p role="status">Loading the console…</p>
        </main>
      </>
    );
  }
  if (session === null) {
    return (
      <>
        {banner}
        <SignIn
          client={client}
          message={signInMessage}
          onSignedIn={(s) => {
            signedOut.current = false;
            setSignInMessage(undefined);
            setSession(s);
          }}
        />
      </>
    );
  }

  const { operator } = session;
  return (
    <Ctx.Provider value={{ client, operator, notify }}>
      <a className="skip" href="#page-title">
        Skip to content
      </a>
      {banner}
      <header className="top">
        <span className="brand">Vigil</span>
        <span className="who">
          {operator.name} · <span className="role">{operator.role}</span> · tenant {operator.tenantId}
        </span>
        <button
          type="button"
          className="secondary"
          onClick={async () => {
            await client.signOut().catch(() => {});
            setSignInMessage('You signed out.');
            setSession(null);
          }}
        >
          Sign out
        </button>
      </header>
      <nav aria-label="Console pages" className="nav">
        <ul>
          {PAGES.map((p) => (
            <li key={p.path}>
              <a
                href={`${BASE}${p.path}`}
                aria-current={p === page ? 'page' : undefined}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey) return;
                  e.preventDefault();
                  navigate(p.path);
                }}
              >
                {p.title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main className="page">
        <h1 id="page-title" tabIndex={-1}>
          {page.title}
        </h1>
        <div className="notice" role="status" aria-live="polite">
          {notice}
        </div>
        {page.render()}
      </main>
    </Ctx.Provider>
  );
}
