// Task actions as the console renders them. The server sends each action
// either as a word ("approve") or, soon, as an object with its label,
// severity, whether a comment is required and an optional decision form.
// Both become one TaskAction.
import type { RawAction } from '../api/types';
import { formSchemaFrom, type FormSchema } from '../forms/formSchema';

export type Severity = 'primary' | 'danger' | 'neutral';

export interface TaskAction {
  action: string;
  label: string;
  severity: Severity;
  requiresComment: boolean;
  form: FormSchema | null;
}

/** The decisions `decide` accepts; other actions have their own endpoints. */
export const DECISIONS = ['approve', 'reject', 'abstain', 'request_changes'] as const;

export type ActionKind = 'decision' | 'claim' | 'release' | 'comment' | 'resubmit' | 'withdraw' | 'other';

/** `request_changes` → `Request changes`. */
export function humanise(word: string): string {
  const text = word.replace(/[_-]+/g, ' ').trim();
  return text ? text[0].toUpperCase() + text.slice(1) : word;
}

function defaultSeverity(action: string): Severity {
  if (action === 'approve') return 'primary';
  if (action === 'reject') return 'danger';
  return 'neutral';
}

function severityFrom(value: unknown, action: string): Severity {
  return value === 'primary' || value === 'danger' || value === 'neutral' ? value : defaultSeverity(action);
}

/** One action, from either shape; null for something that is neither. */
export function normalizeAction(raw: RawAction | unknown): TaskAction | null {
  if (typeof raw === 'string') {
    if (!raw) return null;
    return { action: raw, label: humanise(raw), severity: defaultSeverity(raw), requiresComment: false, form: null };
  }
  if (raw && typeof raw === 'object' && typeof (raw as { action?: unknown }).action === 'string') {
    const o = raw as Exclude<RawAction, string>;
    return {
      action: o.action,
      label: typeof o.label === 'string' && o.label.trim() ? o.label : humanise(o.action),
      severity: severityFrom(o.severity, o.action),
      requiresComment: o.requires_comment === true,
      form: formSchemaFrom(o.form),
    };
  }
  return null;
}

export function normalizeActions(raw: unknown): TaskAction[] {
  if (!Array.isArray(raw)) return [];
  return raw.map(normalizeAction).filter((a): a is TaskAction => a !== null);
}

export function actionKind(action: string): ActionKind {
  if ((DECISIONS as readonly string[]).includes(action)) return 'decision';
  if (action === 'claim' || action === 'release' || action === 'comment' || action === 'resubmit' || action === 'withdraw') return action;
  return 'other';
}

/**
 * Whether a row may be approved in bulk: it offers `approve`, and the
 * approve action asks for nothing more (no required comment, no form).
 * That is how a policy allows bulk approval.
 */
export function bulkApprovable(actions: TaskAction[]): boolean {
  const approve = actions.find((a) => a.action === 'approve');
  return !!approve && !approve.requiresComment && approve.form === null;
}

/** Decisions first in the server's order, then the rest (claim, release, …). */
export function orderForDisplay(actions: TaskAction[]): TaskAction[] {
  const decision = actions.filter((a) => actionKind(a.action) === 'decision');
  const rest = actions.filter((a) => actionKind(a.action) !== 'decision');
  return [...decision, ...rest];
}
