// Filters of the inbox: the inbox function's own (status, policy key,
// artifact type). Applied on submit, so typing does not query per key.
import { Button, Group, Select, TextInput } from '@mantine/core';
import { useState } from 'react';

export interface InboxFilter {
  status: string | null;
  policy_key: string;
  artifact_type: string;
}

export const DEFAULT_FILTER: InboxFilter = { status: 'open', policy_key: '', artifact_type: '' };

const STATUSES = [
  { value: 'open', label: 'Open' },
  { value: 'any', label: 'Any status' },
  { value: 'approved', label: 'Approved' },
  { value: 'rejected', label: 'Rejected' },
  { value: 'changes_requested', label: 'Changes requested' },
  { value: 'skipped', label: 'Skipped' },
];

export function InboxFilters({ value, onChange }: { value: InboxFilter; onChange: (f: InboxFilter) => void }) {
  const [draft, setDraft] = useState(value);
  return (
    <form role="search" aria-label="Filter the inbox" onSubmit={(e) => { e.preventDefault(); onChange(draft); }}>
      <Group align="flex-end" gap="xs" wrap="wrap">
        <Select label="Task status" data={STATUSES} value={draft.status ?? 'any'} allowDeselect={false} w={170}
          onChange={(v) => setDraft({ ...draft, status: v === 'any' ? null : v })} />
        <TextInput label="Policy" placeholder="expense.report" value={draft.policy_key} w={170}
          onChange={(e) => setDraft({ ...draft, policy_key: e.currentTarget.value })} />
        <TextInput label="Artifact type" placeholder="expense_report" value={draft.artifact_type} w={170}
          onChange={(e) => setDraft({ ...draft, artifact_type: e.currentTarget.value })} />
        <Button type="submit" variant="default">Apply</Button>
      </Group>
    </form>
  );
}
