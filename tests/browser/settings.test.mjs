// Admin → Assistant in a real browser, as an office owner uses it: picking
// the Precise preset (the script fills in its numbers), changing the system
// prompt, saving, and reading in the history what changed (the preset, the
// numbers, the prompt as a line diff); the numbers under "Advanced" picking
// Custom or the preset they match; and "Restore factory settings" with its
// confirmation. At desktop and phone width.
// Screenshots go to tests/browser/screenshots/settings-NN-*.png.

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
  seeText,
  startServer,
} from './harness.mjs';

const OWNER = {
  business: 'Acme Dental',
  name: 'Olive Owner',
  username: 'olive',
  password: 'copper kettle violin meadow',
};
const HOUSE_RULE = 'Never give legal advice; refer to <b>our lawyer</b>.';

/** A diff line's text without the words read to screen readers ("Added: "). */
async function lineText(locator) {
  return (await locator.innerText()).replace(/^(Added|Removed):\s*/, '').trim();
}

/** The value of the checked preset radio. */
async function checkedPreset(page) {
  return page.locator('input[name="preset"]:checked').getAttribute('value');
}

test('assistant settings: presets, history with changes, factory settings', { timeout: 120_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  assert.ok(server.setupCode, `the server printed no setup code:\n${server.logs()}`);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'settings-' });

  const page = await newPage(browser, server);
  await setUpOwner(page, server, OWNER);
  assert.equal(pathOf(page), '/', 'the owner lands on the getting-started checklist');

  // --- The form: presets first, Balanced in use, numbers tucked away -------------
  await page.goto('/admin/assistant');
  await seeText(page.getByRole('heading', { level: 1 }), /^Assistant$/);
  assert.equal(await checkedPreset(page), 'balanced');
  const advanced = page.locator('#advanced');
  assert.equal(await advanced.evaluate((d) => d.open), false, 'Advanced starts closed');
  assert.equal(await page.locator('#temperature').isVisible(), false);
  await seeText(page.locator('#factory-state'), /^The factory settings are in use\.$/);
  await shot(page, 'form-desktop');

  // --- Precise: the script fills in its numbers ------------------------------------
  await page.getByRole('radio', { name: /^Precise/ }).check();
  assert.equal(await page.locator('#temperature').inputValue(), '0.2');
  assert.equal(await page.locator('#top_p').inputValue(), '0.8');
  const prompt = page.getByLabel('System prompt');
  const before = await prompt.inputValue();
  await prompt.fill(`${before}\n${HOUSE_RULE}`);
  await navigating(page, () => page.getByRole('button', { name: 'Save' }).click());
  await seeText(page.locator('.flash'), /^Saved as version 1\./);
  assert.equal(await checkedPreset(page), 'precise');

  // --- The history says what changed -------------------------------------------------
  const newest = page.locator('#history > li').first();
  await seeText(newest.locator('.version-number'), /^1$/);
  await seeText(newest.locator('.who'), /^olive$/);
  const changes = await newest.locator('.changes li').allInnerTexts();
  assert.deepEqual(changes.map((c) => c.trim()), [
    'Preset Balanced → Precise',
    'Temperature 0.7 → 0.2',
    'Top-p 0.9 → 0.8',
  ]);
  const added = newest.locator('.diff ins');
  assert.equal(await added.count(), 1);
  // The markup in the prompt is shown as text.
  assert.equal(await lineText(added), HOUSE_RULE);
  assert.equal(await page.locator('.diff b').count(), 0);
  assert.equal((await newest.locator('.diff .same').innerText()).trim(), before);
  await newest.scrollIntoViewIfNeeded();
  await shot(page, 'history-desktop');

  // --- The numbers pick Custom, or the preset they match ---------------------------
  await advanced.locator('summary').click();
  await page.locator('#temperature').fill('0.5');
  assert.equal(await checkedPreset(page), 'custom');
  await page.locator('#temperature').fill('1');
  await page.locator('#top_p').fill('0.95');
  assert.equal(await checkedPreset(page), 'creative');
  await page.getByRole('radio', { name: /^Custom/ }).check();
  await page.locator('#temperature').fill('0.45');
  await page.locator('#advanced').scrollIntoViewIfNeeded();
  await shot(page, 'advanced-desktop');

  // --- An error names the field and its range -------------------------------------
  await page.locator('#max_answer_tokens').fill('5000');
  await navigating(page, () => page.getByRole('button', { name: 'Save' }).click());
  await seeText(page.locator('.error'), /^Longest answer may use at most half of the context: up to 1,024 tokens/);
  assert.equal(await page.locator('#max_answer_tokens').getAttribute('aria-invalid'), 'true');
  assert.equal(await advanced.evaluate((d) => d.open), true, 'Advanced opens on its error');
  assert.equal(await checkedPreset(page), 'custom');
  await shot(page, 'error-desktop');

  // --- Restore factory settings, after a confirmation ------------------------------
  await page.goto('/admin/assistant');
  let question = null;
  page.once('dialog', (dialog) => {
    question = dialog.message();
    dialog.accept();
  });
  await navigating(page, () => page.getByRole('button', { name: 'Restore factory settings' }).click());
  assert.match(question, /^Restore the factory settings\?/);
  await seeText(page.locator('.flash'), /^Restored the factory settings \(saved as version 2\)\.$/);
  assert.equal(await checkedPreset(page), 'balanced');
  assert.equal(await page.getByLabel('System prompt').inputValue(), before);
  const factory = page.locator('#history > li').first();
  await seeText(factory.locator('.version-number'), /^2$/);
  await seeText(factory.locator('.badge', { hasText: 'Factory settings' }), /^Factory settings$/);
  assert.deepEqual((await factory.locator('.changes li').allInnerTexts()).map((c) => c.trim()), [
    'Preset Precise → Balanced',
    'Temperature 0.2 → 0.7',
    'Top-p 0.8 → 0.9',
  ]);
  assert.equal(await lineText(factory.locator('.diff del')), HOUSE_RULE);
  // Version 1 can be restored again.
  assert.equal(await page.locator('#version-1 button', { hasText: 'Restore' }).count(), 1);
  await factory.scrollIntoViewIfNeeded();
  await shot(page, 'factory-desktop');

  // --- Phone width ----------------------------------------------------------------------
  await page.setViewportSize(VIEWPORTS.phone);
  await page.goto('/admin/assistant');
  await assertNoHorizontalOverflow(page, 'assistant settings on a phone');
  await shot(page, 'phone');
  await advanced.locator('summary').click();
  await assertNoHorizontalOverflow(page, 'assistant settings on a phone, Advanced open');
  await shot(page, 'phone-advanced');

  assertNoProblems(page);
});
