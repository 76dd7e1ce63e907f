// Operations: webhook endpoints (rotate the secret, enable/disable),
// deliveries and dead letters with replay, the backlog, the worker and
// the audit log. Parts that need views awe does not expose through REST
// yet say so (docs/console.md, "What the console needs from the API").
import { Badge, Button, Code, CopyButton, Group, Loader, Modal, Paper, Select, SimpleGrid, Stack, Table, Tabs, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import type { Delivery, Endpoint } from '../api/types';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { NotAvailable } from '../components/NotAvailable';
import { StatusBadge } from '../components/StatusBadge';
import { formatTime, fromNow } from '../components/time';

function EndpointRow({ endpoint }: { endpoint: Endpoint }) {
  const { awe } = useSession();
  const queryClient = useQueryClient();
  const [secret, setSecret] = useState<string | null>(null);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const [overlap, setOverlap] = useState('24 hours');
  const [reason, setReason] = useState('');
  const [toggling, setToggling] = useState(false);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['endpoints'] });
  const rotate = useMutation({
    mutationFn: () => awe.rotateEndpointSecret(endpoint.endpoint_id, overlap),
    onSuccess: (r) => { setConfirmRotate(false); setSecret(r.secret); void refresh(); },
  });
  const toggle = useMutation({
    mutationFn: () => awe.setEndpointEnabled(endpoint.endpoint_id, !endpoint.enabled, reason),
    onSuccess: () => {
      setToggling(false);
      notifications.show({ color: 'green', title: endpoint.enabled ? 'Disabled' : 'Enabled', message: endpoint.url });
      void refresh();
    },
  });
  return (
    <Table.Tr data-endpoint-id={endpoint.endpoint_id}>
      <Table.Td><Text size="sm" style={{ wordBreak: 'break-all' }}>{endpoint.url}</Text>{endpoint.description && <Text size="xs" c="dimmed">{endpoint.description}</Text>}</Table.Td>
      <Table.Td>
        <Badge variant="light" color={endpoint.enabled ? 'green' : 'gray'}>{endpoint.enabled ? 'enabled' : 'disabled'}</Badge>
        {endpoint.disabled_reason && <Text size="xs" c="dimmed">{endpoint.disabled_reason}</Text>}
      </Table.Td>
      <Table.Td>{endpoint.active_secrets}</Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          <Button size="xs" variant="default" onClick={() => setConfirmRotate(true)}>Rotate secret</Button>
          <Button size="xs" variant="default" onClick={() => setToggling(true)}>{endpoint.enabled ? 'Disable' : 'Enable'}</Button>
        </Group>
        <Modal opened={confirmRotate} onClose={() => setConfirmRotate(false)} title="Rotate the signing secret" centered>
          <form onSubmit={(e) => { e.preventDefault(); rotate.mutate(); }}>
            <Stack>
              <Text size="sm">A new secret signs every webhook from now on; the old one keeps signing beside it for the overlap, so the receiver can switch.</Text>
              <TextInput label="Overlap" value={overlap} onChange={(e) => setOverlap(e.currentTarget.value)} data-autofocus />
              <ErrorAlert error={rotate.error} />
              <Group justify="flex-end"><Button type="submit" color="blue.8" loading={rotate.isPending}>Rotate</Button></Group>
            </Stack>
          </form>
        </Modal>
        <Modal opened={secret !== null} onClose={() => setSecret(null)} title="The new secret (shown once)" centered>
          <Stack>
            <Code block data-testid="new-secret">{secret}</Code>
            <Group justify="flex-end">
              <CopyButton value={secret ?? ''}>{({ copied, copy }) => <Button variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
              <Button onClick={() => setSecret(null)}>Done</Button>
            </Group>
          </Stack>
        </Modal>
        <Modal opened={toggling} onClose={() => setToggling(false)} title={`${endpoint.enabled ? 'Disable' : 'Enable'} ${endpoint.url}`} centered>
          <form onSubmit={(e) => { e.preventDefault(); toggle.mutate(); }}>
            <Stack>
              <Text size="sm">{endpoint.enabled ? 'Deliveries to it wait (nothing is lost) until it is enabled again.' : 'Waiting deliveries go out again.'}</Text>
              <TextInput label="Reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-autofocus />
              <ErrorAlert error={toggle.error} />
              <Group justify="flex-end"><Button type="submit" color="blue.8" loading={toggle.isPending}>{endpoint.enabled ? 'Disable' : 'Enable'}</Button></Group>
            </Stack>
          </form>
        </Modal>
      </Table.Td>
    </Table.Tr>
  );
}

