// One request: status, summary, the stages as a picture, the timeline with
// the chain's verdict, comments, and what the viewer may do with it.
import { Anchor, Badge, Button, Code, Group, Loader, Modal, Paper, SimpleGrid, Spoiler, Stack, Text, Textarea, Title } from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useLocation, useParams, useSearchParams } from 'react-router';
import { TaskActions, useRefreshAfterAction } from '../actions/TaskActions';
import type { InboxItem } from '../api/types';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusBadge } from '../components/StatusBadge';
import { SummaryBlock } from '../components/SummaryBlock';
import { formatTime } from '../components/time';
import { Comments } from '../request/Comments';
import { RequesterActions, UNDECIDED } from '../request/RequesterActions';
import { StageDiagram } from '../request/StageDiagram';
import { stageNotes } from '../request/stageReasons';
import { Timeline } from '../request/Timeline';
import { useMyTask } from '../request/useMyTask';

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">{label}</Text>
      <Text size="sm">{children}</Text>
    </div>
  );
}

export function RequestDetailPage() {
  const { id = '' } = useParams();
  const location = useLocation();
  const [search] = useSearchParams();
  const { awe, identity, permissions } = useSession();
  const fromInbox = (location.state as { inboxItem?: InboxItem } | null)?.inboxItem;

  const request = useQuery({ queryKey: ['request', id], queryFn: () => awe.getRequest(id) });
  const timeline = useQuery({ queryKey: ['timeline', id, 'events'], queryFn: () => awe.timeline(id) });
  const verification = useQuery({ queryKey: ['timeline', id, 'verify'], queryFn: () => awe.verifyTimeline(id) });
  const mine = useMyTask(request.data, fromInbox);

  if (request.isPending) return <Loader aria-label="Loading the request" />;
  if (request.error) return (<Stack><Title order={1}>Request</Title><ErrorAlert error={request.error} /></Stack>);
  const r = request.data;
  const events = timeline.data ?? [];
  const subject = `${r.artifact_type} ${r.artifact_id}`;
  const isRequester = r.requester === identity.actor || (r.created_by === identity.actor && (identity.role === 'awe_caller' || identity.role === 'awe_admin'));
  // The requester's panel below withdraws and resubmits (with a context
  // editor), so a revision task's own buttons for them are not repeated.
  const myActions = isRequester ? mine.actions.filter((a) => a.action !== 'resubmit' && a.action !== 'withdraw') : mine.actions;
  const canCancel = UNDECIDED.includes(r.status) && (identity.role === 'awe_admin' || (identity.role === 'awe_caller' && isRequester));

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={1}>{subject}</Title>
          <Text c="dimmed" size="sm">request <Code>{r.request_id}</Code></Text>
        </div>
        <Group gap="xs">
          <StatusBadge status={r.status} size="lg" />
          {r.revision > 1 && <Badge variant="outline" color="gray" size="lg">revision {r.revision}</Badge>}
        </Group>
      </Group>

      <Paper withBorder p="sm">
        <SimpleGrid cols={{ base: 2, sm: 4 }} spacing="xs">
          <Fact label="Policy">{permissions.readPolicies ? <Anchor component={Link} to={`/policies/${encodeURIComponent(r.policy_key)}`}>{r.policy_key}</Anchor> : r.policy_key} v{r.policy_version}</Fact>
          <Fact label="Requester">{r.requester ?? '—'}</Fact>
          <Fact label="Submitted">{formatTime(r.created_at)} by {r.created_by}</Fact>
          <Fact label={r.decided_at ? 'Decided' : 'Expires'}>{formatTime(r.decided_at ?? r.expires_at) || '—'}</Fact>
        </SimpleGrid>
      </Paper>

      <SummaryBlock summary={r.summary} />

      {mine.task && myActions.length > 0 && (
        <Paper withBorder p="sm" data-testid="my-task">
          <Title order={2} size="h4" mb="xs">Your task{mine.task.stage ? ` · ${mine.task.stage}` : ''}</Title>
          <TaskActions task={{ taskId: mine.task.task_id, requestId: r.request_id, subject }} actions={myActions} />
        </Paper>
      )}

      {isRequester && <RequesterActions key={`${r.request_id}:${r.revision}:${r.status}`} request={r} events={events} openResubmit={search.get('resubmit') === '1'} />}
      {canCancel && !isRequester && <CancelRequest requestId={r.request_id} subject={subject} />}

      <Paper withBorder p="sm">
        <Title order={2} size="h4" mb="sm">Stages</Title>
        <StageDiagram request={r} notes={stageNotes(events)} />
      </Paper>

      <Paper withBorder p="sm">
        <Title order={2} size="h4" mb="xs">Context</Title>
        <Spoiler maxHeight={120} showLabel="Show the whole context" hideLabel="Show less">
          <Code block>{JSON.stringify(r.context, null, 2)}</Code>
        </Spoiler>
      </Paper>

      <SimpleGrid cols={{ base: 1, md: 2 }}>
        {timeline.error ? <ErrorAlert error={timeline.error} /> : <Timeline events={events} verification={verification.data} />}
        <Comments requestId={r.request_id} events={events} canComment={permissions.comment} />
      </SimpleGrid>
      <ErrorAlert error={verification.error} title="The chain could not be verified" />
    </Stack>
  );
}

function CancelRequest({ requestId, subject }: { requestId: string; subject: string }) {
  const { awe } = useSession();
  const refresh = useRefreshAfterAction();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const cancel = useMutation({ mutationFn: () => awe.cancel(requestId, reason), onSuccess: () => { setOpen(false); refresh(requestId); } });
  return (
    <Group>
      <Button color="red.9" variant="outline" size="xs" onClick={() => setOpen(true)}>Cancel request</Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={`Cancel ${subject}`} centered>
        <form onSubmit={(e) => { e.preventDefault(); cancel.mutate(); }}>
          <Stack>
            <Textarea label="Reason" value={reason} data-autofocus onChange={(e) => setReason(e.currentTarget.value)} />
            <ErrorAlert error={cancel.error} />
            <Group justify="flex-end"><Button type="submit" color="red.9" loading={cancel.isPending}>Cancel the request</Button></Group>
          </Stack>
        </form>
      </Modal>
    </Group>
  );
}
