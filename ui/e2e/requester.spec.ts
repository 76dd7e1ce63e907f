// Requesters: My requests at a glance, the revision after request_changes
// and resubmit; withdraw.
import { expect, test } from '@playwright/test';
import { expectNoSeriousA11yViolations, screenshot, signIn } from './support/console';
import { decideAs, openTask, requestStatus, seedExpenses, submitExpense } from './support/seed';
import { newTenant, sql, lit } from './support/stack';

test('a requester resubmits after request changes', async ({ page }) => {
  const tenant = newTenant('requester');
  seedExpenses(tenant);
  const sent = submitExpense(tenant, 'EXP-4001', 5000);
  const other = submitExpense(tenant, 'EXP-4002', 700); // approved at once (every stage skipped)
  const withdrawn = submitExpense(tenant, 'EXP-4003', 3000);
  decideAs(tenant, 'mia', openTask(tenant, sent.request_id, 'mia'), 'request_changes', 'Please attach the hotel receipt');

  // The send-back is a revision task in Sam's inbox, with resubmit and withdraw.
  await signIn(page, 'sam', 'awe_approver', tenant);
  const revision = page.getByTestId('inbox-row').filter({ hasText: sent.artifact_id });
  await expect(revision).toContainText('sent back to you');
  await expect(revision.getByRole('button', { name: /^Resubmit/ })).toBeVisible();
  await expect(revision.getByRole('button', { name: /^Withdraw/ })).toBeVisible();

  await page.getByRole('link', { name: 'My requests' }).click();
  await expect(page.getByRole('heading', { name: 'My requests' })).toBeVisible();
  await expect(page.getByTestId('needs-revision')).toContainText('1 request(s) sent back');
  const table = page.getByTestId('requests-table');
  await expect(table.locator(`[data-request-id="${other.request_id}"]`)).toContainText('approved');
  await expect(table.locator(`[data-request-id="${sent.request_id}"]`)).toContainText('changes requested');
  await expectNoSeriousA11yViolations(page, 'my requests');

  await table.getByRole('link', { name: `expense_report ${sent.artifact_id}` }).click();
  const panel = page.getByTestId('requester-actions');
  await expect(panel).toContainText('mia sent it back: “Please attach the hotel receipt”');
  const context = panel.getByLabel('Context');
  const revised = { amount: 5200, currency: 'EUR', submitter: 'sam', manager: 'mia', receipt: 'hotel-4001.pdf' };
  await context.fill(JSON.stringify(revised, null, 2));
  await panel.getByLabel('Comment').fill('Receipt attached; the total changed a little');
  await screenshot(page, 'resubmit');
  await panel.getByRole('button', { name: 'Resubmit' }).click();
  await expect(page.getByText('revision 2', { exact: true })).toBeVisible();
  await expect(page.locator('[data-status="in_review"]').first()).toBeVisible();
  expect(requestStatus(tenant, sent.request_id)).toBe('in_review');
  expect(sql(`select context ->> 'receipt' from awe.requests where request_id = ${lit(sent.request_id)};`, tenant)).toBe('hotel-4001.pdf');
  await expect(page.getByTestId('comments')).toContainText('Receipt attached');
  // Mia has a task again, on revision 2; Sam's revision task is done.
  expect(openTask(tenant, sent.request_id, 'mia')).not.toBe('');
  await page.goto('/inbox');
  await expect(page.getByTestId('inbox-row').filter({ hasText: sent.artifact_id })).toHaveCount(0);

  // Withdraw another one.
  await page.goto(`/requests/${withdrawn.request_id}`);
  await page.getByTestId('requester-actions').getByRole('button', { name: 'Withdraw' }).click();
  await page.getByRole('dialog').getByLabel('Reason').fill('Submitted twice');
  await page.getByRole('dialog').getByRole('button', { name: 'Withdraw' }).click();
  await expect(page.locator('[data-status="cancelled"]').first()).toBeVisible();
  expect(requestStatus(tenant, withdrawn.request_id)).toBe('cancelled');
});

test('an error from the API shows its AWE code and message', async ({ page }) => {
  const tenant = newTenant('errors');
  seedExpenses(tenant);
  const r = submitExpense(tenant, 'EXP-5001', 5000);
  const task = openTask(tenant, r.request_id, 'mia');
  await signIn(page, 'mia', 'awe_approver', tenant);
  const row = page.getByTestId('inbox-row').filter({ hasText: r.artifact_id });
  await expect(row).toBeVisible();
  // Someone else decides first (here: the task is decided behind the page's back).
  decideAs(tenant, 'mia', task, 'approve', 'from another tab');
  await row.getByRole('button', { name: /^Reject/ }).click();
  await page.getByRole('dialog').getByTestId('confirm-action').click();
  const alert = page.getByRole('dialog').getByTestId('error-alert');
  await expect(alert.getByTestId('error-code')).toHaveText(/^AWE-(TASK-CLOSED|REQUEST-STATE)$/);
  // Unknown requests are AWE-REQUEST-NOT-FOUND, not a crash.
  await page.goto('/requests/00000000-0000-0000-0000-000000000000');
  await expect(page.getByTestId('error-code')).toHaveText('AWE-REQUEST-NOT-FOUND');
});
