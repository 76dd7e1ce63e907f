// One task in the inbox: what it is about, its stage and SLA, the summary
// when the request has one, and the actions the server allows.
import { Anchor, Badge, Checkbox, Group, Paper, Stack, Text } from '@mantine/core';
import { Link } from 'react-router';
import { TaskActions } from '../actions/TaskActions';
import type { TaskAction } from '../actions/taskAction';
import type { InboxItem } from '../api/types';
import { SlaBadge } from '../components/SlaBadge';
import { StatusBadge } from '../components/StatusBadge';
import { SummaryBlock } from '../components/SummaryBlock';
import { formatTime, fromNow } from '../components/time';
import { useSession } from '../auth/session';

export function subjectOf(item: { artifact_type: string; artifact_id: string }): string {
  return `${item.artifact_type} ${item.artifact_id}`;
}

export function InboxRow({ item, actions, selectable, selected, onSelect }: {
  item: InboxItem;
  actions: TaskAction[];
  selectable: boolean;
  selected: boolean;
  onSelect: (selected: boolean) => void;
}) {
  const subject = subjectOf(item);
  const { identity } = useSession();
  // Whose task it is, when not the viewer's own: given to them as a
  // delegate at creation (delegated_from), or reachable through a
  // delegation that started later (the assignee is someone else).
  const onBehalfOf = item.delegated_from ?? (item.assignee !== identity.actor ? item.assignee : null);
  return (
    <Paper component="li" withBorder p="sm" data-testid="inbox-row" data-task-id={item.task_id} aria-label={subject}>
      <Stack gap={6}>
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Group gap="xs" wrap="nowrap">
            {selectable && (
              <Checkbox aria-label={`Select ${subject}`} checked={selected} onChange={(e) => onSelect(e.currentTarget.checked)} />
            )}
            <Anchor component={Link} to={`/requests/${item.request_id}`} state={{ inboxItem: item }} fw={600}>
              {subject}
            </Anchor>
          </Group>
          <Group gap={6}>
            {item.request_status !== 'in_review' && <StatusBadge status={item.request_status} />}
            {item.kind === 'observer' && <Badge size="sm" variant="outline" color="gray">observer</Badge>}
            {item.kind === 'revision' && <Badge size="sm" variant="light" color="orange">sent back to you</Badge>}
            {item.required && <Badge size="sm" variant="outline" color="grape">required</Badge>}
            <SlaBadge createdAt={item.created_at} dueAt={item.due_at} />
          </Group>
        </Group>
        <Text size="sm" c="dimmed">
          {item.policy_key}{item.kind === 'revision' ? ' · revise and resubmit' : ` · stage ${item.stage ?? item.stage_index + 1}`}
          {item.requester ? ` · from ${item.requester}` : ''}
          {' · '}<span title={formatTime(item.created_at)}>{fromNow(item.created_at)}</span>
          {onBehalfOf ? ` · for ${onBehalfOf}` : ''}
          {item.claimed_by ? ` · claimed by ${item.claimed_by}` : ''}
        </Text>
        <SummaryBlock summary={item.summary} compact />
        <TaskActions task={{ taskId: item.task_id, requestId: item.request_id, subject }} actions={actions} />
      </Stack>
    </Paper>
  );
}
