// The audit log people can read, and Admin → Collections as a list with a
// page per collection, in a real browser: the owner creates two collections
// (one staff may not see) and a staff member; the staff member opens and
// downloads a document and is refused the other and an admin page; the
// owner reads those entries as sentences, filters them by person and kind
// of action, and looks at the collections list and one collection's page.
// Desktop and phone screenshots go to tests/browser/screenshots/audit-NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VIEWPORTS,
  assertNoHorizontalOverflow,
  assertNoProblems,
  launchBrowser,
  navigating,
  setUpOwner,
  newPage,
  pathOf,
  screenshotter,
  startServer,
} from './harness.mjs';

const OWNER = { business: 'Acme Dental', name: 'Olive Owner', username: 'olive', password: 'copper kettle violin meadow' };
const STAFF = { name: 'Tom Baker', username: 'tom', password: 'walnut harbour lantern pepper' };

async function createCollection(page, name, roles) {
  await page.goto('/collections');
  const form = page.locator('#new-collection form');
  await form.getByLabel('Name').fill(name);
  for (const role of ['Owners', 'Admins', 'All staff']) {
    const box = form.getByLabel(role);
    if (roles.includes(role) !== (await box.isChecked())) await box.click();
  }
  await navigating(page, () => form.getByRole('button', { name: 'Create collection' }).click());
  // Created in one place; an owner lands on the collection's own page.
  assert.match(pathOf(page), /^\/admin\/collections\/\d+$/, `after creating ${name}`);
  return Number(pathOf(page).split('/').pop());
}

async function uploadTo(page, collection, name, text) {
  await page.goto('/documents');
  await page.locator('#collection').selectOption(String(collection));
  await page.locator('#files').setInputFiles([{ name, mimeType: 'text/plain', buffer: Buffer.from(text) }]);
  await page.locator('#upload-start').click();
  const link = page.locator('#upload-list .upload-item', { hasText: name }).locator('.state a');
  await link.waitFor({ timeout: 120_000 });
  return Number((await link.getAttribute('href')).split('/').pop());
}

