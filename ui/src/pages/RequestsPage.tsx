// Requests at a glance. "My requests": those the signed-in person asked
// for (withdraw and resubmit are on each request's page). "Requests": the
// tenant's, for admins, viewers and callers.
import { Alert, Anchor, Button, Group, Loader, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusBadge } from '../components/StatusBadge';
import { SummaryBlock } from '../components/SummaryBlock';
import { formatTime, fromNow } from '../components/time';

const PAGE = 50;
const STATUSES = ['pending', 'in_review', 'changes_requested', 'approved', 'rejected', 'cancelled', 'expired', 'failed'];

export function RequestsPage({ scope }: { scope: 'mine' | 'all' }) {
  const { awe, identity } = useSession();
  const [status, setStatus] = useState<string | null>(null);
  const [policy, setPolicy] = useState('');
  const [offset, setOffset] = useState(0);
  const query = useQuery({
    queryKey: ['requests', scope, status, policy, offset],
    queryFn: () =>
      awe.requests({ requester: scope === 'mine' ? identity.actor : undefined, status: status ?? undefined, policy_key: policy || undefined, limit: PAGE, offset }),
    placeholderData: keepPreviousData,
  });
  const rows = query.data?.rows ?? [];
  const total = query.data?.total ?? null;
  const needsMe = scope === 'mine' ? rows.filter((r) => r.status === 'changes_requested').length : 0;

  return (
    <Stack>
      <Title order={1}>{scope === 'mine' ? 'My requests' : 'Requests'}</Title>
      {needsMe > 0 && (
        <Alert color="orange" data-testid="needs-revision">{needsMe} request(s) sent back to you: open one to revise and resubmit.</Alert>
      )}
      <Group align="flex-end" gap="xs">
        <Select label="Status" placeholder="any" clearable data={STATUSES.map((s) => ({ value: s, label: s.replace(/_/g, ' ') }))}
          value={status} onChange={(v) => { setStatus(v); setOffset(0); }} w={200} />
        <TextInput label="Policy" placeholder="any" value={policy} w={200} onChange={(e) => { setPolicy(e.currentTarget.value.trim()); setOffset(0); }} />
      </Group>
      <ErrorAlert error={query.error} />
      {query.isPending ? <Loader aria-label="Loading requests" /> : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped highlightOnHover data-testid="requests-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Artifact</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Policy</Table.Th>
                {scope === 'all' && <Table.Th>Requester</Table.Th>}
                <Table.Th>Updated</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr key={r.request_id} data-request-id={r.request_id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/requests/${r.request_id}`}>{r.artifact_type} {r.artifact_id}</Anchor>
                    <SummaryBlock summary={r.summary} compact />
                  </Table.Td>
                  <Table.Td><StatusBadge status={r.status} /></Table.Td>
                  <Table.Td>{r.policy_key} v{r.policy_version}</Table.Td>
                  {scope === 'all' && <Table.Td>{r.requester ?? '—'}</Table.Td>}
                  <Table.Td title={formatTime(r.updated_at)}>{fromNow(r.updated_at)}</Table.Td>
                </Table.Tr>
              ))}
              {rows.length === 0 && (
                <Table.Tr><Table.Td colSpan={5}><Text c="dimmed" size="sm">No requests.</Text></Table.Td></Table.Tr>
              )}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <Group justify="space-between">
        <Text size="sm" c="dimmed">{total !== null ? `${Math.min(offset + 1, total)}–${offset + rows.length} of ${total}` : ''}</Text>
        <Group gap="xs">
          <Button variant="default" size="xs" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>Previous page</Button>
          <Button variant="default" size="xs" disabled={rows.length < PAGE} onClick={() => setOffset(offset + PAGE)}>Next page</Button>
        </Group>
      </Group>
    </Stack>
  );
}
