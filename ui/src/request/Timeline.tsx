// The request's audit trail, oldest first, with the hash chain's verdict
// (verify_timeline) as a badge.
import { Badge, Code, Group, Paper, Stack, Text, Timeline as MantineTimeline, Title, Tooltip } from '@mantine/core';
import type { TimelineEvent, TimelineVerification } from '../api/types';
import { formatTime } from '../components/time';

export function eventTitle(type: string): string {
  const text = type.replace(/[._]/g, ' ');
  return text[0].toUpperCase() + text.slice(1);
}

/** The one line worth reading from an event's data. */
export function eventDetail(e: TimelineEvent): string {
  const d = e.data ?? {};
  const parts: string[] = [];
  if (typeof d.decision === 'string') parts.push(d.decision.replace(/_/g, ' '));
  if (typeof d.on_behalf_of === 'string') parts.push(`on behalf of ${d.on_behalf_of}`);
  if (typeof d.assignee === 'string' && e.type !== 'task.decided') parts.push(`for ${d.assignee}`);
  if (typeof d.outcome === 'string') parts.push(d.outcome);
  if (typeof d.reason === 'string') parts.push(d.reason);
  if (typeof d.body === 'string') parts.push(`“${d.body}”`);
  if (typeof d.comment === 'string') parts.push(`“${d.comment}”`);
  const data = d.data ?? d.decision_data;
  if (data && typeof data === 'object' && Object.keys(data).length > 0) parts.push(JSON.stringify(data));
  if (e.type === 'request.resubmitted' || e.type === 'request.changes_requested') parts.push(`revision ${d.revision}`);
  if (Array.isArray(d.added)) parts.push(`added ${(d.added as string[]).join(', ') || 'nobody'}`);
  return parts.join(' · ');
}

export function ChainBadge({ verification }: { verification: TimelineVerification | undefined }) {
  if (!verification) return null;
  if (verification.valid) {
    return (
      <Badge color="green" variant="light" data-testid="chain-badge" data-valid="true">
        chain verified · {verification.events} events
      </Badge>
    );
  }
  return (
    <Tooltip label={JSON.stringify(verification)} multiline w={320}>
      <Badge color="red" variant="filled" data-testid="chain-badge" data-valid="false">chain broken</Badge>
    </Tooltip>
  );
}

export function Timeline({ events, verification }: { events: TimelineEvent[]; verification?: TimelineVerification }) {
  return (
    <Paper withBorder p="sm">
      <Group justify="space-between" mb="sm">
        <Title order={2} size="h4">Timeline</Title>
        <ChainBadge verification={verification} />
      </Group>
      {verification && !verification.valid && (
        <Code block mb="sm">{JSON.stringify(verification, null, 2)}</Code>
      )}
      <MantineTimeline bulletSize={14} lineWidth={2} active={events.length} data-testid="timeline">
        {events.map((e) => (
          <MantineTimeline.Item key={e.event_id} title={<Text size="sm" fw={600} component="span">{eventTitle(e.type)}</Text>}>
            <Stack gap={0}>
              <Text size="sm">
                {e.actor}{e.stage ? ` · ${e.stage}` : ''}{eventDetail(e) ? ` · ${eventDetail(e)}` : ''}
              </Text>
              <Text size="xs" c="dimmed">#{e.seq} · {formatTime(e.created_at)}</Text>
            </Stack>
          </MantineTimeline.Item>
        ))}
      </MantineTimeline>
    </Paper>
  );
}
