// Request, stage and task statuses (docs/policies.md, Statuses) as badges.
import { Badge } from '@mantine/core';

const COLOR: Record<string, string> = {
  approved: 'green',
  active: 'blue',
  in_review: 'blue',
  open: 'blue',
  pending: 'gray',
  waiting: 'gray',
  resolving: 'cyan',
  changes_requested: 'orange',
  rejected: 'red',
  failed: 'red',
  cancelled: 'gray',
  expired: 'gray',
  skipped: 'gray',
  superseded: 'gray',
  reassigned: 'gray',
  abstained: 'gray',
  draft: 'yellow',
  archived: 'gray',
  delivered: 'green',
  dead: 'red',
};

export function statusLabel(status: string): string {
  return status.replace(/_/g, ' ');
}

export function StatusBadge({ status, size = 'sm' }: { status: string; size?: 'xs' | 'sm' | 'md' | 'lg' }) {
  // Dark text on light fills keeps the contrast ratio axe asks for.
  return (
    <Badge color={COLOR[status] ?? 'gray'} variant="light" size={size} data-status={status}>
      {statusLabel(status)}
    </Badge>
  );
}
