// The owner's rules in a real browser (issue 14): Admin → Cloud turned on
// for "when a person asks" against a local OpenAI-compatible stub (the only
// test double: it plays the cloud), the connection tested; a question the
// box's own model cannot answer (none is loaded here) asked of the cloud
// model after seeing exactly what would be sent, personal data replaced;
// the answer marked wrong with a correction; Admin → Reviews turning it into
// a house fact; Admin → Egress listing what left; Admin → Audit checking
// the log. Desktop and phone screenshots go to
// tests/browser/screenshots/trust-NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  VIEWPORTS,
  assertNoHorizontalOverflow,
  assertNoProblems,
  launchBrowser,
  navigating,
  setUpOwner,
  newPage,
  screenshotter,
  seeText,
  startServer,
} from './harness.mjs';

const OWNER = { business: 'Acme Dental', name: 'Olive Owner', username: 'olive', password: 'copper kettle violin meadow' };
const KEY = 'sk-browser-test-4242';

/** A stand-in for the cloud: records each body, streams an answer. */
async function startCloud() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ auth: req.headers.authorization || '', body });
      const asked = JSON.parse(body || '{}');
      if (!asked.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { content: 'OK' } }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pieces = ['I have written to [EMA', 'IL_1]; ', 'the appointment stays at 10:00.'];
      for (const p of pieces) res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: p } }] })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}/v1`;
  return { base, received, stop: () => new Promise((r) => server.close(r)) };
}

test('trust: cloud when asked, a correction made a house fact, egress and audit checked', { timeout: 300_000 }, async (t) => {
  const cloud = await startCloud();
  t.after(() => cloud.stop());
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'trust-' });
  const page = await newPage(browser, server);
  await setUpOwner(page, server, OWNER);

  // --- Admin → Cloud: off by default, then on when a person asks --------------------------
  await page.goto('/admin/cloud');
  await seeText(page.locator('#cloud-state'), /nothing leaves this box/);
  await shot(page, 'cloud-off');
  await page.getByLabel('When a person asks, after seeing what will be sent').check();
  await page.getByLabel('API address').fill(cloud.base);
  await page.getByLabel('Model', { exact: true }).fill('gpt-test');
  await page.getByLabel('API key', { exact: true }).fill(KEY);
  await page.getByLabel(/on our own network/).check();
  await navigating(page, () => page.getByRole('button', { name: 'Save' }).click());
  await seeText(page.locator('.flash'), /Saved as version 1/);
  assert.equal(await page.getByLabel('API key', { exact: true }).inputValue(), '', 'the key is never shown again');
  assert.ok(!(await page.content()).includes(KEY), 'the key is not in the page');
  await navigating(page, () => page.getByRole('button', { name: 'Test the connection' }).click());
  await seeText(page.locator('#cloud-test-result'), /The connection works/);
  await assertNoHorizontalOverflow(page, 'Admin → Cloud');
  await shot(page, 'cloud-on');

  // --- A question the box's model cannot answer, asked of the cloud ---------------------
  await page.goto('/chat');
  await page.locator('#content').fill('Please email anna.schmidt@example.com that her appointment stays at 10:00.');
  // Sent as a plain form (the script's streamed send would report the
  // refusal as a failed request): no model here, so no answer.
  await navigating(page, () =>
    page.evaluate(() => HTMLFormElement.prototype.submit.call(document.getElementById('composer'))),
  );
  const conversation = await page.evaluate(() =>
    [...document.querySelectorAll('a[href^="/chat/"]')].map((a) => a.getAttribute('href')).find((h) => /^\/chat\/\d+$/.test(h)),
  );
  assert.ok(conversation, 'the conversation is listed');
  await page.goto(conversation);
  await page.locator('#cloud-offer').waitFor();
  await shot(page, 'unanswered');
  await navigating(page, () => page.locator('#cloud-offer a').click());
  const preview = await page.locator('#cloud-preview').innerText();
  assert.ok(!preview.includes('anna.schmidt@example.com'), preview);
  assert.match(preview, /\[EMAIL_1\]/);
  await seeText(page.locator('#cloud-redactions'), /email/);
  assert.equal(cloud.received.length, 1, 'only the connection test so far');
  await assertNoHorizontalOverflow(page, 'the preview');
  await shot(page, 'preview');
  await navigating(page, () => page.getByRole('button', { name: 'Send to gpt-test' }).click());
  // The answer streams into the page, then is stored; the reloaded page
  // shows it with its actions.
  await page
    .locator('.message.from-assistant .bubble', { hasText: 'written to anna.schmidt@example.com' })
    .waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => !document.querySelector('.message.pending'), null, { timeout: 30_000 });
  await page.reload();
  const answer = page.locator('.message.from-assistant').last();
  await seeText(answer, /written to anna\.schmidt@example\.com/);
  await seeText(answer.locator('.source'), /Answered by gpt-test in the cloud/);
  assert.equal(cloud.received.length, 2);
  assert.equal(cloud.received[1].auth, `Bearer ${KEY}`);
  assert.ok(!cloud.received[1].body.includes('anna.schmidt'), cloud.received[1].body);
  await shot(page, 'cloud-answer');

  // --- Marked wrong, with a correction ---------------------------------------------------
  await answer.locator('.flag-correct summary').click();
  await answer.getByLabel('What should it have said?').fill('Appointments are confirmed by phone, not e-mail.');
  await navigating(page, () => answer.getByRole('button', { name: 'Send the correction' }).click());
  await seeText(page.locator('.flash'), /correction goes to an owner or admin/);
  assert.equal(await page.locator('.message.from-assistant').last().locator('.flag-down').getAttribute('aria-pressed'), 'true');
  await shot(page, 'flagged');

  // --- Admin → Reviews: the correction becomes a house fact ------------------------------
  await page.goto('/admin/reviews');
  const card = page.locator('.review').first();
  await seeText(card, /confirmed by phone/);
  await assertNoHorizontalOverflow(page, 'Admin → Reviews');
  await shot(page, 'reviews');
  await navigating(page, () => card.getByRole('button', { name: 'Save as a house fact' }).click());
  await seeText(page.locator('.flash'), /Saved as a house fact/);
  await seeText(page.locator('#reviews-empty'), /Nothing is waiting/);

  // --- Admin → Egress: what left, with the redactions -----------------------------------
  await page.goto('/admin/egress');
  const rows = page.locator('#egress tbody tr');
  assert.equal(await rows.count(), 2);
  await seeText(rows.first(), /Question for the cloud model/);
  await seeText(rows.first(), /redacted: 1 email/);
  await seeText(rows.last(), /Test of the cloud connection/);
  await assertNoHorizontalOverflow(page, 'Admin → Egress');
  await shot(page, 'egress');

  // --- Admin → Changes: a change to the cloud settings rolled back ----------------------
  await page.goto('/admin/cloud');
  await page.getByLabel('Also automatically, when the local model is not available or too busy').check();
  await navigating(page, () => page.getByRole('button', { name: 'Save' }).click());
  await seeText(page.locator('.flash'), /Saved as version 2/);
  await page.goto('/admin/changes');
  const first = page.locator('#change-cloud-1');
  await seeText(first, /Cloud fallback/);
  await seeText(page.locator('#change-cloud-2'), /Policy\s+ask → auto/);
  await assertNoHorizontalOverflow(page, 'Admin → Changes');
  await shot(page, 'changes');
  page.once('dialog', (dialog) => dialog.accept());
  await navigating(page, () => first.getByRole('button', { name: 'Restore this version' }).click());
  await seeText(page.locator('.flash'), /Restored version 1 of cloud fallback/);
  await page.goto('/admin/cloud');
  await seeText(page.locator('#cloud-state'), /On when a person asks/);

  // --- Admin → Audit: the log checks out -------------------------------------------------
  await page.goto('/admin/audit');
  await page.locator('#audit-proof summary').click();
  await navigating(page, () => page.getByRole('button', { name: 'Check the log now' }).click());
  await seeText(page.locator('#audit-verdict'), /The log is intact/);
  await shot(page, 'audit-verified');

  await page.setViewportSize(VIEWPORTS.phone);
  for (const [path, name] of [['/admin/cloud', 'cloud-phone'], ['/admin/egress', 'egress-phone'], ['/admin/reviews?status=all', 'reviews-phone'], ['/admin/changes', 'changes-phone']]) {
    await page.goto(path);
    await assertNoHorizontalOverflow(page, `${path} on a phone`);
    await shot(page, name);
  }
  assertNoProblems(page);
});
