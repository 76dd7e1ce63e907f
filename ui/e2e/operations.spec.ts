// Operations: a dead letter is replayed and delivered; endpoints are
// rotated and disabled; parts the REST API lacks say so.
import { expect, test } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expectNoSeriousA11yViolations, screenshot, signIn } from './support/console';
import { seedExpenses } from './support/seed';
import { lit, newTenant, sql } from './support/stack';

/** A webhook receiver on loopback that answers 204 and counts what it got. */
function receiver(): Promise<{ server: Server; url: string; received: string[] }> {
  const received: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received });
  }));
}

test('a dead letter is replayed', async ({ page }) => {
  const tenant = newTenant('ops');
  seedExpenses(tenant);
  const hook = await receiver();
  try {
    sql(`select awe.register_endpoint(${lit(hook.url)}, 'expense app');`, tenant);
    // A request whose webhooks are all dead letters: as if the receiver had
    // been down for a day (the retry schedule is too long to wait for).
    const context = JSON.stringify({ amount: 700, submitter: 'sam', manager: 'mia' });
    sql(`select awe.set_endpoint_enabled(endpoint_id, false, 'receiver down') from awe.endpoints;`, tenant);
    const requestId = sql(
      `set awe.actor = 'expense-app';
       select awe.submit('expense.report', 'expense_report', 'EXP-6001', ${lit(context)}::jsonb, requester => 'sam',
                         callback_url => ${lit(hook.url)}) ->> 'request_id';`, tenant);
    sql(`update awe.delivery set status = 'dead', attempts = 12, last_status = 503, last_error = 'HTTP 503 Service Unavailable',
                                first_attempt_at = now() - interval '26 hours'
          where tenant_id = ${lit(tenant)} and request_id = ${lit(requestId)};
         select awe.set_endpoint_enabled(endpoint_id, true, null) from awe.endpoints;`, tenant);
    const dead = Number(sql(`select count(*) from awe.deliveries where status = 'dead';`, tenant));
    expect(dead).toBeGreaterThan(1);

    await signIn(page, 'ada', 'awe_admin', tenant, '/operations');
    await expect(page.getByTestId('endpoints-table')).toContainText(hook.url);
    await page.getByRole('tab', { name: 'Dead letters' }).click();
    const table = page.getByTestId('dead-letters-table');
    await expect(table.locator('[data-delivery-id]')).toHaveCount(dead);
    await expect(table).toContainText('HTTP 503');
    await screenshot(page, 'operations');
    await expectNoSeriousA11yViolations(page, 'dead letters');

    const first = table.locator('[data-delivery-id]').first();
    const id = await first.getAttribute('data-delivery-id');
    await first.getByRole('button', { name: `Replay delivery ${id}` }).click();
    await expect(page.getByText(/1 delivery queued again/)).toBeVisible();
    await expect(table.locator(`[data-delivery-id="${id}"]`)).toHaveCount(0);
    // The worker delivers it to the receiver.
    await expect.poll(() => sql(`select status from awe.deliveries where delivery_id = ${id};`, tenant), { timeout: 30_000 }).toBe('delivered');
    expect(hook.received.length).toBeGreaterThan(0);
    await page.getByRole('tab', { name: 'Deliveries', exact: true }).click();
    await expect(page.getByTestId('deliveries-table').locator(`[data-delivery-id="${id}"]`)).toContainText('delivered');

    // The backlog counts what is waiting; the worker's status needs a view awe does not expose yet.
    await page.getByRole('tab', { name: 'Backlog' }).click();
    await expect(page.getByTestId('backlog-dead')).toHaveText(String(dead - 1));
    await page.getByRole('tab', { name: 'Worker' }).click();
    await expect(page.getByTestId('not-available').or(page.getByTestId('worker-status')).first()).toBeVisible();

    // Rotate the endpoint's secret (shown once) and disable it.
    await page.getByRole('tab', { name: 'Endpoints' }).click();
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    await expect(page.getByTestId('new-secret')).toHaveText(/^whsec_/);
    await page.getByRole('button', { name: 'Done' }).click();
    await expect(page.getByTestId('endpoints-table')).toContainText('2'); // two live secrets during the overlap
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('dialog').getByLabel('Reason').fill('maintenance');
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await expect(page.getByTestId('endpoints-table')).toContainText('disabled');
    expect(sql(`select enabled from awe.endpoints;`, tenant)).toBe('f');
  } finally {
    hook.server.close();
  }
});

test('directory: principals, roles, groups, and no directory source', async ({ page }) => {
  const tenant = newTenant('dir');
  seedExpenses(tenant);
  await signIn(page, 'ada', 'awe_admin', tenant, '/directory');
  await expect(page.getByTestId('principals-table')).toContainText('Mia Manager');
  await page.getByRole('tab', { name: 'Groups' }).click();
  await expect(page.getByTestId('groups-table')).toContainText('/finance/approvers');
  await page.getByRole('tab', { name: 'Roles' }).click();
  await expect(page.getByTestId('roles-table')).toContainText('finance-director');
  await page.getByRole('tab', { name: 'Sync status' }).click();
  await expect(page.getByTestId('sync-status')).toBeVisible();
  await expectNoSeriousA11yViolations(page, 'directory');
});
