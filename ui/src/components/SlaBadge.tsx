// A task's SLA state as a badge; the due time in full on hover. (A plain
// title rather than a Tooltip: the inbox renders fifty of these at once.)
import { Badge } from '@mantine/core';
import { slaState } from './sla';
import { formatTime, fromNow } from './time';

const LOOK = {
  overdue: { color: 'red', text: 'overdue' },
  due_soon: { color: 'orange', text: 'due soon' },
  on_track: { color: 'green', text: 'on track' },
} as const;

export function SlaBadge({ createdAt, dueAt }: { createdAt: string; dueAt: string | null }) {
  const state = slaState(createdAt, dueAt);
  if (state === 'none' || !dueAt) return null;
  const look = LOOK[state];
  return (
    <Badge color={look.color} variant="light" size="sm" data-sla={state} title={`due ${formatTime(dueAt)}`}>
      {look.text} · due {fromNow(dueAt)}
    </Badge>
  );
}
