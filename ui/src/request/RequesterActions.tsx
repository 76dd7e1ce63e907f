// What the person who asked may do with their request: withdraw it while
// it is undecided, and after request_changes revise the context and
// resubmit it (docs/policies.md, "Sending back").
import { Alert, Button, Group, JsonInput, Modal, Paper, Stack, Text, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import type { AweRequest, TimelineEvent } from '../api/types';
import { useAwe } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { useRefreshAfterAction } from '../actions/TaskActions';

export const UNDECIDED = ['pending', 'in_review', 'changes_requested'];

/** The latest send-back: who asked for changes and what they said. */
export function lastSendBack(events: TimelineEvent[]): { actor: string; comment: string | null } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type === 'request.changes_requested') {
      return { actor: e.actor, comment: typeof e.data?.comment === 'string' ? e.data.comment : null };
    }
  }
  return null;
}

export function RequesterActions({ request, events, openResubmit }: { request: AweRequest; events: TimelineEvent[]; openResubmit: boolean }) {
  const awe = useAwe();
  const refresh = useRefreshAfterAction();
  const [context, setContext] = useState(() => JSON.stringify(request.context, null, 2));
  const [comment, setComment] = useState('');
  const [withdrawing, setWithdrawing] = useState(false);
  const [reason, setReason] = useState('');

  const resubmit = useMutation({
    mutationFn: () => awe.resubmit(request.request_id, JSON.parse(context) as Record<string, unknown>, comment.trim()),
    onSuccess: (r) => {
      refresh(request.request_id);
      setComment('');
      notifications.show({ color: 'green', title: 'Resubmitted', message: `revision ${r.revision}: the request is ${r.status.replace(/_/g, ' ')}` });
    },
  });
  const withdraw = useMutation({
    mutationFn: () => awe.withdraw(request.request_id, reason.trim()),
    onSuccess: () => {
      setWithdrawing(false);
      refresh(request.request_id);
      notifications.show({ color: 'green', title: 'Withdrawn', message: `${request.artifact_id} is withdrawn` });
    },
  });

  if (!UNDECIDED.includes(request.status)) return null;
  const sendBack = lastSendBack(events);
  let contextValid = true;
  try {
    const v = JSON.parse(context);
    contextValid = v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    contextValid = false;
  }

  return (
    <Paper withBorder p="sm" data-testid="requester-actions">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4">Your request</Title>
        <Button color="red.9" variant="outline" size="xs" onClick={() => setWithdrawing(true)}>Withdraw</Button>
      </Group>
      {request.status === 'changes_requested' && (
        <form onSubmit={(e) => { e.preventDefault(); if (contextValid) resubmit.mutate(); }} id={openResubmit ? 'resubmit' : undefined}>
          <Stack gap="xs">
            <Alert color="orange" title="Changes requested">
              {sendBack ? `${sendBack.actor} sent it back${sendBack.comment ? `: “${sendBack.comment}”` : '.'}` : 'It was sent back to you.'}
              {' '}Revise the context and resubmit.
            </Alert>
            <JsonInput label="Context" autosize minRows={4} maxRows={20} formatOnBlur validationError="not valid JSON"
              value={context} onChange={setContext} data-autofocus={openResubmit || undefined} />
            <Textarea label="Comment" autosize minRows={2} value={comment} onChange={(e) => setComment(e.currentTarget.value)} />
            <ErrorAlert error={resubmit.error} />
            <Group justify="flex-end">
              <Button type="submit" color="blue.8" loading={resubmit.isPending} disabled={!contextValid}>Resubmit</Button>
            </Group>
          </Stack>
        </form>
      )}
      {request.status !== 'changes_requested' && (
        <Text size="sm" c="dimmed">Waiting for approvers. You may withdraw it until it is decided.</Text>
      )}
      <Modal opened={withdrawing} onClose={() => setWithdrawing(false)} title={`Withdraw ${request.artifact_id}`} centered>
        <form onSubmit={(e) => { e.preventDefault(); withdraw.mutate(); }}>
          <Stack>
            <Textarea label="Reason" autosize minRows={2} value={reason} data-autofocus onChange={(e) => setReason(e.currentTarget.value)} />
            <ErrorAlert error={withdraw.error} />
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setWithdrawing(false)}>Keep it</Button>
              <Button type="submit" color="red.9" loading={withdraw.isPending}>Withdraw</Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </Paper>
  );
}