function Endpoints() {
  const { awe } = useSession();
  const q = useQuery({ queryKey: ['endpoints'], queryFn: () => awe.endpoints() });
  if (q.isPending) return <Loader size="sm" aria-label="Loading endpoints" />;
  return (
    <>
      <ErrorAlert error={q.error} />
      <Table.ScrollContainer minWidth={560}>
        <Table data-testid="endpoints-table">
          <Table.Thead><Table.Tr><Table.Th>Endpoint</Table.Th><Table.Th>State</Table.Th><Table.Th>Live secrets</Table.Th><Table.Th /></Table.Tr></Table.Thead>
          <Table.Tbody>
            {(q.data ?? []).map((e) => <EndpointRow key={e.endpoint_id} endpoint={e} />)}
            {q.data?.length === 0 && <Table.Tr><Table.Td colSpan={4}><Text size="sm" c="dimmed">No endpoints registered.</Text></Table.Td></Table.Tr>}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </>
  );
}

export function Deliveries({ deadOnly }: { deadOnly: boolean }) {
  const { awe, permissions } = useSession();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<string | null>(deadOnly ? 'dead' : null);
  const [offset, setOffset] = useState(0);
  const q = useQuery({
    queryKey: ['deliveries', status, offset],
    queryFn: () => awe.deliveries({ status: status ?? undefined, limit: 50, offset }),
    placeholderData: keepPreviousData,
  });
  const replay = useMutation({
    mutationFn: (d: Delivery) => awe.replayDelivery(d.delivery_id),
    onSuccess: (n, d) => {
      notifications.show({ color: 'green', title: 'Replayed', message: `${n} delivery queued again (#${d.delivery_id} ${d.event_type})` });
      void queryClient.invalidateQueries({ queryKey: ['deliveries'] });
      void queryClient.invalidateQueries({ queryKey: ['backlog'] });
    },
  });
  const rows = q.data?.rows ?? [];
  return (
    <Stack gap="xs">
      {!deadOnly && (
        <Select label="Status" w={200} clearable placeholder="any" value={status} onChange={(v) => { setStatus(v); setOffset(0); }}
          data={[{ value: 'pending', label: 'pending' }, { value: 'delivered', label: 'delivered' }, { value: 'dead', label: 'dead' }]} />
      )}
      <ErrorAlert error={q.error ?? replay.error} />
      {q.isPending ? <Loader size="sm" aria-label="Loading deliveries" /> : (
        <Table.ScrollContainer minWidth={720}>
          <Table striped data-testid={deadOnly ? 'dead-letters-table' : 'deliveries-table'}>
            <Table.Thead>
              <Table.Tr><Table.Th>#</Table.Th><Table.Th>Event</Table.Th><Table.Th>Request</Table.Th><Table.Th>Status</Table.Th><Table.Th>Attempts</Table.Th><Table.Th>Last answer</Table.Th><Table.Th>Created</Table.Th><Table.Th /></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((d) => (
                <Table.Tr key={d.delivery_id} data-delivery-id={d.delivery_id}>
                  <Table.Td>{d.delivery_id}</Table.Td>
                  <Table.Td>{d.event_type} <Text span size="xs" c="dimmed">#{d.seq}</Text></Table.Td>
                  <Table.Td><Link to={`/requests/${d.request_id}`}><Code>{d.request_id.slice(0, 8)}</Code></Link></Table.Td>
                  <Table.Td><StatusBadge status={d.status} />{d.status === 'pending' && d.next_attempt_at && <Text size="xs" c="dimmed">next {fromNow(d.next_attempt_at)}</Text>}</Table.Td>
                  <Table.Td>{d.attempts}</Table.Td>
                  <Table.Td><Text size="xs" style={{ wordBreak: 'break-word' }}>{d.last_status ?? ''} {d.last_error ?? ''}</Text></Table.Td>
                  <Table.Td title={formatTime(d.created_at)}>{fromNow(d.created_at)}</Table.Td>
                  <Table.Td>
                    {permissions.operations && (d.status === 'dead' || d.status === 'delivered') && (
                      <Button size="xs" variant={d.status === 'dead' ? 'filled' : 'default'} color={d.status === 'dead' ? 'blue.8' : undefined}
                        loading={replay.isPending && replay.variables?.delivery_id === d.delivery_id}
                        aria-label={`Replay delivery ${d.delivery_id}`} onClick={() => replay.mutate(d)}>Replay</Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
              {rows.length === 0 && <Table.Tr><Table.Td colSpan={8}><Text size="sm" c="dimmed">{deadOnly ? 'No dead letters.' : 'No deliveries.'}</Text></Table.Td></Table.Tr>}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <Group justify="space-between">
        <Text size="sm" c="dimmed">{q.data?.total != null ? `${q.data.total} in all` : ''}</Text>
        <Group gap="xs">
          <Button size="xs" variant="default" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - 50))}>Previous page</Button>
          <Button size="xs" variant="default" disabled={rows.length < 50} onClick={() => setOffset(offset + 50)}>Next page</Button>
        </Group>
      </Group>
    </Stack>
  );
}

/** Waiting and dead deliveries: awe's delivery_backlog view when exposed, else counted from /deliveries. */
function Backlog() {
  const { awe } = useSession();
  const q = useQuery({
    queryKey: ['backlog'],
    queryFn: async () => {
      const view = await awe.deliveryBacklog();
      const [pending, dead] = await Promise.all([awe.deliveryCount('pending'), awe.deliveryCount('dead')]);
      return { view, pending, dead };
    },
    refetchInterval: 10_000,
  });
  if (q.isPending) return <Loader size="sm" aria-label="Loading the backlog" />;
  if (q.error) return <ErrorAlert error={q.error} />;
  return (
    <Stack gap="xs" data-testid="backlog">
      <SimpleGrid cols={{ base: 2, sm: 4 }}>
        <Paper withBorder p="sm"><Text size="xs" c="dimmed">Waiting deliveries</Text><Text size="xl" fw={700} data-testid="backlog-pending">{q.data.pending ?? '?'}</Text></Paper>
        <Paper withBorder p="sm"><Text size="xs" c="dimmed">Dead letters</Text><Text size="xl" fw={700} data-testid="backlog-dead">{q.data.dead ?? '?'}</Text></Paper>
      </SimpleGrid>
      {q.data.view.available ? (
        <Table data-testid="backlog-table">
          <Table.Thead><Table.Tr><Table.Th>Endpoint</Table.Th><Table.Th>Status</Table.Th><Table.Th>Deliveries</Table.Th><Table.Th>Oldest due</Table.Th><Table.Th>Most attempts</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {q.data.view.value.map((b, i) => (
              <Table.Tr key={i}>
                <Table.Td>{String(b.url ?? '')}</Table.Td><Table.Td>{String(b.status ?? '')}</Table.Td><Table.Td>{String(b.deliveries ?? '')}</Table.Td>
                <Table.Td>{formatTime(b.oldest_due as string)}</Table.Td><Table.Td>{String(b.max_attempts ?? '')}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : (
        <NotAvailable what="Backlog per endpoint" needs="GET /delivery_backlog" />
      )}
    </Stack>
  );
}

function WorkerStatus() {
  const { awe } = useSession();
  const q = useQuery({ queryKey: ['worker_status'], queryFn: () => awe.workerStatus(), refetchInterval: 10_000 });
  if (q.isPending) return <Loader size="sm" aria-label="Loading the worker status" />;
  if (q.error) return <ErrorAlert error={q.error} />;
  if (!q.data.available) return <NotAvailable what="Worker status" needs="GET /worker_status" />;
  const w = q.data.value[0];
  if (!w) return <Text size="sm" c="dimmed">No worker has reported yet.</Text>;
  return (
    <SimpleGrid cols={{ base: 2, sm: 4 }} data-testid="worker-status">
      {Object.entries(w).map(([k, v]) => (
        <Paper key={k} withBorder p="xs"><Text size="xs" c="dimmed">{k.replace(/_/g, ' ')}</Text><Text size="sm">{String(v ?? '')}</Text></Paper>
      ))}
    </SimpleGrid>
  );
}

function AuditLog() {
  const { awe } = useSession();
  const q = useQuery({ queryKey: ['audit'], queryFn: () => awe.auditEvents(100) });
  if (q.isPending) return <Loader size="sm" aria-label="Loading the audit log" />;
  if (q.error) return <ErrorAlert error={q.error} />;
  if (!q.data.available) {
    return (
      <Stack gap="xs">
        <NotAvailable what="Tenant-wide audit log" needs="GET /events" />
        <Text size="sm">Each request's audit trail, with its hash chain verified, is on the request's page.</Text>
      </Stack>
    );
  }
  return (
    <Table data-testid="audit-table">
      <Table.Thead><Table.Tr><Table.Th>When</Table.Th><Table.Th>Event</Table.Th><Table.Th>Actor</Table.Th><Table.Th>Request</Table.Th></Table.Tr></Table.Thead>
      <Table.Tbody>
        {q.data.value.map((e) => (
          <Table.Tr key={e.event_id}>
            <Table.Td>{formatTime(e.created_at)}</Table.Td><Table.Td>{e.type}</Table.Td><Table.Td>{e.actor}</Table.Td>
            <Table.Td><Link to={`/requests/${e.request_id}`}><Code>{e.request_id.slice(0, 8)}</Code></Link></Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function OperationsPage() {
  const { permissions } = useSession();
  return (
    <Stack>
      <Title order={1}>Operations</Title>
      <Tabs defaultValue={permissions.operations ? 'endpoints' : 'deliveries'} keepMounted={false}>
        <Tabs.List>
          {permissions.operations && <Tabs.Tab value="endpoints">Endpoints</Tabs.Tab>}
          <Tabs.Tab value="deliveries">Deliveries</Tabs.Tab>
          <Tabs.Tab value="dead">Dead letters</Tabs.Tab>
          <Tabs.Tab value="backlog">Backlog</Tabs.Tab>
          <Tabs.Tab value="worker">Worker</Tabs.Tab>
          <Tabs.Tab value="audit">Audit log</Tabs.Tab>
        </Tabs.List>
        {permissions.operations && <Tabs.Panel value="endpoints" pt="sm"><Title order={2} size="h4" mb="xs">Webhook endpoints</Title><Endpoints /></Tabs.Panel>}
        <Tabs.Panel value="deliveries" pt="sm"><Deliveries deadOnly={false} /></Tabs.Panel>
        <Tabs.Panel value="dead" pt="sm"><Deliveries deadOnly /></Tabs.Panel>
        <Tabs.Panel value="backlog" pt="sm"><Backlog /></Tabs.Panel>
        <Tabs.Panel value="worker" pt="sm"><WorkerStatus /></Tabs.Panel>
        <Tabs.Panel value="audit" pt="sm"><AuditLog /></Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
