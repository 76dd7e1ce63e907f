// Two versions of a policy side by side, as canonical YAML, with their
// differences marked (CodeMirror's merge view).
import { yaml } from '@codemirror/lang-yaml';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { Group, Paper, Select, Text, Title } from '@mantine/core';
import { useState } from 'react';
import CodeMirrorMerge from 'react-codemirror-merge';
import type { PolicyVersion } from '../api/types';
import { toYamlText } from './policyText';

const readOnly = [yaml(), EditorView.editable.of(false), EditorState.readOnly.of(true), EditorView.lineWrapping];

export function PolicyDiff({ versions }: { versions: PolicyVersion[] }) {
  const options = versions.map((v) => ({ value: String(v.version), label: `v${v.version} (${v.status})` }));
  // By default the newest version against the one before; the defaults
  // follow the list (a version just saved appears), a choice made stays.
  const [chosenLeft, setLeft] = useState<string | null>(null);
  const [chosenRight, setRight] = useState<string | null>(null);
  const left = chosenLeft ?? (versions[1] ? String(versions[1].version) : options[0]?.value ?? null);
  const right = chosenRight ?? options[0]?.value ?? null;
  const a = versions.find((v) => String(v.version) === left);
  const b = versions.find((v) => String(v.version) === right);
  return (
    <Paper withBorder p="sm">
      <Title order={2} size="h4" mb="xs">Compare versions</Title>
      <Group gap="xs" mb="sm">
        <Select label="From" w={180} data={options} value={left} onChange={setLeft} allowDeselect={false} />
        <Select label="To" w={180} data={options} value={right} onChange={setRight} allowDeselect={false} />
      </Group>
      {versions.length < 2 && <Text size="sm" c="dimmed">Only one version so far.</Text>}
      {a && b && (
        <div data-testid="policy-diff">
          <CodeMirrorMerge orientation="a-b" highlightChanges gutter>
            <CodeMirrorMerge.Original value={toYamlText(a.definition)} extensions={readOnly} />
            <CodeMirrorMerge.Modified value={toYamlText(b.definition)} extensions={readOnly} />
          </CodeMirrorMerge>
        </div>
      )}
    </Paper>
  );
}
