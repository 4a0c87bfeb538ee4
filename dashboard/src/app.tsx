/**
 * The shell: session gate (restoring, login, pages), navigation by role, the live-connection
 * badge, and the client routes. Paths the dashboard server answers with index.html: `/` and
 * `/dashboard` (Overview), `/backends`, `/routes`, `/billing`, `/ai`, `/security`, `/tenants`, `/users`, `/logs`, `/login`.
 */
import { useEffect, useRef, type ReactNode } from 'react';
import { useServices, useSession } from './app-context.js';
import type { User } from './api/types.js';
import { permissionsOf } from './auth/session.js';
import { Loading, StreamBadge } from './components/states.js';
import { Link, navigate, usePath } from './router.js';
import { useStream } from './streams/hooks.js';
import { AiPage } from './pages/ai.js';
import { BackendsPage } from './pages/backends.js';
import { BillingPage } from './pages/billing.js';
import { LoginPage } from './pages/login.js';
import { LogsPage } from './pages/logs.js';
import { OverviewPage } from './pages/overview.js';
import { RoutesPage } from './pages/routes.js';
import { SecurityPage } from './pages/security.js';
import { TenantsPage } from './pages/tenants.js';
import { UsersPage } from './pages/users.js';

type Access = 'viewer' | 'admin' | 'platformAdmin';

interface PageEntry {
  paths: readonly string[];
  title: string;
  access: Access;
  render: () => ReactNode;
}

const PAGES: readonly PageEntry[] = [
  { paths: ['/', '/dashboard'], title: 'Overview', access: 'viewer', render: () => <OverviewPage /> },
  { paths: ['/backends'], title: 'Backends', access: 'viewer', render: () => <BackendsPage /> },
  { paths: ['/routes'], title: 'Routes & pools', access: 'viewer', render: () => <RoutesPage /> },
  { paths: ['/billing'], title: 'Billing', access: 'viewer', render: () => <BillingPage /> },
  { paths: ['/ai'], title: 'AI', access: 'viewer', render: () => <AiPage /> },
  { paths: ['/security'], title: 'Security', access: 'viewer', render: () => <SecurityPage /> },
  { paths: ['/tenants'], title: 'Tenants', access: 'admin', render: () => <TenantsPage /> },
  { paths: ['/users'], title: 'Users', access: 'admin', render: () => <UsersPage /> },
  { paths: ['/logs'], title: 'Logs', access: 'platformAdmin', render: () => <LogsPage /> },
];

function allowed(access: Access, user: User): boolean {
  const can = permissionsOf(user);
  return access === 'viewer' || (access === 'admin' ? can.administer : can.platformAdmin);
}

function normalise(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function App() {
  const session = useSession();
  const { streams } = useServices();
  const path = normalise(usePath());
  const userId = session.status === 'authenticated' ? session.user.id : undefined;

  // Streams authenticate when they connect: a new identity needs new connections.
  useEffect(() => () => streams.closeAll(), [streams, userId]);

  useEffect(() => {
    if (session.status === 'anonymous' && path !== '/login') navigate(`/login?next=${encodeURIComponent(location.pathname)}`, { replace: true });
  }, [session.status, path]);

  if (session.status === 'restoring') {
    return (
      <main className="login" id="main">
        <Loading what="your session" />
      </main>
    );
  }
  // After login the session turns authenticated while the path is still /login: the redirect below takes over.
  if (session.status === 'anonymous') return <LoginPage />;
  if (path === '/login') {
    return <Redirect to={nextAfterLogin()} />;
  }
  return <Shell user={session.user} path={path} />;
}

function nextAfterLogin(): string {
  const next = new URLSearchParams(location.search).get('next');
  // Only a path of this site: never an absolute URL someone put in a link (open redirect).
  return next !== null && next.startsWith('/') && !next.startsWith('//') && next !== '/login' ? next : '/';
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function Shell({ user, path }: { user: User; path: string }) {
  const { session } = useServices();
  const metrics = useStream('metrics');
  const page = PAGES.find((p) => p.paths.includes(path));
  const main = useRef<HTMLElement>(null);
  const title = page === undefined ? 'Not found' : allowed(page.access, user) ? page.title : 'Not allowed';

  useEffect(() => {
    document.title = `${title} · VeloFlux`;
  }, [title]);
  // After a client-side navigation, focus goes to the new page (as a full page load would).
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [path]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="VeloFlux overview">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          VeloFlux
        </Link>
        <nav aria-label="Main" className="nav">
          <ul>
            {PAGES.filter((p) => allowed(p.access, user)).map((p) => (
              <li key={p.paths[0]}>
                <Link to={p.paths.includes(path) ? path : p.paths[0]!}>{p.title}</Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <StreamBadge snapshot={metrics} label="Connection" />
          <span className="user" title={user.email}>
            <span className="user-email">{user.email}</span> <span className="tag" data-testid="role">{user.role}</span>
          </span>
          <button type="button" className="button small" onClick={() => void session.logout().then(() => navigate('/login', { replace: true }))}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1} className="content">
        {page === undefined ? (
          <>
            <h1>Not found</h1>
            <p>
              There is no page at <code>{path}</code>. <Link to="/">Go to the overview</Link>.
            </p>
          </>
        ) : !allowed(page.access, user) ? (
          <>
            <h1>Not allowed</h1>
            <p>The {page.title} page is for {page.access === 'admin' ? 'admins' : 'admins without a tenant'}; you are logged in as {user.role}.</p>
          </>
        ) : (
          page.render()
        )}
      </main>
    </div>
  );
}
