// One policy (or a new one): its versions; the YAML/JSON editor with every
// problem at its JSON path as you type; saving (a draft in place, else a
// new draft version); activate/deactivate; compare versions; simulate.
import { Badge, Button, Group, Loader, Paper, SegmentedControl, Stack, Table, Tabs, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate, useParams, useSearchParams } from 'react-router';
import { ApiError } from '../api/errors';
import type { PolicyVersion } from '../api/types';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusBadge } from '../components/StatusBadge';
import { formatTime } from '../components/time';
import { locateValidationProblems, type LocatedProblem } from '../policy/locatedProblems';
import { PolicyDiff } from '../policy/PolicyDiff';
import { PolicyEditor, type EditorHandle } from '../policy/PolicyEditor';
import { convertText, parsePolicyText, toJsonText, toYamlText, type PolicyFormat } from '../policy/policyText';
import { ProblemList } from '../policy/ProblemList';
import { SimulatePanel } from '../policy/SimulatePanel';
import { usePolicyValidation } from '../policy/usePolicyValidation';

export const NEW_POLICY_TEMPLATE = `key: my.policy
artifact_type: my_artifact
title: My policy
stages:
  - name: Review
    mode: any
    rules:
      - {type: group, group: /reviewers}
`;

/** The version to open first: the newest draft, else the active one, else the newest. */
export function defaultVersion(versions: PolicyVersion[]): PolicyVersion | undefined {
  return versions.find((v) => v.status === 'draft') ?? versions.find((v) => v.status === 'active') ?? versions[0];
}

