// Test data through awe's SQL API (as superuser with awe.tenant set): the
// expense-report example policy, its directory, requests.
import { readFileSync } from 'node:fs';
import { lit, repoPath, sql } from './stack';

export const EXPENSE_POLICY = readFileSync(repoPath('examples/expense-report.yaml'), 'utf8');
export const BROKEN_POLICY = readFileSync(repoPath('examples/expense-report-broken.yaml'), 'utf8');

/** The expense-report policy, active, with Sam, Mia, two finance approvers and a director. */
export function seedExpenses(tenant: string): void {
  sql(
    `select awe.import_policy(${lit(EXPENSE_POLICY)});
     select awe.activate_policy('expense.report', 1);
     select awe.upsert_principal('sam', 'Sam Submitter', 'sam@example.com');
     select awe.upsert_principal('mia', 'Mia Manager', 'mia@example.com');
     select awe.add_to_group(p, '/finance/approvers') from unnest(array['fin.ana', 'fin.bo', 'sam', 'mia']) p;
     select awe.grant_role('dora', 'finance-director');`,
    tenant,
  );
}

export interface Submitted {
  request_id: string;
  artifact_id: string;
}

/** Submits an expense report as the expense app; Sam asks, Mia is the manager. */
export function submitExpense(tenant: string, artifactId: string, amount: number, extra: Record<string, unknown> = {}): Submitted {
  const context = JSON.stringify({ amount, currency: 'EUR', submitter: 'sam', manager: 'mia', ...extra });
  const requestId = sql(
    `set awe.actor = 'expense-app';
     select awe.submit('expense.report', 'expense_report', ${lit(artifactId)}, ${lit(context)}::jsonb, requester => 'sam') ->> 'request_id';`,
    tenant,
  );
  return { request_id: requestId, artifact_id: artifactId };
}

/** The open task of `assignee` on a request. */
export function openTask(tenant: string, requestId: string, assignee: string): string {
  return sql(`select task_id from awe.tasks where request_id = ${lit(requestId)} and assignee = ${lit(assignee)} and status = 'open';`, tenant);
}

export function decideAs(tenant: string, actor: string, taskId: string, decision: string, comment: string): void {
  sql(`set awe.actor = ${lit(actor)}; select awe.decide(${lit(taskId)}, ${lit(decision)}, ${lit(comment)});`, tenant);
}

export function requestStatus(tenant: string, requestId: string): string {
  return sql(`select status from awe.requests where request_id = ${lit(requestId)};`, tenant);
}
