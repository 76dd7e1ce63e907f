// Policies of the tenant: each key with its active version and drafts.
import { Anchor, Badge, Button, Group, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import type { PolicyVersion } from '../api/types';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { formatTime } from '../components/time';

export interface PolicySummary {
  key: string;
  title: string | null;
  artifactType: string;
  active: number | null;
  drafts: number[];
  versions: number;
  updatedAt: string;
}

export function summarisePolicies(rows: PolicyVersion[]): PolicySummary[] {
  const byKey = new Map<string, PolicySummary>();
  for (const v of rows) {
    let s = byKey.get(v.policy_key);
    if (!s) byKey.set(v.policy_key, (s = { key: v.policy_key, title: null, artifactType: v.artifact_type, active: null, drafts: [], versions: 0, updatedAt: v.created_at }));
    s.versions++;
    if (v.status === 'active') { s.active = v.version; s.title = v.title; }
    if (v.status === 'draft') s.drafts.push(v.version);
    if (!s.title) s.title = v.title;
    if (v.created_at > s.updatedAt) s.updatedAt = v.created_at;
  }
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}

export function PoliciesPage() {
  const { awe, permissions } = useSession();
  const query = useQuery({ queryKey: ['policies'], queryFn: () => awe.policies() });
  const policies = summarisePolicies(query.data ?? []);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Policies</Title>
        {permissions.editPolicies && <Button component={Link} to="/policies/new" color="blue.8">New policy</Button>}
      </Group>
      <ErrorAlert error={query.error} />
      {query.isPending ? <Loader aria-label="Loading policies" /> : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped data-testid="policies-table">
            <Table.Thead>
              <Table.Tr><Table.Th>Policy</Table.Th><Table.Th>Artifact type</Table.Th><Table.Th>Active</Table.Th><Table.Th>Drafts</Table.Th><Table.Th>Last version</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {policies.map((p) => (
                <Table.Tr key={p.key}>
                  <Table.Td>
                    <Anchor component={Link} to={`/policies/${encodeURIComponent(p.key)}`}>{p.key}</Anchor>
                    {p.title && <Text size="xs" c="dimmed">{p.title}</Text>}
                  </Table.Td>
                  <Table.Td>{p.artifactType}</Table.Td>
                  <Table.Td>{p.active !== null ? <Badge color="green" variant="light">v{p.active}</Badge> : <Text size="sm" c="dimmed">none</Text>}</Table.Td>
                  <Table.Td>{p.drafts.map((d) => `v${d}`).join(', ')}</Table.Td>
                  <Table.Td>{formatTime(p.updatedAt)}</Table.Td>
                </Table.Tr>
              ))}
              {policies.length === 0 && <Table.Tr><Table.Td colSpan={5}><Text size="sm" c="dimmed">No policies yet.</Text></Table.Td></Table.Tr>}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
