// Out of office: a person lets someone act for them for a while
// (set_delegation); an admin may do it for anyone. Revoking ends it.
import { Badge, Button, Group, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { formatTime } from '../components/time';

/** `datetime-local` input value → ISO time (the browser's zone). */
function toIso(local: string): string {
  return new Date(local).toISOString();
}

function localInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function DelegationsPage({ embedded = false }: { embedded?: boolean }) {
  const { awe, identity, permissions } = useSession();
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ['delegations'], queryFn: () => awe.delegations() });
  const now = new Date();
  const [form, setForm] = useState({
    principal_id: '',
    delegate_id: '',
    starts_at: localInput(now),
    ends_at: localInput(new Date(now.getTime() + 7 * 86_400_000)),
    reason: '',
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['delegations'] });
  const create = useMutation({
    mutationFn: () =>
      awe.setDelegation({
        delegate_id: form.delegate_id.trim(),
        starts_at: toIso(form.starts_at),
        ends_at: toIso(form.ends_at),
        reason: form.reason.trim(),
        principal_id: permissions.allDelegations ? form.principal_id.trim() || undefined : undefined,
      }),
    onSuccess: () => {
      notifications.show({ color: 'green', title: 'Delegation set', message: `${form.delegate_id} may act for ${form.principal_id || identity.actor}` });
      setForm({ ...form, delegate_id: '', reason: '' });
      void refresh();
    },
  });
  const revoke = useMutation({ mutationFn: (id: string) => awe.revokeDelegation(id), onSuccess: () => void refresh() });

  return (
    <Stack>
      <Title order={embedded ? 2 : 1} size={embedded ? 'h3' : undefined}>Delegations</Title>
      <Text size="sm" c="dimmed">While a delegation is active, the delegate gets the tasks of the person who is away and may decide them.</Text>
      <Paper withBorder p="sm">
        <Title order={embedded ? 3 : 2} size="h4" mb="xs">{permissions.allDelegations ? 'Delegate tasks' : 'Delegate my tasks'}</Title>
        <form onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
          <Group align="flex-end" gap="xs" wrap="wrap">
            {permissions.allDelegations && (
              <TextInput label="For (principal)" placeholder={identity.actor} value={form.principal_id} w={160}
                onChange={(e) => setForm({ ...form, principal_id: e.currentTarget.value })} />
            )}
            <TextInput label="Delegate" required value={form.delegate_id} w={160}
              onChange={(e) => setForm({ ...form, delegate_id: e.currentTarget.value })} />
            <TextInput type="datetime-local" label="From" required value={form.starts_at} w={210}
              onChange={(e) => setForm({ ...form, starts_at: e.currentTarget.value })} />
            <TextInput type="datetime-local" label="Until" required value={form.ends_at} w={210}
              onChange={(e) => setForm({ ...form, ends_at: e.currentTarget.value })} />
            <TextInput label="Reason" value={form.reason} w={200} onChange={(e) => setForm({ ...form, reason: e.currentTarget.value })} />
            <Button type="submit" loading={create.isPending} color="blue.8">Delegate</Button>
          </Group>
        </form>
        <ErrorAlert error={create.error} />
      </Paper>
      <ErrorAlert error={list.error ?? revoke.error} />
      <Table.ScrollContainer minWidth={640}>
        <Table data-testid="delegations-table">
          <Table.Thead>
            <Table.Tr><Table.Th>Who</Table.Th><Table.Th>Delegate</Table.Th><Table.Th>Window</Table.Th><Table.Th>Reason</Table.Th><Table.Th>State</Table.Th><Table.Th /></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(list.data ?? []).map((d) => (
              <Table.Tr key={d.delegation_id}>
                <Table.Td>{d.principal_id}</Table.Td>
                <Table.Td>{d.delegate_id}</Table.Td>
                <Table.Td>{formatTime(d.starts_at)} – {formatTime(d.ends_at)}</Table.Td>
                <Table.Td>{d.reason ?? ''}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={d.revoked_at ? 'gray' : d.active ? 'green' : 'blue'}>
                    {d.revoked_at ? 'revoked' : d.active ? 'active' : new Date(d.ends_at) < now ? 'ended' : 'scheduled'}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  {!d.revoked_at && new Date(d.ends_at) > now && (d.principal_id === identity.actor || permissions.allDelegations) && (
                    <Button size="xs" variant="default" onClick={() => revoke.mutate(d.delegation_id)}
                      aria-label={`Revoke the delegation of ${d.principal_id} to ${d.delegate_id}`}>Revoke</Button>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
            {list.data?.length === 0 && <Table.Tr><Table.Td colSpan={6}><Text size="sm" c="dimmed">No delegations.</Text></Table.Td></Table.Tr>}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}
