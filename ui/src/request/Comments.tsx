// What people said on the request: comments, decision comments and
// send-back notes, from its events; and a box to add one.
import { Button, Group, Paper, Stack, Text, Textarea, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import type { TimelineEvent } from '../api/types';
import { useAwe } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { formatTime } from '../components/time';
import { useRefreshAfterAction } from '../actions/TaskActions';

export function commentsOf(events: TimelineEvent[]) {
  return events
    .map((e) => {
      const d = e.data ?? {};
      const text = e.type === 'comment.added' ? d.body : e.type === 'task.decided' ? d.comment : null;
      if (typeof text !== 'string' || !text) return null;
      const context = e.type === 'task.decided' ? `${String(d.decision).replace(/_/g, ' ')}${e.stage ? ` at ${e.stage}` : ''}` : e.stage ?? null;
      return { id: e.event_id, author: e.actor, text, at: e.created_at, context };
    })
    .filter((c): c is NonNullable<typeof c> => c !== null);
}

export function Comments({ requestId, events, canComment }: { requestId: string; events: TimelineEvent[]; canComment: boolean }) {
  const awe = useAwe();
  const refresh = useRefreshAfterAction();
  const [body, setBody] = useState('');
  const add = useMutation({
    mutationFn: () => awe.comment(requestId, body.trim()),
    onSuccess: () => {
      setBody('');
      refresh(requestId);
    },
  });
  const comments = commentsOf(events);
  return (
    <Paper withBorder p="sm">
      <Title order={2} size="h4" mb="sm">Comments</Title>
      <Stack gap="xs" data-testid="comments">
        {comments.length === 0 && <Text size="sm" c="dimmed">No comments yet.</Text>}
        {comments.map((c) => (
          <div key={c.id}>
            <Text size="sm"><b>{c.author}</b>{c.context ? <Text span c="dimmed"> ({c.context})</Text> : null}</Text>
            <Text size="sm">{c.text}</Text>
            <Text size="xs" c="dimmed">{formatTime(c.at)}</Text>
          </div>
        ))}
      </Stack>
      {canComment && (
        <form onSubmit={(e) => { e.preventDefault(); if (body.trim()) add.mutate(); }}>
          <Stack gap="xs" mt="sm">
            <Textarea label="Add a comment" autosize minRows={2} value={body} onChange={(e) => setBody(e.currentTarget.value)} />
            <ErrorAlert error={add.error} />
            <Group justify="flex-end">
              <Button type="submit" variant="default" loading={add.isPending} disabled={!body.trim()}>Comment</Button>
            </Group>
          </Stack>
        </form>
      )}
    </Paper>
  );
}
