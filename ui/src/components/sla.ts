// A task's SLA state from its creation and due time: overdue once due;
// due soon in the last quarter of its time (or last hour); else on track.

export type SlaState = 'none' | 'on_track' | 'due_soon' | 'overdue';

export function slaState(createdAt: string, dueAt: string | null, now = Date.now()): SlaState {
  if (!dueAt) return 'none';
  const due = new Date(dueAt).getTime();
  if (now >= due) return 'overdue';
  const total = due - new Date(createdAt).getTime();
  const left = due - now;
  return left <= Math.max(total / 4, 0) || left <= 3_600_000 ? 'due_soon' : 'on_track';
}