export function PolicyPage() {
  const { key: routeKey } = useParams();
  const isNew = routeKey === undefined;
  const [search, setSearch] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { awe, permissions } = useSession();

  const versions = useQuery({
    queryKey: ['policies', routeKey],
    queryFn: () => awe.policyVersions(routeKey!),
    enabled: !isNew,
  });
  const list = useMemo(() => versions.data ?? [], [versions.data]);
  const requested = search.get('version');
  const selected = isNew ? undefined : list.find((v) => String(v.version) === requested) ?? defaultVersion(list);

  const [format, setFormat] = useState<PolicyFormat>('yaml');
  const [text, setText] = useState(isNew ? NEW_POLICY_TEMPLATE : '');
  const [loadedFor, setLoadedFor] = useState<string | null>(null);
  const editor = useRef<EditorHandle | null>(null);

  // Load the selected version's definition into the editor once per version.
  useEffect(() => {
    if (!selected) return;
    const id = `${selected.policy_key}@${selected.version}`;
    if (loadedFor !== id) {
      setText(format === 'yaml' ? toYamlText(selected.definition) : toJsonText(selected.definition));
      setLoadedFor(id);
    }
  }, [selected, loadedFor, format]);

  const validation = usePolicyValidation(text, permissions.editPolicies);
  const editable = permissions.editPolicies;
  const savesInPlace = selected?.status === 'draft';

  // The text saved is the mutation's variable, so an answer is only shown for the text it was about.
  const save = useMutation({
    mutationFn: async (document: string) => {
      if (savesInPlace && selected) {
        const parsed = parsePolicyText(document);
        if (parsed.value === undefined) throw new ApiError('AWE-BAD-INPUT', parsed.syntaxProblems[0]?.message ?? 'the document cannot be read', 400);
        return awe.updatePolicyDraft(selected.policy_key, selected.version, parsed.value);
      }
      return awe.importPolicy(document, format);
    },
    onSuccess: (saved) => {
      notifications.show({ color: 'green', title: 'Saved', message: `${saved.policy_key} v${saved.version} (draft)` });
      void queryClient.invalidateQueries({ queryKey: ['policies'] });
      setLoadedFor(null);
      if (saved.policy_key !== routeKey) navigate(`/policies/${encodeURIComponent(saved.policy_key)}?version=${saved.version}`);
      else setSearch({ version: String(saved.version) });
    },
  });
  // The server's answer to a save is authoritative: its problems are shown at their places.
  const saveProblems: LocatedProblem[] = useMemo(() => {
    const e = save.error;
    if (!(e instanceof ApiError) || save.variables !== text) return [];
    if (e.problems.length > 0) return locateValidationProblems(text, parsePolicyText(text).doc, e.problems);
    return [];
  }, [save.error, text]);

  const activation = useMutation({
    mutationFn: (v: { action: 'activate' | 'deactivate'; version: number }) =>
      v.action === 'activate' ? awe.activatePolicy(routeKey!, v.version) : awe.deactivatePolicy(routeKey!),
    onSuccess: (_, v) => {
      notifications.show({ color: 'green', title: v.action === 'activate' ? 'Activated' : 'Deactivated', message: `${routeKey} v${v.version}` });
      void queryClient.invalidateQueries({ queryKey: ['policies'] });
    },
  });

  if (!isNew && versions.isPending) return <Loader aria-label="Loading the policy" />;
  if (!isNew && versions.error) return <ErrorAlert error={versions.error} />;

  const problems = saveProblems.length > 0 ? saveProblems : validation.problems;
  const changeFormat = (to: string) => {
    const converted = convertText(text, to as PolicyFormat);
    if (converted !== null) setText(converted);
    setFormat(to as PolicyFormat);
  };

  return (
    <Stack>
      <Group justify="space-between">
        <div>
          <Title order={1}>{isNew ? 'New policy' : routeKey}</Title>
          {selected?.title && <Text c="dimmed">{selected.title}</Text>}
        </div>
      </Group>

      {!isNew && (
        <Paper withBorder p="sm">
          <Title order={2} size="h4" mb="xs">Versions</Title>
          <Table.ScrollContainer minWidth={520}>
            <Table data-testid="policy-versions">
              <Table.Thead>
                <Table.Tr><Table.Th>Version</Table.Th><Table.Th>Status</Table.Th><Table.Th>Created</Table.Th><Table.Th>Activated</Table.Th><Table.Th /></Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.map((v) => (
                  <Table.Tr key={v.version} aria-selected={v.version === selected?.version} data-version={v.version}
                    bg={v.version === selected?.version ? 'var(--mantine-color-blue-0)' : undefined}>
                    <Table.Td>v{v.version}{v.version === selected?.version && <Badge ml={6} size="xs" variant="outline">open</Badge>}</Table.Td>
                    <Table.Td><StatusBadge status={v.status} /></Table.Td>
                    <Table.Td>{formatTime(v.created_at)}{v.created_by ? ` by ${v.created_by}` : ''}</Table.Td>
                    <Table.Td>{formatTime(v.activated_at)}</Table.Td>
                    <Table.Td>
                      <Group gap={4} justify="flex-end" wrap="nowrap">
                        {v.version !== selected?.version && (
                          <Button size="xs" variant="default" onClick={() => { setLoadedFor(null); setSearch({ version: String(v.version) }); }}>Open v{v.version}</Button>
                        )}
                        {editable && v.status === 'draft' && (
                          <Button size="xs" color="blue.8" loading={activation.isPending} onClick={() => activation.mutate({ action: 'activate', version: v.version })}>Activate v{v.version}</Button>
                        )}
                        {editable && v.status === 'active' && (
                          <Button size="xs" variant="outline" color="red.9" loading={activation.isPending} onClick={() => activation.mutate({ action: 'deactivate', version: v.version })}>Deactivate</Button>
                        )}
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <ErrorAlert error={activation.error} />
        </Paper>
      )}

      <Tabs defaultValue="editor" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="editor">{editable ? 'Editor' : 'Definition'}</Tabs.Tab>
          {!isNew && <Tabs.Tab value="compare">Compare versions</Tabs.Tab>}
          {!isNew && permissions.simulate && <Tabs.Tab value="simulate">Simulate</Tabs.Tab>}
        </Tabs.List>

        <Tabs.Panel value="editor" pt="sm">
          <Stack gap="xs">
            <Group justify="space-between">
              <SegmentedControl size="xs" value={format} onChange={changeFormat} aria-label="Document format"
                data={[{ value: 'yaml', label: 'YAML' }, { value: 'json', label: 'JSON' }]} />
              <Group gap="xs">
                {editable && (
                  <Text size="sm" c={validation.valid ? 'green.9' : 'dimmed'} aria-live="polite" data-testid="validation-state">
                    {!validation.current ? 'checking…' : validation.valid ? 'valid' : validation.problems.length ? `${validation.problems.length} problem(s)` : ''}
                  </Text>
                )}
                {editable && (
                  <Button color="blue.8" loading={save.isPending} onClick={() => save.mutate(text)} data-testid="save-policy">
                    {isNew ? 'Save as draft' : savesInPlace ? `Save draft v${selected?.version}` : 'Save as new draft version'}
                  </Button>
                )}
              </Group>
            </Group>
            <PolicyEditor value={text} onChange={setText} format={format} problems={problems}
              problemsForText={problems === saveProblems ? text : validation.checkedText}
              readOnly={!editable} onReady={(h) => (editor.current = h)} label={`Policy document (${format.toUpperCase()})`} />
            {save.variables === text && <ErrorAlert error={save.error} title="Not saved" hideProblems />}
            <ProblemList problems={problems} onReveal={(p) => editor.current?.reveal(p.from)} />
            <ErrorAlert error={validation.error} title="Could not validate" />
          </Stack>
        </Tabs.Panel>

        {!isNew && (
          <Tabs.Panel value="compare" pt="sm">
            <PolicyDiff versions={list} />
          </Tabs.Panel>
        )}
        {!isNew && permissions.simulate && (
          <Tabs.Panel value="simulate" pt="sm">
            <SimulatePanel key={selected?.version} policyKey={routeKey!} versions={list} initialVersion={selected?.version} />
          </Tabs.Panel>
        )}
      </Tabs>
    </Stack>
  );
}
