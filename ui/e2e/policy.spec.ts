// Admins: a broken policy shows each problem at its path; fixed, it is
// saved, simulated and activated; versions are compared.
import { expect, test } from '@playwright/test';
import { expectNoSeriousA11yViolations, screenshot, signIn } from './support/console';
import { replaceEditorText } from './support/editor';
import { BROKEN_POLICY, EXPENSE_POLICY } from './support/seed';
import { lit, newTenant, sql } from './support/stack';

test('an admin saves a broken policy, sees each problem at its path, fixes it, simulates and activates', async ({ page }) => {
  const tenant = newTenant('policy');
  sql(`select awe.add_to_group(p, '/finance/approvers') from unnest(array['fin.ana', 'fin.bo', 'mia', 'sam']) p;`, tenant);
  // What awe says of the broken example: every problem, with its path.
  const expected = JSON.parse(sql(`select awe.validate_policy(awe.policy_to_json(${lit(BROKEN_POLICY)})) -> 'problems';`, tenant)) as { path: string }[];
  expect(expected.length).toBeGreaterThan(3);

  await signIn(page, 'ada', 'awe_admin', tenant, '/policies');
  await expectNoSeriousA11yViolations(page, 'policies');
  await page.getByRole('link', { name: 'New policy' }).click();
  await expect(page.getByRole('heading', { name: 'New policy' })).toBeVisible();
  await replaceEditorText(page, BROKEN_POLICY);

  // As you type: the problems appear at their paths without saving.
  const problems = page.getByTestId('policy-problem');
  await expect(problems).toHaveCount(expected.length);
  // Saving is refused with AWE-POLICY-INVALID, and every problem is listed at its path.
  await page.getByTestId('save-policy').click();
  await expect(page.getByTestId('error-code')).toHaveText('AWE-POLICY-INVALID');
  await expect(problems).toHaveCount(expected.length);
  for (const p of expected) await expect(page.locator(`[data-testid="policy-problem"][data-path="${p.path}"]`).first()).toBeVisible();
  // ... and underlined in the editor.
  await expect(page.locator('.cm-lintRange-error').first()).toBeVisible();
  expect(await page.locator('.cm-lint-marker-error').count()).toBeGreaterThan(0);
  // Choosing a problem puts the cursor on its line.
  await problems.first().getByRole('button').click();
  await expect(page.locator('.cm-content')).toBeFocused();
  await screenshot(page, 'policy-editor-problems');
  await expectNoSeriousA11yViolations(page, 'policy editor with problems');

  // Fixed: valid, saved as draft v1.
  await replaceEditorText(page, EXPENSE_POLICY);
  await expect(page.getByTestId('validation-state')).toHaveText('valid');
  await expect(problems).toHaveCount(0);
  await page.getByTestId('save-policy').click();
  await expect(page).toHaveURL(/\/policies\/expense\.report\?version=1$/);
  await expect(page.getByTestId('policy-versions').locator('[data-version="1"]')).toContainText('draft');

  // Simulate the draft.
  await page.getByRole('tab', { name: 'Simulate' }).click();
  await page.getByLabel('Requester').fill('sam');
  await page.getByTestId('simulate-context').fill(JSON.stringify({ amount: 12500, submitter: 'sam', manager: 'mia' }, null, 2));
  await page.getByRole('button', { name: 'Simulate', exact: true }).click();
  const result = page.getByTestId('simulation-result');
  await expect(result.locator('[data-prediction]')).toHaveAttribute('data-prediction', 'needs_review');
  await expect(result.getByTestId('simulated-stage')).toHaveCount(2);
  await expect(result.getByTestId('simulated-stage').nth(0)).toContainText('mia');
  await expect(result.getByTestId('simulated-stage').nth(1)).toContainText('fin.ana');
  await expect(result.getByTestId('simulated-stage').nth(1)).toContainText('sam (requester)');
  await screenshot(page, 'simulate');
  await expectNoSeriousA11yViolations(page, 'simulate');

  // Activate.
  await page.getByRole('button', { name: 'Activate v1' }).click();
  await expect(page.getByTestId('policy-versions').locator('[data-version="1"]')).toContainText('active');
  expect(sql(`select status from awe.policy_versions where policy_key = 'expense.report' and version = 1;`, tenant)).toBe('active');

  // A second version, edited in the editor and compared with the first.
  await page.getByRole('tab', { name: 'Editor' }).click();
  await replaceEditorText(page, EXPENSE_POLICY.replace('max_revisions: 3', 'max_revisions: 2'));
  await expect(page.getByTestId('validation-state')).toHaveText('valid');
  await page.getByTestId('save-policy').click();
  await expect(page).toHaveURL(/version=2$/);
  await page.getByRole('tab', { name: 'Compare versions' }).click();
  await expect(page.getByTestId('policy-diff')).toContainText('max_revisions: 2');
  await expect(page.getByTestId('policy-diff').locator('.cm-changedLine').first()).toBeVisible();
  await screenshot(page, 'policy-diff');
});
