// Approvers: the inbox (actions as buttons, claim/release, approve), the
// request detail afterwards, phone width, keyboard use and accessibility.
import { expect, test } from '@playwright/test';
import { expectNoSeriousA11yViolations, screenshot, signIn } from './support/console';
import { requestStatus, seedExpenses, submitExpense } from './support/seed';
import { lit, newTenant, sql } from './support/stack';

test.describe('inbox', () => {
  let tenant: string;
  let report: { request_id: string; artifact_id: string };

  test.beforeAll(() => {
    tenant = newTenant('inbox');
    seedExpenses(tenant);
    // A few reports for Mia: the first needs only her (5,000), the others
    // also dual control after her (above 10,000).
    report = submitExpense(tenant, 'EXP-1001', 5000, { purpose: 'a client visit in Lyon' });
    submitExpense(tenant, 'EXP-1002', 12500);
    submitExpense(tenant, 'EXP-1003', 2400);
    submitExpense(tenant, 'EXP-1004', 18000);
  });

  test('an approver approves from the inbox and the request detail shows the new state', async ({ page }) => {
    await signIn(page, 'mia', 'awe_approver', tenant);
    await expect(page).toHaveURL(/\/inbox$/);
    const row = page.getByTestId('inbox-row').filter({ hasText: report.artifact_id });
    await expect(row).toBeVisible();
    // The server's actions, as typed buttons.
    await expect(row.getByRole('button', { name: /^Approve/ })).toHaveAttribute('data-severity', 'primary');
    await expect(row.getByRole('button', { name: /^Reject/ })).toHaveAttribute('data-severity', 'danger');
    await expect(row.getByRole('button', { name: /^Request changes/ })).toBeVisible();
    await expect(page.getByTestId('inbox-row')).toHaveCount(4);
    // The policy's summary template, rendered at submit.
    await expect(row.getByTestId('summary')).toHaveText('sam asks 5000 EUR for a client visit in Lyon');
    await screenshot(page, 'inbox');
    await expectNoSeriousA11yViolations(page, 'inbox');

    // Claim, then release.
    await row.getByRole('button', { name: /^Claim/ }).click();
    await expect(row).toContainText('claimed by mia');
    await row.getByRole('button', { name: /^Release/ }).click();
    await expect(row.getByRole('button', { name: /^Claim/ })).toBeVisible();

    // Approve with a comment.
    await row.getByRole('button', { name: /^Approve/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Comment').fill('Receipts look right');
    await dialog.getByTestId('confirm-action').click();
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('inbox-row').filter({ hasText: report.artifact_id })).toHaveCount(0);
    expect(requestStatus(tenant, report.request_id)).toBe('approved');

    // The notification leads to the request, which shows the new state.
    await page.getByRole('link', { name: 'Open the request' }).last().click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(`expense_report ${report.artifact_id}`);
    await expect(page.locator('[data-status="approved"]').first()).toBeVisible();
    const manager = page.getByTestId('stage').filter({ hasText: 'Manager' });
    await expect(manager).toHaveAttribute('data-stage-status', 'approved');
    await expect(manager.locator('[data-task-status="approved"]')).toContainText('mia');
    const dual = page.getByTestId('stage').filter({ hasText: 'Dual control' });
    await expect(dual).toHaveAttribute('data-stage-status', 'skipped');
    await expect(dual.getByTestId('stage-reason')).toContainText('skip_if');
    await expect(page.getByTestId('chain-badge')).toHaveAttribute('data-valid', 'true');
    await expect(page.getByTestId('comments')).toContainText('Receipts look right');
    await expectNoSeriousA11yViolations(page, 'request detail');
  });

  test('the request detail of a two-stage request in review', async ({ page }) => {
    const big = submitExpense(tenant, 'EXP-2001', 25000);
    await signIn(page, 'mia', 'awe_approver', tenant, `/requests/${big.request_id}`);
    await expect(page.getByTestId('my-task')).toBeVisible();
    await page.getByTestId('my-task').getByRole('button', { name: /^Approve/ }).click();
    await page.getByRole('dialog').getByTestId('confirm-action').click();
    const dual = page.getByTestId('stage').filter({ hasText: 'Dual control' });
    await expect(dual).toHaveAttribute('data-stage-status', 'active');
    await expect(dual.locator('[data-task-status="open"]')).toHaveCount(2);
    await expect(dual).toContainText('not asked: mia (approved another stage), sam (requester)');
    await page.getByLabel('Add a comment').fill('Finance, please check the hotel invoice.');
    await page.getByRole('button', { name: 'Comment', exact: true }).click();
    await expect(page.getByTestId('comments')).toContainText('hotel invoice');
    await screenshot(page, 'request-detail');
  });

  test('at phone width the inbox fits and the menu opens', async ({ page }) => {
    await page.setViewportSize({ width: 390, height: 844 });
    await signIn(page, 'mia', 'awe_approver', tenant);
    const row = page.getByTestId('inbox-row').first();
    await expect(row).toBeVisible();
    await expect(row.getByRole('button', { name: /^Approve/ })).toBeInViewport();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, 'no horizontal scrolling').toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Navigation' }).click();
    await expect(page.getByRole('link', { name: 'Delegations' })).toBeVisible();
    await page.getByRole('link', { name: 'Inbox' }).click();
    await screenshot(page, 'inbox-phone');
    await expectNoSeriousA11yViolations(page, 'inbox at phone width');
  });

  test('the inbox works from the keyboard', async ({ page }) => {
    const k = submitExpense(tenant, 'EXP-3001', 3000);
    await signIn(page, 'mia', 'awe_approver', tenant);
    await expect(page.getByTestId('inbox-row').first()).toBeVisible();
    // The skip link comes first and moves focus to the page.
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
    // Tab through to the report's Approve button, open its dialog with Enter.
    const approve = page.getByTestId('inbox-row').filter({ hasText: k.artifact_id }).getByRole('button', { name: /^Approve/ });
    for (let i = 0; i < 80 && !(await approve.evaluate((b) => b === document.activeElement)); i++) await page.keyboard.press('Tab');
    await expect(approve).toBeFocused();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await expect(dialog.getByLabel('Comment')).toBeFocused();
    await page.keyboard.type('Approved from the keyboard');
    await page.keyboard.press('Tab'); // Cancel
    await page.keyboard.press('Tab'); // Approve
    await expect(dialog.getByTestId('confirm-action')).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(dialog).toBeHidden();
    await expect.poll(() => requestStatus(tenant, k.request_id)).toBe('approved');
    // Escape closes a dialog without deciding.
    await page.getByTestId('inbox-row').first().getByRole('button', { name: /^Reject/ }).focus();
    await page.keyboard.press('Enter');
    await expect(page.getByRole('dialog')).toBeVisible();
    await page.keyboard.press('Escape');
    await expect(page.getByRole('dialog')).toBeHidden();
  });
});

