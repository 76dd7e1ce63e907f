// Problems of a policy text, each with its place in the text: syntax
// problems from reading it, and awe's validation problems (path, code,
// message) mapped to the node their JSON path names.
import type { Document } from 'yaml';
import type { PolicyProblem } from '../api/errors';
import { lineColumn, type SyntaxProblem } from './policyText';
import { locateProblem } from './problemLocation';

export interface LocatedProblem {
  path: string;
  code: string;
  message: string;
  from: number;
  to: number;
  line: number;
  column: number;
  /** The path itself is in the text (false: its nearest ancestor is marked). */
  exact: boolean;
}

export function locateSyntaxProblems(text: string, problems: SyntaxProblem[]): LocatedProblem[] {
  return problems.map((p) => ({ path: '', code: 'syntax', message: p.message, from: p.from, to: p.to, exact: true, ...lineColumn(text, p.from) }));
}

export function locateValidationProblems(text: string, doc: Document | null, problems: PolicyProblem[]): LocatedProblem[] {
  return problems.map((p) => {
    const range = doc ? locateProblem(doc, p.path) : null;
    const from = range?.from ?? 0;
    const to = range?.to ?? Math.min(text.length, 1);
    return { ...p, from, to, exact: range?.exact ?? false, ...lineColumn(text, from) };
  });
}
