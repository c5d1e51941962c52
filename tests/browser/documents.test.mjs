// The Documents feature in a real browser: uploading several files at once
// (a progress row per file, two indexed, one broken PDF failing with a
// reason), the document list after a reload, search as you type with
// highlighted snippets, a result opening the document at the matching
// passage, and, when the model file is there, a chat answer from the
// documents with its sources. Also /documents and /search on a phone.
// Screenshots go to tests/browser/screenshots/docs-NN-*.png.
//
// The chat part needs the model file ($HEARTH_TEST_MODEL, else
// ~/.cache/hearth/models/SmolLM2-135M-Instruct.Q4_1.gguf); without it that
// part is skipped and the rest still runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  REPO_ROOT,
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
  testModelPath,
} from './harness.mjs';

const OWNER = {
  business: 'Acme Dental',
  name: 'Olive Owner',
  username: 'olive',
  password: 'copper kettle violin meadow',
};
const FIXTURES = path.join(REPO_ROOT, 'tests', 'fixtures', 'docs');
const GOOD = ['sample.pdf', 'sample.docx'];
const BAD = 'junk.pdf';
const QUERY = 'quarterly budget';
const QUESTION = 'When is the quarterly budget review?';

/** Extraction runs in a child process; a busy two-core box can be slow. */
const PROCESSING_TIMEOUT = 120_000;
/** The model may take a while on a busy two-core machine. */
const ANSWER_TIMEOUT = 180_000;

/** The upload row (li.upload-item) for the file called `name`. */
function uploadRow(page, name) {
  return page.locator('#upload-list .upload-item').filter({
    has: page.locator('.name', { hasText: new RegExp(`^${name.replace(/\./g, '\\.')}$`) }),
  });
}

/** Marks the window so that a later check can tell no page load happened. */
async function markWindow(page) {
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
}

async function assertSameDocument(page, what) {
  assert.equal(await page.evaluate(() => window.__sameDocument === true), true, `${what}: no page load`);
}

/** Checks that the document page highlights a passage that holds `pattern`. */
async function assertHighlightedChunk(page, pattern, what) {
  const highlighted = page.locator('.chunk.highlighted');
  await highlighted.first().waitFor({ state: 'visible' });
  assert.equal(await highlighted.count(), 1, `${what}: exactly one highlighted passage`);
  const text = (await highlighted.innerText()).trim();
  assert.match(text, pattern, `${what}: the highlighted passage`);
  const url = new URL(page.url());
  const ord = url.searchParams.get('chunk');
  assert.ok(ord !== null, `${what}: the address names the passage (${page.url()})`);
  assert.equal(await highlighted.getAttribute('id'), `chunk-${ord}`, `${what}: the named passage is the highlighted one`);
  // The page scrolls to the passage (#chunk-N): it is on screen.
  const inView = await highlighted.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight;
  });
  assert.ok(inView, `${what}: the highlighted passage is scrolled into view`);
}

