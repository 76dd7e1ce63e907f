// The request's stages as a picture: steps left to right (wrapping on a
// narrow screen), the stages of a parallel step stacked inside it, and in
// each stage who approved, who is pending, and why it was skipped.
import { Badge, Box, Group, List, Paper, Stack, Text } from '@mantine/core';
import type { AweRequest, RequestTask } from '../api/types';
import { StatusBadge, statusLabel } from '../components/StatusBadge';
import { formatTime } from '../components/time';
import { exclusionLabel, groupBySteps, type StageNote } from './stageReasons';

function TaskLine({ task }: { task: RequestTask }) {
  const who = task.delegated_from ? `${task.assignee} (for ${task.delegated_from})` : task.assignee;
  let what: string;
  if (task.status === 'open') what = task.claimed_by ? `pending, claimed by ${task.claimed_by}` : 'pending';
  else if (task.decided_by && task.decided_by !== task.assignee) what = `${statusLabel(task.status)} by ${task.decided_by}`;
  else what = statusLabel(task.status);
  const mark = task.status === 'approved' ? '✓' : task.status === 'rejected' ? '✗' : task.status === 'open' ? '…' : '–';
  return (
    <List.Item data-task-status={task.status} icon={<span aria-hidden="true">{mark}</span>}>
      <Text size="sm" span fw={500}>{who}</Text>
      <Text size="sm" span c="dimmed"> {what}{task.decided_at ? ` · ${formatTime(task.decided_at)}` : ''}</Text>
      {task.kind === 'observer' && <Badge ml={4} size="xs" variant="outline" color="gray">observer</Badge>}
      {task.kind === 'revision' && <Badge ml={4} size="xs" variant="outline" color="orange">revision</Badge>}
      {task.required && <Badge ml={4} size="xs" variant="outline" color="grape">required</Badge>}
      {task.comment && <Text size="sm" fs="italic">“{task.comment}”</Text>}
      {task.decision_data && Object.keys(task.decision_data).length > 0 && (
        <Text size="xs" c="dimmed">{Object.entries(task.decision_data).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ')}</Text>
      )}
    </List.Item>
  );
}

export function StageDiagram({ request, notes }: { request: AweRequest; notes: Map<number, StageNote> }) {
  const steps = groupBySteps(request.stages);
  // Tasks of the current revision: earlier ones were superseded by a send-back.
  const tasks = request.tasks.filter((t) => t.revision === request.revision);
  return (
    <Group component="ol" aria-label="Stages" align="stretch" gap="xs" p={0} m={0} style={{ listStyle: 'none' }} data-testid="stage-diagram">
      {steps.map((stages, i) => (
        <Group component="li" key={stages[0].step} gap="xs" align="center" wrap="nowrap" style={{ flex: '1 1 260px', minWidth: 0 }}>
          {i > 0 && <Text aria-hidden="true" c="dimmed" size="xl">→</Text>}
          <Paper withBorder p="xs" style={{ flex: 1, minWidth: 0 }} bg={stages.length > 1 ? 'var(--mantine-color-gray-0)' : undefined}>
            <Text size="xs" c="dimmed" mb={4}>Step {i + 1}{stages.length > 1 ? ' · parallel' : ''}</Text>
            <Stack gap="xs">
              {stages.map((stage) => {
                const note = notes.get(stage.index);
                const stageTasks = tasks.filter((t) => t.stage_index === stage.index);
                return (
                  <Box component="section" key={stage.index} aria-label={`Stage ${stage.name}: ${statusLabel(stage.status)}`}
                    data-testid="stage" data-stage-status={stage.status}>
                    <Group justify="space-between" gap={4}>
                      <Text fw={600} size="sm">{stage.name}</Text>
                      <StatusBadge status={stage.status} />
                    </Group>
                    {note?.reason && <Text size="sm" c="dimmed" data-testid="stage-reason">{note.reason}</Text>}
                    {stageTasks.length > 0 && <List spacing={2} mt={4}>{stageTasks.map((t) => <TaskLine key={t.task_id} task={t} />)}</List>}
                    {note && note.excluded.length > 0 && (
                      <Text size="xs" c="dimmed" mt={2}>
                        not asked: {note.excluded.map((x) => `${x.principal} (${exclusionLabel(x.reason)})`).join(', ')}
                      </Text>
                    )}
                  </Box>
                );
              })}
            </Stack>
          </Paper>
        </Group>
      ))}
    </Group>
  );
}
