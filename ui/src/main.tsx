// Start-up: read /config.json, sign in (login link or OIDC), then the app.
import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import './styles.css';
import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, useMemo, useRef } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './App';
import { createAwe } from './api/awe';
import { ApiClient } from './api/client';
import { ApiError } from './api/errors';
import { loadConfig, type ConsoleConfig } from './auth/config';
import { makeSession, SessionProvider } from './auth/session';
import { decodeClaims, identityOf } from './auth/token';
import { useAuth } from './auth/useAuth';
import { DEFAULT_FILTER } from './inbox/InboxFilters';
import { inboxQuery } from './pages/InboxPage';
import { LoginPage } from './pages/LoginPage';
import { theme } from './theme';

function Root({ config }: { config: ConsoleConfig }) {
  const { state, mode, signIn, signOut } = useAuth(config);
  const token = state.status === 'signed-in' ? state.token : null;
  const tokenRef = useRef<string | null>(token);
  tokenRef.current = token;

  const queryClient = useMemo(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            // awe's answers to a bad call do not change on a retry; only AWE-BUSY may.
            retry: (count, error) => count < 2 && error instanceof ApiError && (error.code === 'AWE-BUSY' || error.status === 0),
            refetchOnWindowFocus: true,
            staleTime: 5_000,
          },
        },
      }),
    [],
  );
  const session = useMemo(() => {
    if (!token) return null;
    const claims = decodeClaims(token);
    if (!claims) return null;
    const api = new ApiClient({
      baseUrl: config.apiBase,
      getToken: () => tokenRef.current,
      onUnauthenticated: (e) => signOut(`${e.code}: ${e.message}`),
    });
    const session = makeSession(identityOf(claims, config.claims), mode, () => { queryClient.clear(); signOut(); }, createAwe(api));
    // The inbox is most people's first page: its first page is asked for
    // now, while the app renders, rather than after.
    const path = window.location.pathname;
    if (session.permissions.inbox && (path === '/' || path === '/inbox')) {
      void queryClient.prefetchQuery(inboxQuery(session.awe, DEFAULT_FILTER, null));
    }
    return session;
  }, [token, config, mode, signOut, queryClient]);

  if (state.status === 'loading') return null;
  if (!session) return <LoginPage mode={mode} reason={state.status === 'signed-out' ? state.reason : 'The token cannot be read.'} onSignIn={signIn} />;
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider session={session}>
        <BrowserRouter>
          {/* Inside the router, so a notification can link to a page. */}
          <Notifications position="top-right" />
          <App />
        </BrowserRouter>
      </SessionProvider>
    </QueryClientProvider>
  );
}

void loadConfig().then((config) => {
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <MantineProvider theme={theme}>
        <Root config={config} />
      </MantineProvider>
    </StrictMode>,
  );
});
