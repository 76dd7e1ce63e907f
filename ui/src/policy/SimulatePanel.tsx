// Simulate: a context in, the predicted path and approvers out (awe's
// simulate, which writes nothing). Drafts can be simulated before they
// are activated.
import { Badge, Button, Group, JsonInput, List, Paper, Select, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import type { PolicyVersion, Simulation } from '../api/types';
import { useAwe } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { exclusionLabel } from '../request/stageReasons';

const PREDICTION = {
  approved_at_once: { color: 'green', text: 'approved at once (every stage skipped)' },
  blocked: { color: 'red', text: 'blocked: a stage finds nobody to approve' },
  needs_review: { color: 'blue', text: 'needs review' },
} as Record<string, { color: string; text: string }>;

const OUTCOME_COLOR: Record<string, string> = { runs: 'blue', skipped: 'gray', resolving: 'cyan', empty: 'red' };

/** A starting context: the fields the policy's context_schema requires, empty. */
export function sampleContext(definition: Record<string, unknown> | undefined): string {
  const schema = (definition?.context_schema ?? {}) as { required?: string[]; properties?: Record<string, { type?: string }> };
  const sample: Record<string, unknown> = {};
  for (const name of schema.required ?? []) {
    const type = schema.properties?.[name]?.type;
    sample[name] = type === 'number' || type === 'integer' ? 0 : type === 'boolean' ? false : '';
  }
  return JSON.stringify(sample, null, 2);
}

export function SimulationResult({ result }: { result: Simulation }) {
  const prediction = PREDICTION[result.prediction] ?? { color: 'gray', text: result.prediction };
  return (
    <Stack gap="xs" data-testid="simulation-result">
      <Group gap="xs">
        <Text fw={600}>Prediction</Text>
        <Badge color={prediction.color} variant="light" data-prediction={result.prediction}>{prediction.text}</Badge>
        <Text size="sm" c="dimmed">{result.policy_key} v{result.version}</Text>
      </Group>
      {result.context_problems.length > 0 && (
        <Paper withBorder p="xs">
          <Text size="sm" fw={600} c="red.9">The context would be refused (context_schema):</Text>
          <List size="sm">{result.context_problems.map((p, i) => <List.Item key={i}>{p.path || '(context)'}: {p.message}</List.Item>)}</List>
        </Paper>
      )}
      <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} spacing="xs">
        {result.stages.map((s) => (
          <Paper key={s.index} withBorder p="xs" data-testid="simulated-stage" data-outcome={s.outcome}>
            <Group justify="space-between">
              <Text fw={600} size="sm">{s.name}</Text>
              <Badge color={OUTCOME_COLOR[s.outcome] ?? 'gray'} variant="light">{s.outcome}</Badge>
            </Group>
            <Text size="xs" c="dimmed">step {s.step + 1}{s.reason ? ` · ${s.reason}` : ''}</Text>
            {s.approvers.length > 0 && (
              <List size="sm" mt={4}>
                {s.approvers.map((a) => (
                  <List.Item key={a.principal}>
                    {a.principal}{a.delegated_from ? ` (for ${a.delegated_from})` : ''}
                    {a.required ? ' · required' : ''}{a.kind === 'observer' ? ' · observer' : ''}
                  </List.Item>
                ))}
              </List>
            )}
            {s.excluded.length > 0 && (
              <Text size="xs" c="dimmed" mt={4}>not asked: {s.excluded.map((x) => `${x.principal} (${exclusionLabel(x.reason)})`).join(', ')}</Text>
            )}
          </Paper>
        ))}
      </SimpleGrid>
    </Stack>
  );
}

export function SimulatePanel({ policyKey, versions, initialVersion }: { policyKey: string; versions: PolicyVersion[]; initialVersion?: number }) {
  const awe = useAwe();
  const [version, setVersion] = useState<string | null>(initialVersion !== undefined ? String(initialVersion) : versions[0] ? String(versions[0].version) : null);
  const definition = versions.find((v) => String(v.version) === version)?.definition;
  const [context, setContext] = useState(() => sampleContext(definition));
  const [requester, setRequester] = useState('');
  const run = useMutation({
    mutationFn: () => awe.simulate(policyKey, JSON.parse(context), version ? Number(version) : undefined, requester.trim()),
  });
  let contextOk = true;
  try {
    const v = JSON.parse(context);
    contextOk = v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    contextOk = false;
  }
  return (
    <Paper withBorder p="sm">
      <Title order={2} size="h4" mb="xs">Simulate</Title>
      <form onSubmit={(e) => { e.preventDefault(); if (contextOk) run.mutate(); }}>
        <Stack gap="xs">
          <Group align="flex-end" gap="xs">
            <Select label="Version" w={200} allowDeselect={false} value={version} onChange={setVersion}
              data={versions.map((v) => ({ value: String(v.version), label: `v${v.version} (${v.status})` }))} />
            <TextInput label="Requester" w={200} value={requester} onChange={(e) => setRequester(e.currentTarget.value)} />
          </Group>
          <JsonInput label="Context" autosize minRows={4} maxRows={16} formatOnBlur validationError="not valid JSON"
            value={context} onChange={setContext} data-testid="simulate-context" />
          <Group justify="flex-end">
            <Button type="submit" color="blue.8" loading={run.isPending} disabled={!contextOk}>Simulate</Button>
          </Group>
        </Stack>
      </form>
      <ErrorAlert error={run.error} />
      {run.data && <SimulationResult result={run.data} />}
    </Paper>
  );
}
