// The tenant's directory: principals, role grants, group members,
// delegations, and the directory source's sync status when awe has one.
import { Alert, Badge, Code, Loader, Stack, Table, Tabs, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { formatTime } from '../components/time';
import { DelegationsPage } from './DelegationsPage';

function grouped<T>(rows: T[], key: (r: T) => string, value: (r: T) => string): [string, string[]][] {
  const map = new Map<string, string[]>();
  for (const r of rows) {
    const k = key(r);
    if (!map.has(k)) map.set(k, []);
    map.get(k)!.push(value(r));
  }
  return [...map.entries()];
}

function SyncStatus() {
  const { awe } = useSession();
  const q = useQuery({ queryKey: ['directory_sync_status'], queryFn: () => awe.directorySyncStatus() });
  if (q.isPending) return <Loader size="sm" aria-label="Loading the sync status" />;
  if (q.error) return <ErrorAlert error={q.error} />;
  if (!q.data.available || q.data.value.length === 0) {
    return <Alert color="gray" title="No directory source" data-testid="sync-status">Principals, roles and groups are managed in awe directly.</Alert>;
  }
  const rows = q.data.value;
  const columns = Object.keys(rows[0]);
  return (
    <Table.ScrollContainer minWidth={500}>
      <Table data-testid="sync-status">
        <Table.Thead><Table.Tr>{columns.map((c) => <Table.Th key={c}>{c.replace(/_/g, ' ')}</Table.Th>)}</Table.Tr></Table.Thead>
        <Table.Tbody>
          {rows.map((r, i) => (
            <Table.Tr key={i}>
              {columns.map((c) => {
                const v = r[c];
                const text = typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? formatTime(v) : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '');
                return <Table.Td key={c}>{text}</Table.Td>;
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

export function DirectoryPage() {
  const { awe, permissions } = useSession();
  const principals = useQuery({ queryKey: ['principals'], queryFn: () => awe.principals() });
  const roles = useQuery({ queryKey: ['role_grants'], queryFn: () => awe.roleGrants() });
  const groups = useQuery({ queryKey: ['group_members'], queryFn: () => awe.groupMembers() });
  return (
    <Stack>
      <Title order={1}>Directory</Title>
      <Tabs defaultValue="principals" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="principals">Principals</Tabs.Tab>
          <Tabs.Tab value="roles">Roles</Tabs.Tab>
          <Tabs.Tab value="groups">Groups</Tabs.Tab>
          {permissions.allDelegations && <Tabs.Tab value="delegations">Delegations</Tabs.Tab>}
          <Tabs.Tab value="sync">Sync status</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="principals" pt="sm">
          <ErrorAlert error={principals.error} />
          <Table.ScrollContainer minWidth={560}>
            <Table striped data-testid="principals-table">
              <Table.Thead><Table.Tr><Table.Th>Principal</Table.Th><Table.Th>Name</Table.Th><Table.Th>Email</Table.Th><Table.Th>State</Table.Th><Table.Th>Attributes</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {(principals.data ?? []).map((p) => (
                  <Table.Tr key={p.principal_id}>
                    <Table.Td>{p.principal_id}</Table.Td>
                    <Table.Td>{p.display_name ?? ''}</Table.Td>
                    <Table.Td>{p.email ?? ''}</Table.Td>
                    <Table.Td><Badge variant="light" color={p.active ? 'green' : 'gray'}>{p.active ? 'active' : 'inactive'}</Badge></Table.Td>
                    <Table.Td>{p.attributes && Object.keys(p.attributes).length ? <Code>{JSON.stringify(p.attributes)}</Code> : ''}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {principals.data?.length === 0 && <Text size="sm" c="dimmed">No principals registered (rules may still name users directly).</Text>}
        </Tabs.Panel>
        <Tabs.Panel value="roles" pt="sm">
          <ErrorAlert error={roles.error} />
          <Table data-testid="roles-table">
            <Table.Thead><Table.Tr><Table.Th>Role</Table.Th><Table.Th>Principals</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {grouped(roles.data ?? [], (r) => r.role, (r) => r.principal_id).map(([role, members]) => (
                <Table.Tr key={role}><Table.Td>{role}</Table.Td><Table.Td>{members.join(', ')}</Table.Td></Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Tabs.Panel>
        <Tabs.Panel value="groups" pt="sm">
          <ErrorAlert error={groups.error} />
          <Table data-testid="groups-table">
            <Table.Thead><Table.Tr><Table.Th>Group</Table.Th><Table.Th>Members</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {grouped(groups.data ?? [], (g) => g.group_path, (g) => g.principal_id).map(([path, members]) => (
                <Table.Tr key={path}><Table.Td><Code>{path}</Code></Table.Td><Table.Td>{members.join(', ')}</Table.Td></Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Tabs.Panel>
        {permissions.allDelegations && (
          <Tabs.Panel value="delegations" pt="sm"><DelegationsPage embedded /></Tabs.Panel>
        )}
        <Tabs.Panel value="sync" pt="sm"><SyncStatus /></Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
