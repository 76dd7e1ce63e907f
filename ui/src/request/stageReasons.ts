// Why a stage ended the way it did, from the request's events: the reason
// of its last stage.skipped or rejected stage.completed, and who segregation
// of duties excluded when it started.
import type { TimelineEvent } from '../api/types';

export interface StageNote {
  reason: string | null;
  excluded: { principal: string; reason: string }[];
}

function describeSkip(data: Record<string, unknown>): string {
  const reason = typeof data.reason === 'string' ? data.reason : '';
  if (reason === 'skip_if') return 'skipped: its skip_if condition was true';
  if (data.on_empty === 'skip') return `skipped (on_empty: skip): ${reason}`;
  return reason ? `skipped: ${reason}` : 'skipped';
}

export function stageNotes(events: TimelineEvent[]): Map<number, StageNote> {
  const notes = new Map<number, StageNote>();
  const note = (i: number) => {
    let n = notes.get(i);
    if (!n) notes.set(i, (n = { reason: null, excluded: [] }));
    return n;
  };
  for (const e of events) {
    if (e.stage_index === null || e.stage_index === undefined) continue;
    const data = e.data ?? {};
    if (e.type === 'stage.skipped') {
      note(e.stage_index).reason = describeSkip(data);
    } else if (e.type === 'stage.completed') {
      note(e.stage_index).reason = data.outcome === 'rejected' && typeof data.reason === 'string' ? `rejected: ${data.reason}` : null;
    } else if (e.type === 'stage.started' || e.type === 'stage.resolving') {
      const n = note(e.stage_index);
      n.reason = null;
      if (Array.isArray(data.excluded)) n.excluded = data.excluded as StageNote['excluded'];
    }
    if ((e.type === 'stage.skipped') && Array.isArray(data.excluded)) note(e.stage_index).excluded = data.excluded as StageNote['excluded'];
  }
  return notes;
}

/** Steps in order, each with its stages (stages of one parallel_group share a step). */
export function groupBySteps<S extends { step: number; index: number }>(stages: S[]): S[][] {
  const steps = new Map<number, S[]>();
  for (const s of [...stages].sort((a, b) => a.step - b.step || a.index - b.index)) {
    if (!steps.has(s.step)) steps.set(s.step, []);
    steps.get(s.step)!.push(s);
  }
  return [...steps.values()];
}

const EXCLUSION: Record<string, string> = {
  self_approval: 'requester',
  repeat_approver: 'approved another stage',
  excluded: 'excluded by the policy',
};

export function exclusionLabel(reason: string): string {
  return EXCLUSION[reason] ?? reason.replace(/_/g, ' ');
}
