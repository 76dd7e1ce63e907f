// Driving the console: signing in with a login link, screenshots, axe.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoPath } from './stack';
import { mintToken, type Role } from './stack';

/** Opens a login link (`/#token=…`), as `make demo` prints them, and lands on `path`. */
export async function signIn(page: Page, sub: string, role: Role, tenant: string, path = '/'): Promise<void> {
  await page.goto(`${path}#token=${mintToken(sub, role, tenant)}`);
  await expect(page.getByTestId('signed-in-as')).toContainText(sub);
  // The token left the address bar.
  expect(new URL(page.url()).hash).toBe('');
}

/** Screenshots for docs/images (make screenshots) or, by default, test-results. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.AWE_SCREENSHOTS_DIR ? resolve(process.env.AWE_SCREENSHOTS_DIR) : repoPath('ui/test-results/screenshots');
  mkdirSync(dir, { recursive: true });
  // Pictures show the page, not the notifications of what was just done.
  // A notification may close by itself between finding and clicking it: a
  // click without a timeout would then wait for it until the test times out.
  for (const dismiss of await page.getByRole('button', { name: 'Dismiss' }).all()) {
    await dismiss.click({ timeout: 2_000 }).catch(() => {});
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** Fails on serious or critical accessibility violations (axe-core, WCAG 2 A/AA). */
export async function expectNoSeriousA11yViolations(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = serious.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n  ')}`).join('\n');
  expect(serious, `${what}: accessibility violations\n${report}`).toEqual([]);
}
