// A scheduling request typed in chat: the conversation offers the
// scheduling assistant, and "Show free times for this" shows what it
// understood and the options right under the message; Confirm books one,
// and nothing is booked before. Needs the model (chat answers the message).
// Screenshots: tests/browser/screenshots/chat-schedule-NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, navigating, newPage, pathOf, screenshotter, setUpOwner, startServer, testModelPath } from './harness.mjs';

const OWNER = { business: 'Acme Dental', name: 'Olive Owner', username: 'olive', password: 'copper kettle violin meadow' };

/** JSON API calls from the signed-in page (session cookie + CSRF header). */
async function api(page, method, url, body) {
  return page.evaluate(
    async ({ method, url, body }) => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const response = await fetch(url, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json().catch(() => null) };
    },
    { method, url, body },
  );
}

test('chat: a scheduling request shows the assistant\'s options in the conversation', { timeout: 300_000 }, async (t) => {
  const model = await testModelPath();
  if (!model) {
    t.skip('no model file: set HEARTH_TEST_MODEL to run the chat scheduling test');
    return;
  }
  const server = await startServer({ config: `[llm]\nmodel = ${JSON.stringify(model)}\nthreads = 2\n` });
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'chat-schedule-' });
  const page = await newPage(browser, server);

  await setUpOwner(page, server, OWNER);
  await server.waitForLog(/model loaded/, { timeoutMs: 60_000 });

  // An office: Dr Lee does cleanings; Maria Ortiz is a customer.
  const staff = await api(page, 'POST', '/api/v1/staff', { name: 'Dr Lee' });
  assert.equal(staff.status, 201, JSON.stringify(staff.body));
  const service = await api(page, 'POST', '/api/v1/services', { name: 'Cleaning', duration_minutes: 45, staff: [staff.body.id] });
  assert.equal(service.status, 201, JSON.stringify(service.body));
  const customer = await api(page, 'POST', '/api/v1/customers', { name: 'Maria Ortiz', phone: '555-0101' });
  assert.equal(customer.status, 201, JSON.stringify(customer.body));

  await page.goto('/chat');
  await page.getByLabel('Your message').fill('book Maria Ortiz for a cleaning next week with Dr Lee');
  await page.locator('#composer').getByRole('button', { name: 'Send' }).click();
  await page.waitForURL(/\/chat\/\d+$/);
  // The offer appears under the message as it is sent (and on a reload).
  const hint = page.locator('.scheduling-hint');
  await hint.waitFor({ timeout: 60_000 });
  await page.locator('#stop').waitFor({ state: 'hidden', timeout: 120_000 });
  await hint.getByRole('button', { name: 'Show free times for this' }).click();
  const card = page.getByRole('region', { name: 'Scheduling assistant' });
  await card.locator('.slots li').first().waitFor({ timeout: 60_000 });
  const options = await card.locator('.offer-label').allInnerTexts();
  assert.ok(options.length >= 1, 'options are shown');
  assert.match(options[0], /^Book Maria Ortiz: Cleaning, .* with Dr Lee$/);
  const before = await api(page, 'GET', '/api/v1/appointments?from=2000-01-01&to=2000-01-01');
  assert.equal(before.status, 200);
  const listed = await page.evaluate(async () => (await (await fetch('/api/v1/appointments?include_cancelled=true&from=' + new Date().toISOString().slice(0, 10))).json()).length);
  assert.equal(listed, 0, 'nothing booked before Confirm');
  await shot(page, 'options');

  await card.getByRole('button', { name: 'Confirm' }).first().click();
  const done = card.locator('.flash');
  await done.waitFor();
  assert.match(await done.innerText(), /^Confirmed: Book Maria Ortiz: Cleaning, .* with Dr Lee\. Open the appointment$/);
  await shot(page, 'confirmed');
  await navigating(page, () => done.getByRole('link').click());
  assert.match(pathOf(page), /^\/schedule\/appointments\/\d+$/);
});
