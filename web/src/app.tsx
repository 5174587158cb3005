import { useEffect, useRef, useState } from 'preact/hooks';
import { session, setUnauthenticatedHandler } from './api';
import { Link, match, navigate, useLocation } from './router';
import { InstancesPage } from './pages/instances';
import { MarketplacePage } from './pages/marketplace';
import { RunDetailPage } from './pages/run-detail';
import { RunsPage } from './pages/runs';
import { SignInPage } from './pages/sign-in';
import { SummaryPage } from './pages/summary';
import { WorkflowDetailPage } from './pages/workflow-detail';
import { WorkflowsPage } from './pages/workflows';

const NAV = [
  { href: '/workflows', label: 'Workflows' },
  { href: '/runs', label: 'Runs' },
  { href: '/summary', label: 'Summary' },
  { href: '/marketplace', label: 'Marketplace' },
  { href: '/instances', label: 'Instances' },
];

function Page({ path }: { path: string }) {
  let params: Record<string, string> | null;
  if ((params = match('/workflows/:id', path))) return <WorkflowDetailPage key={params.id} id={params.id!} />;
  if ((params = match('/runs/:id', path))) return <RunDetailPage key={params.id} id={params.id!} />;
  switch (path.replace(/\/+$/, '') || '/') {
    case '/runs':
      return <RunsPage />;
    case '/summary':
      return <SummaryPage />;
    case '/marketplace':
      return <MarketplacePage />;
    case '/instances':
      return <InstancesPage />;
    case '/':
    case '/workflows':
      return <WorkflowsPage />;
    default:
      return (
        <>
          <h1>Page not found</h1>
          <p>
            Nothing lives at <code>{path}</code>. <Link href="/workflows">Go to the workflows</Link>.
          </p>
        </>
      );
  }
}

export function App() {
  const [signedIn, setSignedIn] = useState(() => session.key() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  const { path } = useLocation();

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      session.signOut();
      setNotice('Your API key was refused (revoked or invalid); sign in again.');
      setSignedIn(false);
    });
  }, []);

  useEffect(() => {
    if (signedIn && path === '/') navigate('/workflows', { replace: true });
  }, [signedIn, path]);

  // After an in-app navigation, move focus to the new page so keyboard and screen reader
  // users start there (the first render keeps the browser's own focus).
  const firstPath = useRef(true);
  useEffect(() => {
    if (firstPath.current) {
      firstPath.current = false;
      return;
    }
    if (signedIn) document.getElementById('main')?.focus({ preventScroll: true });
  }, [path]);

  useEffect(() => {
    const page = NAV.find((item) => path.startsWith(item.href))?.label;
    document.title = page ? `${page} · Stepwise` : 'Stepwise';
  }, [path]);

  if (!signedIn) {
    return (
      <main id="main" class="signin">
        <SignInPage
          notice={notice}
          onSignedIn={() => {
            setNotice(null);
            setSignedIn(true);
            if (path === '/') navigate('/workflows', { replace: true });
          }}
        />
      </main>
    );
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">Stepwise</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={path.startsWith(item.href) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            session.signOut();
            setSignedIn(false);
            navigate('/');
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}
