// A task's actions, working: claim and release at once; decisions and
// withdrawals after a confirmation dialog; resubmit on the request page,
// where the context can be edited.
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { Anchor, Text } from '@mantine/core';
import type { AweRequest } from '../api/types';
import { useAwe } from '../auth/session';
import { statusLabel } from '../components/StatusBadge';
import { ActionButtons } from './ActionButtons';
import { DecisionDialog, type DecisionInput } from './DecisionDialog';
import { actionKind, type TaskAction } from './taskAction';

export interface TaskRef {
  taskId: string;
  requestId: string;
  /** What the task is about, for titles and messages ("expense_report EXP-42"). */
  subject: string;
}

/** Everything that shows a request or a task reads again after an action. */
export function useRefreshAfterAction() {
  const queryClient = useQueryClient();
  return (requestId: string) => {
    void queryClient.invalidateQueries({ queryKey: ['inbox'] });
    void queryClient.invalidateQueries({ queryKey: ['requests'] });
    void queryClient.invalidateQueries({ queryKey: ['request', requestId] });
    void queryClient.invalidateQueries({ queryKey: ['timeline', requestId] });
  };
}

export function TaskActions({ task, actions }: { task: TaskRef; actions: TaskAction[] }) {
  const awe = useAwe();
  const navigate = useNavigate();
  const refresh = useRefreshAfterAction();
  const [dialog, setDialog] = useState<TaskAction | null>(null);

  const mutation = useMutation({
    mutationFn: async ({ action, input }: { action: TaskAction; input?: DecisionInput }): Promise<AweRequest> => {
      switch (actionKind(action.action)) {
        case 'claim':
          return awe.claim(task.taskId);
        case 'release':
          return awe.release(task.taskId);
        case 'withdraw':
          return awe.withdraw(task.requestId, input?.comment);
        case 'comment':
          return awe.comment(task.requestId, input?.comment ?? '', task.taskId);
        default:
          return awe.decide({ task_id: task.taskId, decision: action.action, comment: input?.comment, data: input?.data });
      }
    },
    onSuccess: (request, { action }) => {
      setDialog(null);
      refresh(task.requestId);
      const kind = actionKind(action.action);
      if (kind === 'claim' || kind === 'release') {
        notifications.show({ color: 'green', title: `${action.label}: done`, message: task.subject });
        return;
      }
      notifications.show({
        color: 'green',
        title: `${action.label}: done`,
        message: (
          <Text size="sm" span>
            {task.subject}: the request is {statusLabel(request?.status ?? 'updated')}.{' '}
            <Anchor component={Link} to={`/requests/${task.requestId}`} size="sm">Open the request</Anchor>
          </Text>
        ),
      });
    },
  });

  const onAction = (action: TaskAction) => {
    const kind = actionKind(action.action);
    if (kind === 'claim' || kind === 'release') mutation.mutate({ action });
    else if (kind === 'resubmit') navigate(`/requests/${task.requestId}?resubmit=1`);
    else {
      mutation.reset();
      setDialog(action);
    }
  };

  return (
    <>
      <ActionButtons actions={actions} onAction={onAction} busy={mutation.isPending} context={task.subject} />
      <DecisionDialog action={dialog} subject={task.subject} busy={mutation.isPending} error={mutation.error}
        onClose={() => setDialog(null)} onConfirm={(input) => dialog && mutation.mutate({ action: dialog, input })} />
    </>
  );
}