test('out of office: an approver delegates to a colleague, who then sees the task, and revokes', async ({ page }) => {
  const tenant = newTenant('delegation');
  seedExpenses(tenant);
  const r = submitExpense(tenant, 'EXP-7001', 2500);
  await signIn(page, 'mia', 'awe_approver', tenant, '/delegations');
  await page.getByRole('textbox', { name: /^Delegate/ }).fill('fin.ana');
  await page.getByLabel('Reason').fill('Holiday');
  await page.getByRole('button', { name: 'Delegate', exact: true }).click();
  const table = page.getByTestId('delegations-table');
  await expect(table).toContainText('fin.ana');
  await expect(table).toContainText('active');
  await expectNoSeriousA11yViolations(page, 'delegations');

  // The delegate sees Mia's task, marked as hers.
  const colleague = await page.context().browser()!.newPage();
  await signIn(colleague, 'fin.ana', 'awe_approver', tenant);
  await expect(colleague.getByTestId('inbox-row').filter({ hasText: r.artifact_id })).toContainText('for mia');
  await colleague.close();

  await table.getByRole('button', { name: 'Revoke the delegation of mia to fin.ana' }).click();
  await expect(table).toContainText('revoked');
});

test('an action with a form: the approver adds data, awe checks it', async ({ page }) => {
  const tenant = newTenant('form');
  sql(`select awe.import_policy(${lit(`key: payment.release
artifact_type: payment
stages:
  - name: Finance
    rules: [{type: user, user: mia}]
    require_comment: [reject]
    decision_schema: {type: object, required: [approved_amount], properties: {approved_amount: {type: number, minimum: 0}}}
    decision_check: {"<=": [{var: decision.approved_amount}, {var: context.amount}]}
    decision_check_message: the approved amount may not exceed the amount asked for
`)});
       select awe.activate_policy('payment.release', 1);`, tenant);
  const id = sql(`set awe.actor = 'treasury'; select awe.submit('payment.release', 'payment', 'PAY-9', '{"amount": 900}') ->> 'request_id';`, tenant);
  await signIn(page, 'mia', 'awe_approver', tenant);
  const row = page.getByTestId('inbox-row').filter({ hasText: 'PAY-9' });
  // An approval that carries data is not offered in bulk.
  await expect(row.getByRole('checkbox')).toHaveCount(0);

  // Reject needs a comment (require_comment): the dialog says so before sending.
  await row.getByRole('button', { name: /^Reject/ }).click();
  await page.getByRole('dialog').getByTestId('confirm-action').click();
  await expect(page.getByRole('dialog')).toContainText('a comment is required for Reject');
  await page.keyboard.press('Escape');

  await row.getByRole('button', { name: /^Approve/ }).click();
  const dialog = page.getByRole('dialog');
  const amount = dialog.getByRole('textbox', { name: /Approved amount/ });
  await amount.fill('1200');
  await dialog.getByTestId('confirm-action').click();
  await expect(dialog.getByTestId('error-code')).toHaveText('AWE-DECISION-INVALID');
  await expect(dialog.getByTestId('error-alert')).toContainText('may not exceed');
  await amount.fill('800');
  await dialog.getByTestId('confirm-action').click();
  await expect(dialog).toBeHidden();
  expect(requestStatus(tenant, id)).toBe('approved');
  expect(sql(`select decision_data ->> 'approved_amount' from awe.task where tenant_id = ${lit(tenant)} and request_id = ${lit(id)};`)).toBe('800');
});
