// Approving several tasks at once, for rows whose approve action asks for
// nothing more (actions/taskAction.ts, bulkApprovable). Each task is its
// own decision; failures are reported by their AWE code and the rest go on.
import { Button, Group, List, Modal, Stack, Text, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { asApiError } from '../api/errors';
import type { InboxItem } from '../api/types';
import { useAwe } from '../auth/session';
import { subjectOf } from './InboxRow';

interface Outcome {
  item: InboxItem;
  error: string | null;
}

export function BulkApprove({ items, onDone }: { items: InboxItem[]; onDone: () => void }) {
  const awe = useAwe();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [comment, setComment] = useState('');
  const [outcomes, setOutcomes] = useState<Outcome[] | null>(null);

  const mutation = useMutation({
    mutationFn: async () => {
      const results: Outcome[] = [];
      // One after another: decisions on one request serialise anyway, and
      // the server is not flooded by a large selection.
      for (const item of items) {
        try {
          await awe.decide({ task_id: item.task_id, decision: 'approve', comment: comment.trim() || undefined });
          results.push({ item, error: null });
        } catch (error) {
          const e = asApiError(error);
          results.push({ item, error: `${e.code ?? ''} ${e.message}`.trim() });
        }
      }
      return results;
    },
    onSuccess: (results) => {
      void queryClient.invalidateQueries({ queryKey: ['inbox'] });
      void queryClient.invalidateQueries({ queryKey: ['requests'] });
      const failed = results.filter((r) => r.error);
      notifications.show({
        color: failed.length ? 'orange' : 'green',
        title: 'Bulk approve',
        message: `${results.length - failed.length} approved${failed.length ? `, ${failed.length} not` : ''}`,
      });
      if (failed.length) setOutcomes(failed);
      else close();
      onDone();
    },
  });

  const close = () => {
    setOpen(false);
    setOutcomes(null);
    setComment('');
  };

  return (
    <>
      <Button size="sm" color="blue.8" disabled={items.length === 0} onClick={() => setOpen(true)} data-testid="bulk-approve">
        Approve selected ({items.length})
      </Button>
      <Modal opened={open} onClose={close} title={`Approve ${items.length} task(s)`} centered>
        {outcomes ? (
          <Stack>
            <Text size="sm">These were not approved:</Text>
            <List size="sm">
              {outcomes.map((o) => <List.Item key={o.item.task_id}>{subjectOf(o.item)}: {o.error}</List.Item>)}
            </List>
            <Group justify="flex-end"><Button onClick={close}>Close</Button></Group>
          </Stack>
        ) : (
          <form onSubmit={(e) => { e.preventDefault(); mutation.mutate(); }}>
            <Stack>
              <List size="sm">{items.map((i) => <List.Item key={i.task_id}>{subjectOf(i)}</List.Item>)}</List>
              <Textarea label="Comment (for every task)" autosize minRows={2} value={comment} data-autofocus
                onChange={(e) => setComment(e.currentTarget.value)} />
              <Group justify="flex-end">
                <Button variant="default" onClick={close}>Cancel</Button>
                <Button type="submit" color="blue.8" loading={mutation.isPending}>Approve {items.length}</Button>
              </Group>
            </Stack>
          </form>
        )}
      </Modal>
    </>
  );
}