test('audit: reads and refusals as sentences, filters, collections list and page', { timeout: 300_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'audit-' });

  const owner = await newPage(browser, server);
  await setUpOwner(owner, server, OWNER);

  await owner.goto('/admin/users');
  await owner.getByLabel('Full name').fill(STAFF.name);
  await owner.getByLabel('Username').fill(STAFF.username);
  await owner.getByLabel('Role').selectOption('staff');
  await owner.getByLabel('First password').fill(STAFF.password);
  await navigating(owner, () => owner.getByRole('button', { name: /add/i }).click());

  const front = await createCollection(owner, 'Front desk', ['Owners', 'Admins', 'All staff']);
  const hr = await createCollection(owner, 'HR', ['Owners', 'Admins']);
  const policy = await uploadTo(owner, front, 'Refund policy.txt', 'Refunds are given within 30 days of purchase.');
  const salaries = await uploadTo(owner, hr, 'Salaries.txt', 'The salary bands for 2026.');

  // --- Tom opens and downloads the policy, and is refused the rest ---------------------
  const tom = await newPage(browser, server);
  await tom.goto('/login');
  await tom.getByLabel('Username').fill(STAFF.username);
  await tom.getByLabel('Password').fill(STAFF.password);
  await navigating(tom, () => tom.getByRole('button', { name: 'Sign in' }).click());
  await tom.goto(`/documents/${policy}`);
  await tom.getByRole('heading', { level: 1, name: 'Refund policy' }).waitFor();
  const [download] = await Promise.all([tom.waitForEvent('download'), tom.locator('#download').click()]);
  assert.equal(download.suggestedFilename(), 'Refund policy.txt');
  const refused = await tom.goto(`/documents/${salaries}`);
  assert.equal(refused.status(), 404, 'a document Tom may not see is "not found"');
  const forbidden = await tom.goto('/admin/users');
  assert.equal(forbidden.status(), 403);
  await tom.close();

  // --- The owner reads the log -------------------------------------------------------------
  await owner.goto('/admin/audit');
  const sentences = async () =>
    (await owner.locator('#audit .audit-sentence').allInnerTexts()).map((s) => s.trim());
  let said = await sentences();
  for (const expected of [
    'Tom Baker was refused Admin → Users',
    'Tom Baker was refused HR/Salaries.txt',
    'Tom Baker downloaded Refund policy.txt',
    'Tom Baker opened Refund policy.txt',
    'Tom Baker signed in',
    'Olive Owner uploaded Salaries.txt to HR',
    'Olive Owner created the collection HR',
    `Olive Owner created an account for ${STAFF.name}`,
  ]) {
    assert.ok(said.includes(expected), `"${expected}" in:\n${said.join('\n')}`);
  }
  // The dotted name stays, small, beside each sentence.
  const refusedRow = owner.locator('#audit tbody tr', { hasText: 'was refused HR/Salaries.txt' });
  assert.equal((await refusedRow.locator('code.audit-action').innerText()).trim(), 'docs.viewed');
  assert.equal((await refusedRow.locator('.badge').innerText()).trim(), 'refused');
  assert.match(await owner.locator('#audit-help').innerText(), /within 10 minutes/);
  await assertNoHorizontalOverflow(owner, 'audit log');
  await shot(owner, 'log-desktop');

  // Filter: Tom, documents only.
  await owner.getByLabel('Person').selectOption('tom');
  await owner.getByLabel('What').selectOption('docs');
  await navigating(owner, () => owner.getByRole('button', { name: 'Filter' }).click());
  said = await sentences();
  assert.deepEqual(said, [
    'Tom Baker was refused HR/Salaries.txt',
    'Tom Baker downloaded Refund policy.txt',
    'Tom Baker opened Refund policy.txt',
  ]);
  assert.match(owner.url(), /actor=tom/);
  await shot(owner, 'log-filtered');

  await owner.setViewportSize(VIEWPORTS.phone);
  await owner.goto('/admin/audit');
  await assertNoHorizontalOverflow(owner, 'audit log on a phone');
  await shot(owner, 'log-phone');
  await owner.setViewportSize(VIEWPORTS.desktop);

  // --- Admin → Collections: a list, and a page per collection ------------------------------
  await owner.goto('/admin/collections');
  const rows = owner.locator('#collections-admin tbody tr');
  assert.equal(await rows.count(), 2);
  assert.match(await rows.filter({ hasText: 'Front desk' }).innerText(), /Front desk[\s\S]*All staff[\s\S]*1[\s\S]*Owners, admins and all staff[\s\S]*Olive Owner/);
  assert.equal(await owner.locator('#collections-admin form').count(), 0, 'no open forms in the list');
  await assertNoHorizontalOverflow(owner, 'collections list');
  await shot(owner, 'collections-desktop');
  await navigating(owner, () => owner.getByRole('link', { name: 'HR', exact: true }).click());
  assert.equal(pathOf(owner), `/admin/collections/${hr}`);
  await owner.getByRole('heading', { level: 1, name: 'HR' }).waitFor();
  // Renaming asks first; saying no keeps the page as it was.
  await owner.getByLabel('Name', { exact: true }).fill('People');
  let asked = '';
  owner.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.dismiss();
  });
  await owner.getByRole('button', { name: 'Save' }).click();
  assert.equal(asked, 'Rename “HR” to “People”? Everyone who sees it sees the new name.');
  assert.equal(pathOf(owner), `/admin/collections/${hr}`);
  owner.once('dialog', (dialog) => dialog.accept());
  await navigating(owner, () => owner.getByRole('button', { name: 'Save' }).click());
  await owner.getByRole('heading', { level: 1, name: 'People' }).waitFor();
  assert.match(await owner.locator('.flash').innerText(), /Saved People/);
  assert.match(await owner.locator('#collection-delete').innerText(), /still holds 1 document/);
  await shot(owner, 'collection-desktop');
  await owner.setViewportSize(VIEWPORTS.phone);
  await owner.reload();
  await assertNoHorizontalOverflow(owner, 'collection page on a phone');
  await shot(owner, 'collection-phone');
  await owner.goto('/admin/collections');
  await assertNoHorizontalOverflow(owner, 'collections list on a phone');
  await shot(owner, 'collections-phone');

  // The rename is in the log, in words.
  await owner.goto('/admin/audit?action=collection');
  said = await sentences();
  assert.ok(said.includes('Olive Owner renamed a collection to People'), said.join('\n'));
  assertNoProblems(owner);
});