test('documents: upload, list, search as you type, answer from documents, phone', { timeout: 900_000 }, async (t) => {
  const model = await testModelPath();
  const server = await startServer({
    config: model ? `[llm]\nmodel = ${JSON.stringify(model)}\nthreads = 2\n` : '',
  });
  t.after(() => server.stop());
  assert.ok(server.setupCode, `the server printed no setup code:\n${server.logs()}`);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'docs-' });
  const started = Date.now();
  const timings = {};
  const mark = (name) => {
    timings[name] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  };

  try {
    const page = await newPage(browser, server);

    // --- 1. The owner signs up ------------------------------------------------------------
    await setUpOwner(page, server, OWNER);
    assert.equal(pathOf(page), '/', 'the owner lands on the getting-started checklist');

    // --- 2. /documents: nothing yet ---------------------------------------------------------
    await page.goto('/documents');
    await seeText(page.getByRole('heading', { level: 1 }), /^Documents$/);
    assert.match(await page.title(), new RegExp(`^Documents · ${OWNER.business}`));
    await seeText(page.locator('.empty-state'), /^No documents yet\./);
    assert.equal(await page.locator('#documents').count(), 0, 'no document table yet');
    assert.equal(await page.locator('#upload-list .upload-item').count(), 0, 'no upload rows yet');
    assert.ok((await page.locator('#collection option').count()) >= 1, 'at least one collection to upload to');
    await assertNoHorizontalOverflow(page, 'empty documents page');
    await shot(page, 'documents-empty');

    // --- 3. Upload three files at once ---------------------------------------------------
    const files = [...GOOD, BAD].map((name) => path.join(FIXTURES, name));
    await page.locator('#files').setInputFiles(files);
    await markWindow(page);
    await page.locator('#upload-start').click();
    // One row per file, each with a progress bar, straight away.
    await page.locator('#upload-list .upload-item').nth(2).waitFor();
    assert.equal(await page.locator('#upload-list .upload-item').count(), 3, 'one row per file');
    for (const name of [...GOOD, BAD]) {
      const row = uploadRow(page, name);
      assert.equal(await row.count(), 1, `one row for ${name}`);
      assert.equal(await row.locator('progress').count(), 1, `${name} has a progress bar`);
      assert.match(
        (await row.locator('progress').getAttribute('aria-label')) || '',
        new RegExp(name.replace(/\./g, '\\.')),
        `${name}'s progress bar is labelled`,
      );
    }
    // Processing: the good ones are indexed, the broken PDF fails with a reason.
    for (const name of GOOD) {
      const row = uploadRow(page, name);
      await page
        .locator('#upload-list .upload-item.done, #upload-list .upload-item.failed')
        .filter({ hasText: name })
        .waitFor({ timeout: PROCESSING_TIMEOUT });
      const className = await row.getAttribute('class');
      assert.match(
        className,
        /\bdone\b/,
        `${name} is indexed, not failed: "${(await row.locator('.state').innerText()).trim()}"`,
      );
      const link = row.locator('.state a');
      await seeText(link, /^Indexed/);
      assert.match(await link.getAttribute('href'), /^\/documents\/\d+$/);
      assert.equal(await row.locator('progress').evaluate((el) => el.value), 100, `${name}'s bar is full`);
    }
    const badRow = uploadRow(page, BAD);
    await page.locator('#upload-list .upload-item.failed', { hasText: BAD }).waitFor({ timeout: PROCESSING_TIMEOUT });
    const reason = (await badRow.locator('.state').innerText()).trim();
    assert.ok(reason.length >= 10, `a readable reason for ${BAD}: "${reason}"`);
    assert.doesNotMatch(reason, /^(undefined|null|\[object|The server answered)/, `a readable reason: "${reason}"`);
    assert.equal(await badRow.locator('.state a').count(), 0, 'no "Indexed" link on the failed row');
    await assertSameDocument(page, 'the upload');
    assert.equal(pathOf(page), '/documents', 'the upload stays on the page');
    mark('upload processed');
    await assertNoHorizontalOverflow(page, 'documents page after upload');
    await shot(page, 'uploaded');

    // --- 4. Reload: the table lists them with their status --------------------------------
    await page.reload();
    const table = page.locator('table#documents');
    await table.waitFor();
    await seeText(page.getByRole('heading', { level: 2, name: /^\d+ documents?/ }), /^3 documents$/);
    assert.equal(await page.locator('#pending-badge').count(), 0, 'nothing is still being processed');
    assert.equal(await table.locator('tbody tr').count(), 3, 'three rows');
    for (const name of GOOD) {
      const row = table.locator('tbody tr', { hasText: name });
      assert.equal(await row.getAttribute('data-status'), 'indexed', `${name} is indexed`);
      await seeText(row.locator('.badge.status-indexed'), /^Indexed$/);
      await row.locator('td').first().locator('a').waitFor();
      assert.match(await row.locator('td').first().locator('a').getAttribute('href'), /^\/documents\/\d+$/);
    }
    {
      const row = table.locator('tbody tr', { hasText: BAD });
      assert.equal(await row.getAttribute('data-status'), 'failed', `${BAD} failed`);
      await seeText(row.locator('.badge.status-failed'), /^Failed$/);
      const listed = await seeText(row.locator('.error-text'), /\S/);
      assert.ok(listed.length >= 10, `the table shows why ${BAD} failed: "${listed}"`);
    }
    // The PDF has its page count.
    const pdfPages = (await table.locator('tbody tr', { hasText: 'sample.pdf' }).locator('td').nth(4).innerText()).trim();
    assert.match(pdfPages, /^\d+$/, `sample.pdf shows its number of pages: "${pdfPages}"`);
    await assertNoHorizontalOverflow(page, 'document list');
    await shot(page, 'documents-list');

    // The failed one's own page says why, and has no text.
    await navigating(page, () => table.locator('tbody tr', { hasText: BAD }).locator('td a').first().click());
    assert.match(pathOf(page), /^\/documents\/\d+$/);
    await seeText(page.locator('#document-status'), /^Failed$/);
    await seeText(page.locator('#document-error'), /\S{3}/);
    await seeText(page.locator('#text .empty-state'), /^No text could be taken from this file\.$/);
    await shot(page, 'document-failed');

    // --- 5. Search as you type --------------------------------------------------------------
    await page.goto('/search');
    await seeText(page.getByRole('heading', { level: 1 }), /^Search$/);
    await page.locator('#search-help').waitFor();
    await markWindow(page);
    const q = page.locator('#q');
    await q.click();
    await q.pressSequentially(QUERY, { delay: 40 });
    // No Enter: search.js fetches the results after a short pause.
    const count = await seeText(page.locator('#result-count'), /^\d+ documents? found/);
    assert.ok(parseInt(count, 10) >= 2, `both indexed documents are found: "${count}"`);
    await assertSameDocument(page, 'search as you type');
    assert.equal(new URL(page.url()).searchParams.get('q'), QUERY, 'the address bar follows the search');
    const results = page.locator('ol.results li.result');
    assert.ok((await results.count()) >= 2, 'at least two results');
    const marks = page.locator('.snippet mark');
    assert.ok((await marks.count()) >= 1, 'the snippets highlight the words');
    const marked = (await marks.allInnerTexts()).map((s) => s.trim().toLowerCase());
    assert.ok(
      marked.some((m) => /quarterly|budget/.test(m)),
      `a highlighted word is one searched for: ${JSON.stringify(marked)}`,
    );
    const titles = (await page.locator('.result-title').allInnerTexts()).map((s) => s.trim());
    assert.ok(titles.every((s) => s.length > 0), `every result has a title: ${JSON.stringify(titles)}`);
    assert.equal(await page.locator('.result-title', { hasText: BAD }).count(), 0, 'the failed file is not found');
    await assertNoHorizontalOverflow(page, 'search results');
    await shot(page, 'search-results');

    // A word that is nowhere: the help for an empty result, still without a page load.
    await q.fill('');
    await q.pressSequentially('zebracorn', { delay: 20 });
    await seeText(page.locator('#no-results'), /Nothing found for “zebracorn”\./);
    await assertSameDocument(page, 'a search with no results');
    await q.fill('');
    await q.pressSequentially(QUERY, { delay: 20 });
    await page.locator('#result-count').waitFor();

    // The first result opens the document at the passage.
    const firstTitle = page.locator('.result-title').first();
    const firstHref = await firstTitle.getAttribute('href');
    assert.match(firstHref, /^\/documents\/\d+\?chunk=\d+#chunk-\d+$/, `result link: ${firstHref}`);
    await navigating(page, () => firstTitle.click());
    assert.match(pathOf(page), /^\/documents\/\d+$/);
    await seeText(page.locator('#document-status'), /^Indexed$/);
    await assertHighlightedChunk(page, /quarterly budget/i, 'search result');
    await assertNoHorizontalOverflow(page, 'document page');
    await shot(page, 'document-highlighted');
    assertNoProblems(page);
    mark('search done');

    // --- 6. Answer from the documents (needs the model) --------------------------------------
    if (!model) {
      t.diagnostic('no model file: the answer-from-documents part is skipped (set HEARTH_TEST_MODEL)');
    } else {
      await server.waitForLog(/model loaded/, { timeoutMs: 120_000 });
      mark('model loaded');
      await page.goto('/chat');
      assert.equal(await page.locator('#unavailable').count(), 0, 'no "assistant unavailable" notice');
      const documentsMode = page.locator('#documents-mode');
      await documentsMode.waitFor();
      assert.equal(await documentsMode.inputValue(), 'auto', 'documents are used automatically by default');
      await documentsMode.selectOption('only');
      await page.getByLabel('Your message').fill(QUESTION);
      // The first answer's stream stays open a little after "done" (it names the
      // conversation); leaving the page before it closes would abort it.
      const streamClosed = page.waitForEvent('requestfinished', {
        predicate: (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/chat/new',
        timeout: 2 * ANSWER_TIMEOUT,
      });
      streamClosed.catch(() => {});
      await page.getByLabel('Your message').press('Enter');
      const answer = page.locator('#messages .message.from-assistant').last();
      await answer.locator('.meta .source').waitFor({ timeout: ANSWER_TIMEOUT });
      mark('answer done');
      await page.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 5_000 });
      await streamClosed;
      const answerText = (await answer.locator('.bubble').innerText()).trim();
      assert.ok(answerText.length > 0, 'the answer is not empty');
      assert.match(pathOf(page), /^\/chat\/\d+$/);
      const conversationPath = pathOf(page);

      const sources = answer.locator('details.sources');
      await sources.waitFor({ timeout: 5_000 });
      await seeText(sources.locator('summary'), /^Sources \(\d+ passages? used\)$/);
      const sourceLinks = sources.locator('.source-list a');
      assert.ok((await sourceLinks.count()) >= 1, 'the sources link to the documents');
      await shot(page, 'chat-answer');
      await sources.locator('summary').click();
      await sourceLinks.first().waitFor({ state: 'visible' });
      assert.ok(await sources.evaluate((el) => el.open), 'the sources open');
      await seeText(sources.locator('.excerpt'), /\S/);
      await shot(page, 'chat-sources-open');
      const sourceHref = await sourceLinks.first().getAttribute('href');
      assert.match(sourceHref, /^\/documents\/\d+\?chunk=\d+#chunk-\d+$/, `source link: ${sourceHref}`);
      await navigating(page, () => sourceLinks.first().click());
      assert.match(pathOf(page), /^\/documents\/\d+$/);
      await assertHighlightedChunk(page, /\S/, 'source link');
      await shot(page, 'source-document');

      // The stored conversation shows the sources again after a reload.
      await page.goto(conversationPath);
      const stored = page.locator('#messages .message.from-assistant').last();
      await stored.locator('details.sources').waitFor();
      const storedItems = await stored.locator('details.sources .source-list li').count();
      assert.ok(storedItems >= 1, 'the stored answer keeps its sources');
      assert.equal(
        await stored.locator('details.sources .source-list a').count(),
        storedItems,
        'every stored source links to its (live) document',
      );

      // A citation in the answer itself, if the small model wrote one.
      const citations = stored.locator('.bubble a[href*="/documents/"]');
      const citationCount = await citations.count();
      t.diagnostic(`answer (${citationCount} citation link(s)): ${JSON.stringify(answerText.slice(0, 300))}`);
      if (citationCount > 0) {
        // Links in answers open in a new tab (the chat stays where it was).
        const href = await citations.first().getAttribute('href');
        const [opened] = await Promise.all([
          page.context().waitForEvent('page'),
          citations.first().click(),
        ]);
        await opened.waitForLoadState('load');
        assert.match(pathOf(opened), /^\/documents\/\d+$/, `citation ${href} opens a document`);
        await opened.locator('.chunk').first().waitFor();
        if (new URL(opened.url()).searchParams.has('chunk')) await assertHighlightedChunk(opened, /\S/, 'citation link');
        await shot(opened, 'citation-document');
        await opened.close();
      }
      assertNoProblems(page);
    }

    // --- 7. On a phone -----------------------------------------------------------------------
    const phone = await newPage(browser, server, { viewport: VIEWPORTS.phone, isMobile: true, hasTouch: true });
    await phone.goto('/login');
    await phone.getByLabel('Username').fill(OWNER.username);
    await phone.getByLabel('Password').fill(OWNER.password);
    await navigating(phone, () => phone.getByRole('button', { name: 'Sign in' }).click());
    await phone.goto('/documents');
    await phone.locator('table#documents').waitFor();
    await assertNoHorizontalOverflow(phone, 'documents on a phone');
    const upload = await phone.locator('#upload-start').boundingBox();
    assert.ok(upload.x >= 0 && upload.x + upload.width <= VIEWPORTS.phone.width, 'Upload fits on screen');
    await shot(phone, 'phone-documents');
    await phone.goto('/search');
    await phone.locator('#q').click();
    await phone.locator('#q').pressSequentially(QUERY, { delay: 20 });
    await phone.locator('#result-count').waitFor();
    await assertNoHorizontalOverflow(phone, 'search on a phone');
    await shot(phone, 'phone-search');
    assertNoProblems(phone);
    mark('all done');
    t.diagnostic(`timings: ${JSON.stringify(timings)}`);
    if (process.env.HEARTH_TEST_LOGS) t.diagnostic(`server output:\n${server.logs()}`);
  } catch (err) {
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
