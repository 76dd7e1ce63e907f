// A task's actions as buttons: label, and colour by severity.
import { Button, Group } from '@mantine/core';
import { orderForDisplay, type Severity, type TaskAction } from './taskAction';

export const SEVERITY_LOOK: Record<Severity, { color: string; variant: 'filled' | 'outline' | 'default' }> = {
  primary: { color: 'blue.8', variant: 'filled' },
  danger: { color: 'red.9', variant: 'filled' },
  neutral: { color: 'gray', variant: 'default' },
};

export function ActionButtons({ actions, onAction, busy, context }: {
  actions: TaskAction[];
  onAction: (action: TaskAction) => void;
  busy?: boolean;
  /** Names what the buttons act on, for screen readers ("EXP-42"). */
  context?: string;
}) {
  if (actions.length === 0) return null;
  return (
    <Group gap="xs" wrap="wrap" data-testid="task-actions">
      {orderForDisplay(actions).map((a) => {
        const look = SEVERITY_LOOK[a.severity];
        return (
          <Button key={a.action} size="xs" color={look.color} variant={look.variant} disabled={busy}
            data-action={a.action} data-severity={a.severity}
            aria-label={context ? `${a.label} ${context}` : undefined}
            onClick={() => onAction(a)}>
            {a.label}
          </Button>
        );
      })}
    </Group>
  );
}
