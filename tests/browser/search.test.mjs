// Search that forgives spelling, in a real browser: two documents, one
// British ("sterilisation") and one American ("sterilization"), both found
// by either spelling with the variant marked in each snippet; a misspelt
// search offering "Did you mean" as a link that runs the corrected search;
// and results titled by the documents themselves (a Markdown heading, an
// HTML <h1> under a junk <title>) with the file name beside the title.
// On a desktop and a phone. Screenshots go to
// tests/browser/screenshots/search-NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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

const OWNER = {
  business: 'Acme Dental',
  name: 'Olive Owner',
  username: 'olive',
  password: 'copper kettle violin meadow',
};

const FILES = {
  'infection-control-v3.md':
    'Read this first.\n\n# Infection control policy\n\nInstruments go through sterilisation after every use. ' +
    'The autoclave log is kept at the reception.\n',
  'cleaning.html':
    '<html><head><title>Microsoft Word - cleaning.docx</title></head><body><h1>Cleaning rota</h1>' +
    '<p>The sterilization room is cleaned daily by the evening team.</p></body></html>',
};

/** Extraction runs in a child process; a busy two-core box can be slow. */
const PROCESSING_TIMEOUT = 120_000;

/** Types `query` into the search box and waits for search.js's results. */
async function typeSearch(page, query, waitFor) {
  const q = page.locator('#q');
  await q.fill('');
  await q.click();
  await q.pressSequentially(query, { delay: 25 });
  await page.waitForFunction(
    (expected) => new URL(window.location.href).searchParams.get('q') === expected,
    query,
  );
  await page.locator(waitFor).first().waitFor();
}

async function resultTitles(page) {
  return (await page.locator('.result-title').allInnerTexts()).map((s) => s.trim()).sort();
}

test('search: spelling variants, did you mean, titles from the documents', { timeout: 600_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  assert.ok(server.setupCode, `the server printed no setup code:\n${server.logs()}`);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'search-' });

  const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-search-'));
  const files = [];
  for (const [name, text] of Object.entries(FILES)) {
    const file = path.join(dir, name);
    await writeFile(file, text);
    files.push(file);
  }

  const page = await newPage(browser, server);
  await setUpOwner(page, server, OWNER);
  // Owners land on the getting-started checklist after setup.
  assert.equal(pathOf(page), '/');

  // Upload both and wait until they are indexed.
  await page.goto('/documents');
  await page.locator('#files').setInputFiles(files);
  await page.locator('#upload-start').click();
  for (const name of Object.keys(FILES)) {
    const row = page.locator('#upload-list .upload-item.done, #upload-list .upload-item.failed').filter({ hasText: name });
    await row.waitFor({ timeout: PROCESSING_TIMEOUT });
    assert.match(await row.getAttribute('class'), /\bdone\b/, `${name} is indexed`);
  }

  // The document list names them by their own titles, file names beneath.
  await page.reload();
  const table = page.locator('table#documents');
  await table.waitFor();
  for (const [title, file] of [
    ['Infection control policy', 'infection-control-v3.md'],
    ['Cleaning rota', 'cleaning.html'],
  ]) {
    const row = table.locator('tbody tr', { hasText: file });
    assert.equal((await row.locator('td').first().locator('a').innerText()).trim(), title, `${file} is titled "${title}"`);
  }
  await shot(page, 'documents-titled');

  // An American spelling finds the British one too, marked in its snippet.
  await page.goto('/search');
  await typeSearch(page, 'sterilization', '#result-count');
  assert.match((await page.locator('#result-count').innerText()).trim(), /^2 documents found/);
  assert.deepEqual(await resultTitles(page), ['Cleaning rota', 'Infection control policy']);
  const marked = (await page.locator('.snippet mark').allInnerTexts()).map((s) => s.trim().toLowerCase()).sort();
  assert.deepEqual(marked, ['sterilisation', 'sterilization'], 'each snippet marks its own spelling');
  const files_beside = (await page.locator('.result-file').allInnerTexts()).map((s) => s.trim()).sort();
  assert.deepEqual(files_beside, ['cleaning.html', 'infection-control-v3.md'], 'file names beside the titles');
  assert.equal(await page.locator('#did-you-mean').count(), 0, 'nothing to correct');
  await assertNoHorizontalOverflow(page, 'search results');
  await shot(page, 'variant-found');

  // A misspelt search offers the right word; the link runs it.
  await typeSearch(page, 'sterlisation autoclave', '#did-you-mean');
  const suggestion = page.locator('#did-you-mean a');
  assert.equal((await suggestion.innerText()).trim(), 'sterilisation autoclave');
  assert.match((await page.locator('#did-you-mean').innerText()).trim(), /^Did you mean: sterilisation autoclave\?$/);
  await assertNoHorizontalOverflow(page, 'did you mean');
  await shot(page, 'did-you-mean');
  await navigating(page, () => suggestion.click());
  assert.equal(new URL(page.url()).searchParams.get('q'), 'sterilisation autoclave');
  assert.match((await page.locator('#result-count').innerText()).trim(), /^1 document found/);
  assert.deepEqual(await resultTitles(page), ['Infection control policy']);
  assert.equal(await page.locator('#relaxed').count(), 0, 'every word found');
  await shot(page, 'suggestion-followed');
  assertNoProblems(page);

  // The same on a phone.
  const phone = await newPage(browser, server, { viewport: VIEWPORTS.phone, isMobile: true, hasTouch: true });
  await phone.goto('/login');
  await phone.getByLabel('Username').fill(OWNER.username);
  await phone.getByLabel('Password').fill(OWNER.password);
  await navigating(phone, () => phone.getByRole('button', { name: 'Sign in' }).click());
  await phone.goto('/search');
  await typeSearch(phone, 'sterilization', '#result-count');
  assert.deepEqual(await resultTitles(phone), ['Cleaning rota', 'Infection control policy']);
  await assertNoHorizontalOverflow(phone, 'search results on a phone');
  await shot(phone, 'phone-variant-found');
  await typeSearch(phone, 'sterlisation', '#did-you-mean');
  await assertNoHorizontalOverflow(phone, 'did you mean on a phone');
  await shot(phone, 'phone-did-you-mean');
  await navigating(phone, () => phone.locator('#did-you-mean a').click());
  // Both spellings again.
  assert.match((await phone.locator('#result-count').innerText()).trim(), /^2 documents found/);
  assertNoProblems(phone);
});
