// Routes: each page for the roles that may use it (docs/console.md).
import { Stack, Text, Title } from '@mantine/core';
import { lazy, Suspense } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { useSession } from './auth/session';
import { AppLayout } from './components/AppLayout';
import { InboxPage } from './pages/InboxPage';
import { RequestDetailPage } from './pages/RequestDetailPage';
import { RequestsPage } from './pages/RequestsPage';

// The editor and the admin pages load on first use, so the inbox does not wait for them.
const PoliciesPage = lazy(() => import('./pages/PoliciesPage').then((m) => ({ default: m.PoliciesPage })));
const PolicyPage = lazy(() => import('./pages/PolicyPage').then((m) => ({ default: m.PolicyPage })));
const DirectoryPage = lazy(() => import('./pages/DirectoryPage').then((m) => ({ default: m.DirectoryPage })));
const OperationsPage = lazy(() => import('./pages/OperationsPage').then((m) => ({ default: m.OperationsPage })));
const DelegationsPage = lazy(() => import('./pages/DelegationsPage').then((m) => ({ default: m.DelegationsPage })));

function NotFound() {
  return (
    <Stack>
      <Title order={1}>Not here</Title>
      <Text>This page does not exist, or your role does not include it.</Text>
    </Stack>
  );
}

export function App() {
  const { permissions: p } = useSession();
  const home = p.inbox ? '/inbox' : p.allRequests ? '/requests' : '/my-requests';
  return (
    <Suspense fallback={null}>
      <Routes>
        <Route element={<AppLayout />}>
          <Route index element={<Navigate to={home} replace />} />
          {p.inbox && <Route path="inbox" element={<InboxPage />} />}
          {p.myRequests && <Route path="my-requests" element={<RequestsPage key="mine" scope="mine" />} />}
          {p.allRequests && <Route path="requests" element={<RequestsPage key="all" scope="all" />} />}
          <Route path="requests/:id" element={<RequestDetailPage />} />
          {p.ownDelegations && <Route path="delegations" element={<DelegationsPage />} />}
          {p.readPolicies && <Route path="policies" element={<PoliciesPage />} />}
          {p.editPolicies && <Route path="policies/new" element={<PolicyPage key="new" />} />}
          {p.readPolicies && <Route path="policies/:key" element={<PolicyPage />} />}
          {p.directory && <Route path="directory" element={<DirectoryPage />} />}
          {p.deliveries && <Route path="operations" element={<OperationsPage />} />}
          <Route path="callback" element={<Navigate to={home} replace />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
