// Chat that feels finished (issue 12), in a real browser with the real
// local model: Copy (as text and as Markdown), Regenerate, Edit-and-resend
// and Continue on answers; an answer that keeps going while its person is in
// another conversation and is finished (or still streaming) on coming back;
// e-mail header lines kept on their own lines; a phone with a wide code block
// and a wide table that do not widen the page. Screenshots go to
// tests/browser/screenshots/actions-NN-*.png.
//
// Needs the model file ($HEARTH_TEST_MODEL or the default in
// ~/.cache/hearth/models); skipped without it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  VIEWPORTS,
  assertNoProblems,
  launchBrowser,
  navigating,
  setUpOwner,
  newPage,
  pathOf,
  screenshotter,
  startServer,
  testModelPath,
} from './harness.mjs';

const OWNER = {
  business: 'Acme Dental',
  name: 'Olive Owner',
  username: 'olive',
  password: 'copper kettle violin meadow',
};
const ANSWER_TIMEOUT = 180_000;
const STORY = 'Write a very long story about a lighthouse keeper with many chapters.';

async function pageWidth(page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
}

/** Replaces a stored answer's text, as a fixture (the model cannot be told
 *  what to write): SQLite in WAL mode takes a second writer safely. */
function setAnswerText(dataDir, messageId, text) {
  execFileSync('python3', [
    '-c',
    'import sqlite3, sys\n' +
      'db = sqlite3.connect(sys.argv[1], timeout=10)\n' +
      'db.execute("UPDATE messages SET content = ?, status = \'done\' WHERE id = ?", (sys.argv[3], int(sys.argv[2])))\n' +
      'db.commit()\n',
    path.join(dataDir, 'hearth.db'),
    String(messageId),
    text,
  ]);
}

/** Waits until the newest answer is stored (its meta shows the source). */
async function answered(page, timeout = ANSWER_TIMEOUT) {
  const last = page.locator('#messages .message.from-assistant').last();
  await last.locator('.meta .source').waitFor({ timeout });
  await page.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 10_000 });
  return last;
}

