import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../api/types';
import { slaState } from '../components/sla';
import { normalizeSummary } from '../components/SummaryBlock';
import { groupBySteps, stageNotes } from './stageReasons';

const event = (type: string, stage_index: number | null, data: Record<string, unknown>): TimelineEvent => ({
  seq: 1, event_id: Math.random().toString(), type, actor: 'system', stage_index, stage: null, task_id: null, status: null, data, created_at: '',
});

describe('stages', () => {
  it('explains skipped and rejected stages, and who was not asked', () => {
    const notes = stageNotes([
      event('stage.started', 0, { excluded: [{ principal: 'sam', reason: 'self_approval' }] }),
      event('stage.skipped', 1, { reason: 'skip_if' }),
      event('stage.skipped', 2, { reason: 'no approver resolved', on_empty: 'skip' }),
      event('stage.completed', 3, { outcome: 'rejected', reason: 'rejected by mia' }),
      event('stage.completed', 0, { outcome: 'approved' }),
    ]);
    expect(notes.get(0)).toEqual({ reason: null, excluded: [{ principal: 'sam', reason: 'self_approval' }] });
    expect(notes.get(1)?.reason).toBe('skipped: its skip_if condition was true');
    expect(notes.get(2)?.reason).toBe('skipped (on_empty: skip): no approver resolved');
    expect(notes.get(3)?.reason).toBe('rejected: rejected by mia');
  });

  it('groups parallel stages into steps', () => {
    const steps = groupBySteps([{ index: 2, step: 1 }, { index: 0, step: 0 }, { index: 1, step: 0 }, { index: 3, step: 2 }]);
    expect(steps.map((s) => s.map((x) => x.index))).toEqual([[0, 1], [2], [3]]);
  });
});

describe('SLA and summary', () => {
  const created = '2026-01-01T00:00:00Z';
  const due = '2026-01-01T08:00:00Z';
  it('SLA state', () => {
    expect(slaState(created, null)).toBe('none');
    expect(slaState(created, due, Date.parse('2026-01-01T01:00:00Z'))).toBe('on_track');
    expect(slaState(created, due, Date.parse('2026-01-01T06:30:00Z'))).toBe('due_soon');
    expect(slaState(created, due, Date.parse('2026-01-01T08:00:00Z'))).toBe('overdue');
  });

  it('summaries: an object, a template string, or nothing', () => {
    expect(normalizeSummary({ text: 'A hotel stay', risk: 'low' })).toMatchObject({ text: 'A hotel stay', risk: 'low' });
    expect(normalizeSummary('Expense of 12,500 EUR')).toEqual({ text: 'Expense of 12,500 EUR' });
    expect(normalizeSummary('  ')).toBeNull();
    expect(normalizeSummary(null)).toBeNull();
    expect(normalizeSummary({ text: '' } as never)).toBeNull();
  });
});
