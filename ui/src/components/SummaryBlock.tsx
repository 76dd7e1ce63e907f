// A request's summary (generated text with impact and risk, or a policy's
// template text). Absent: nothing is shown.
import { Badge, Group, Paper, Text } from '@mantine/core';
import type { Summary } from '../api/types';
import { formatTime } from './time';

const RISK_COLOR = { low: 'green', medium: 'orange', high: 'red' } as const;

export function normalizeSummary(summary: Summary | null | undefined) {
  if (!summary) return null;
  if (typeof summary === 'string') return summary.trim() ? { text: summary } : null;
  if (typeof summary.text !== 'string' || !summary.text.trim()) return null;
  return summary;
}

export function SummaryBlock({ summary, compact = false }: { summary: Summary | null | undefined; compact?: boolean }) {
  const s = normalizeSummary(summary);
  if (!s) return null;
  const o = typeof s === 'object' ? (s as Exclude<Summary, string>) : null;
  if (compact) {
    return (
      <Group gap={6} wrap="nowrap" data-testid="summary">
        {o?.risk && <Badge size="xs" variant="light" color={RISK_COLOR[o.risk]}>{o.risk} risk</Badge>}
        <Text size="sm" lineClamp={2}>{s.text}</Text>
      </Group>
    );
  }
  return (
    <Paper withBorder p="sm" data-testid="summary">
      <Group justify="space-between" mb={4}>
        <Text fw={600} size="sm">Summary</Text>
        {o?.risk && <Badge variant="light" color={RISK_COLOR[o.risk]}>{o.risk} risk</Badge>}
      </Group>
      <Text size="sm">{s.text}</Text>
      {o?.impact && <Text size="sm" mt={4}><b>Impact:</b> {o.impact}</Text>}
      {(o?.model || o?.at) && (
        <Text size="xs" c="dimmed" mt={4}>
          {o.model ? `by ${o.model}` : ''}{o.model && o.at ? ', ' : ''}{o.at ? formatTime(o.at) : ''}
        </Text>
      )}
    </Paper>
  );
}