test('chat actions: copy, regenerate, edit, continue, background answers, phone', { timeout: 900_000 }, async (t) => {
  const model = await testModelPath();
  if (!model) {
    t.skip('no model file: set HEARTH_TEST_MODEL to run the chat actions test');
    return;
  }
  const server = await startServer({
    config: `[llm]\nmodel = ${JSON.stringify(model)}\nthreads = 2\n`,
  });
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const fullShot = screenshotter({ prefix: 'actions-' });
  // The composer sticks to the bottom of the window, which in a full-page
  // screenshot covers the newest answer; it is put back in the flow first.
  const shot = async (target, name) => {
    await target.evaluate(() => { document.getElementById('composer').style.position = 'static'; });
    await fullShot(target, name);
    await target.evaluate(() => { document.getElementById('composer').style.position = ''; });
  };

  const page = await newPage(browser, server);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseURL });
  const textarea = page.getByLabel('Your message');
  await setUpOwner(page, server, OWNER);
  await server.waitForLog(/model loaded/, { timeoutMs: 60_000 });
  await page.goto('/chat');

  // --- 1. An answer, its actions, and Copy ------------------------------------------------
  await textarea.fill('Hello! What can you help me with?');
  await textarea.press('Enter');
  let answer = await answered(page);
  const conversation = pathOf(page);
  const copy = answer.getByRole('button', { name: 'Copy', exact: true });
  const copyMarkdown = answer.getByRole('button', { name: 'Copy as Markdown' });
  const regenerate = answer.getByRole('button', { name: 'Regenerate' });
  await copy.waitFor();
  await copyMarkdown.waitFor();
  await regenerate.waitFor();
  assert.equal(await answer.getByRole('button', { name: 'Continue' }).count(), 0, 'a complete answer has no Continue');
  const firstText = (await answer.locator('.bubble').innerText()).trim();
  await copy.click();
  await answer.getByRole('button', { name: 'Copied' }).waitFor({ timeout: 2_000 });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied.trim(), firstText, 'Copy puts the answer as text on the clipboard');
  await shot(page, 'answer-actions');

  // --- 2. Regenerate: the answer is written again in place ---------------------------------
  const firstId = await answer.getAttribute('data-id');
  await regenerate.click();
  await page.locator('#messages .message.from-assistant.pending').waitFor({ timeout: 2_000 });
  answer = await answered(page);
  assert.notEqual(await answer.getAttribute('data-id'), firstId, 'a new answer');
  assert.equal(await page.locator('#messages .message.from-assistant').count(), 1, 'it replaced the old one');
  assert.ok((await answer.locator('.bubble').innerText()).trim().length > 0);

  // --- 3. Edit the question and send it again ------------------------------------------------
  const question = page.locator('#messages .message.from-user').last();
  await question.locator('.edit-question summary').click();
  const edit = question.getByLabel('Your question');
  await edit.fill('Subject: Invoice 42\nDate: 3 December\nTo: Anna\n\nPlease repeat these three lines exactly.');
  await shot(page, 'editing');
  await question.getByRole('button', { name: 'Save and send again' }).click();
  answer = await answered(page);
  assert.equal(await page.locator('#messages .message').count(), 2, 'still one question and one answer');
  assert.match(await question.locator('.bubble').innerText(), /^Subject: Invoice 42\nDate: 3 December\nTo: Anna/);

  // Single line breaks are kept: an e-mail's header lines stay on their own lines.
  const answerId = await answer.getAttribute('data-id');
  setAnswerText(server.dataDir, answerId, 'Subject: Invoice 42\nDate: 3 December\nTo: Anna\n\nDear Anna,\nplease find the invoice attached.');
  await page.reload();
  answer = page.locator('#messages .message.from-assistant').last();
  const lines = (await answer.locator('.bubble').innerText()).split('\n').map((l) => l.trim()).filter(Boolean);
  assert.deepEqual(lines.slice(0, 3), ['Subject: Invoice 42', 'Date: 3 December', 'To: Anna'], `header lines: ${lines}`);
  await answer.getByRole('button', { name: 'Copy as Markdown' }).click();
  assert.match(await page.evaluate(() => navigator.clipboard.readText()), /^Subject: Invoice 42\nDate: 3 December\nTo: Anna\n\nDear Anna,/);
  await shot(page, 'line-breaks');

  // --- 4. Continue a stopped answer ------------------------------------------------------
  await textarea.fill(STORY);
  await textarea.press('Enter');
  await page.waitForFunction(() => {
    const items = document.querySelectorAll('#messages .message.from-assistant');
    const bubble = items[items.length - 1]?.querySelector('.bubble');
    return bubble && !bubble.querySelector('.thinking') && bubble.textContent.trim().length >= 80;
  }, null, { timeout: ANSWER_TIMEOUT });
  await page.getByRole('button', { name: 'Stop' }).click();
  const story = page.locator('#messages .message.from-assistant').last();
  await story.locator('.meta .badge', { hasText: 'Stopped' }).waitFor({ timeout: 15_000 });
  const stoppedText = (await story.locator('.bubble').innerText()).trim();
  const more = story.getByRole('button', { name: 'Continue' });
  await more.waitFor();
  await shot(page, 'stopped-with-continue');
  await more.click();
  await page.waitForFunction((before) => {
    const items = document.querySelectorAll('#messages .message.from-assistant');
    const bubble = items[items.length - 1]?.querySelector('.bubble');
    return bubble && bubble.textContent.trim().length > before + 20;
  }, stoppedText.length, { timeout: ANSWER_TIMEOUT });
  await page.getByRole('button', { name: 'Stop' }).click();
  await story.locator('.meta .badge', { hasText: 'Stopped' }).waitFor({ timeout: 15_000 });
  const continued = (await story.locator('.bubble').innerText()).trim();
  assert.ok(continued.startsWith(stoppedText.slice(0, 60)), 'the continued answer starts with what was written');
  assert.ok(continued.length > stoppedText.length, `it grew: ${stoppedText.length} -> ${continued.length}`);
  await shot(page, 'continued');

  // --- 5. An answer keeps going in another conversation ------------------------------------
  // The stopped answer is done with (Stop offered no more) before the next question.
  await page.locator('#stop').waitFor({ state: 'hidden', timeout: 15_000 });
  const answersBefore = await page.locator('#messages .message.from-assistant').count();
  await textarea.fill(STORY);
  await textarea.press('Enter');
  await page.waitForFunction((before) => {
    const items = document.querySelectorAll('#messages .message.from-assistant');
    const bubble = items[items.length - 1]?.querySelector('.bubble');
    return items.length > before && bubble && !bubble.querySelector('.thinking') && bubble.textContent.trim().length >= 40;
  }, answersBefore, { timeout: ANSWER_TIMEOUT });
  const storyAt = (await page.locator('#messages .message.from-assistant').last().locator('.bubble').innerText()).trim().length;
  // Switch to a new conversation while it streams.
  await navigating(page, () => page.getByRole('link', { name: 'New chat' }).click());
  // The list marks the conversation that is still answering (drawn by the server with
  // the page). On a fast box a short story may already be finished by then: no mark.
  const answeringElsewhere = await page.locator('#conversation-list .answering-dot').count() > 0;
  if (answeringElsewhere) await shot(page, 'answering-elsewhere');
  else t.diagnostic('the story finished before the new chat page was drawn');
  await page.waitForTimeout(1_000);
  // Coming back: the answer went on meanwhile, and is still streaming here
  // (or, on a fast box, finished while away and is shown whole).
  await navigating(page, () => page.locator(`#conversation-list a[href="${conversation}"]`).click());
  const resumed = page.locator('#messages .message.from-assistant').last();
  const backAt = (await resumed.locator('.bubble').innerText()).trim().length;
  const following = Boolean(await resumed.getAttribute('data-follow'));
  if (following) {
    assert.ok(backAt > storyAt, `it went on while away: ${storyAt} -> ${backAt} characters`);
  } else {
    assert.ok(backAt >= storyAt, `nothing was lost: ${storyAt} -> ${backAt} characters`);
  }
  if (following) {
    assert.ok(answeringElsewhere, 'an answer still streaming was marked in the list');
    assert.ok(await page.locator('#stop').isVisible(), 'Stop is offered for the followed answer');
    await page.waitForFunction((before) => {
      const items = document.querySelectorAll('#messages .message.from-assistant');
      const bubble = items[items.length - 1]?.querySelector('.bubble');
      return bubble && (bubble.textContent.trim().length > before || !items[items.length - 1].classList.contains('pending'));
    }, backAt, { timeout: 60_000 });
    await shot(page, 'followed-again');
    if (await page.locator('#stop').isVisible()) await page.getByRole('button', { name: 'Stop' }).click();
    await resumed.locator('.meta .source').waitFor({ timeout: 15_000 });
  } else {
    t.diagnostic('the story finished while its person was away; the page shows it whole');
    assert.match(await resumed.getAttribute('class'), /status-(done|length)/);
    await shot(page, 'finished-while-away');
  }

  // --- 6. A phone: a wide code block and a wide table scroll inside the answer -------------
  const phone = await newPage(browser, server, { viewport: VIEWPORTS.phone });
  await phone.context().addCookies(await page.context().cookies());
  await phone.goto(conversation);
  const last = phone.locator('#messages .message.from-assistant').last();
  const wideId = await last.getAttribute('data-id');
  const wideLine = `curl -X POST https://hearth.local/api/v1/conversations -H "Authorization: Bearer ${'x'.repeat(160)}"`;
  setAnswerText(
    server.dataDir,
    wideId,
    `Run this:\n\n\`\`\`sh\n${wideLine}\n\`\`\`\n\n| Patient | Appointment | Treatment | Dentist | Room | Notes |\n|---|---|---|---|---|---|\n| Anna Example | 3 December 09:00 | Check-up and cleaning | Dr Olive Owner | Surgery 2 | Bring the X-ray from last year |`,
  );
  await phone.reload();
  await phone.locator('#messages pre').last().waitFor();
  const width = await pageWidth(phone);
  assert.ok(width.scrollWidth <= width.innerWidth, `the page is ${width.scrollWidth}px wide in a ${width.innerWidth}px phone`);
  const send = phone.locator('#send');
  const box = await send.boundingBox();
  assert.ok(box && box.x + box.width <= width.innerWidth, 'Send stays on screen');
  const pre = await phone.locator('#messages pre').last().evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
  assert.ok(pre.scroll > pre.client, 'the code block scrolls inside itself');
  await phone.locator('#messages pre').last().scrollIntoViewIfNeeded();
  await shot(phone, 'phone-wide-code');
  assertNoProblems(phone);
  // Leaving a streaming page aborts its request: expected, the answer goes on.
  page.problems.splice(0, page.problems.length, ...page.problems.filter(
    (p) => !/^request failed: (POST|GET) \S+\/chat\/(new|\d+\/(messages|stream)) \(net::ERR_ABORTED\)$/.test(p),
  ));
  assertNoProblems(page);
});
