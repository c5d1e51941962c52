// Admin → Models in a real browser: the demonstration-model warning, the
// catalog with this box's memory and speed estimates, and downloads served by
// a small HTTP server inside this test (the real test model, sent slowly
// enough to watch, with the connection broken once mid-way so the download
// resumes with a Range request), then a catalog entry whose checksum is
// wrong. Nothing here reaches the internet. Screenshots at desktop and
// phone width (models-NN-*.png).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
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
  testModelPath,
} from './harness.mjs';

const OWNER = {
  business: 'Acme Dental',
  name: 'Olive Owner',
  username: 'olive',
  password: 'copper kettle violin meadow',
};

/** Serves `body` at every path: 1 MiB every 40 ms, honouring Range. The first
 *  request is cut off after `breakAt` bytes. Records each request's Range. */
function startFileServer(body, { breakAt }) {
  const ranges = [];
  let broken = false;
  const server = http.createServer(async (req, res) => {
    const range = req.headers.range || null;
    ranges.push(range);
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(range || '');
    if (m) start = Number(m[1]);
    const headers = { 'Content-Length': body.length - start, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (start > 0) {
      headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
      res.writeHead(206, headers);
    } else {
      res.writeHead(200, headers);
    }
    const step = 1024 * 1024;
    for (let at = start; at < body.length; at += step) {
      if (!broken && at >= breakAt) {
        broken = true;
        req.socket.destroy();
        return;
      }
      if (!res.write(body.subarray(at, Math.min(at + step, body.length)))) {
        await new Promise((resolve) => res.once('drain', resolve));
      }
      await sleep(40);
      if (req.socket.destroyed) return;
    }
    res.end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: (name) => `http://127.0.0.1:${port}/files/${name}`, ranges, close: () => server.close() });
    });
  });
}

/** Runs `action` (a click that submits) and waits for the page it leads to. */
test('models: demonstration warning, catalog, download with a resume, a wrong checksum', { timeout: 240_000 }, async (t) => {
  const modelPath = await testModelPath();
  if (!modelPath) {
    t.skip('no test model (set HEARTH_TEST_MODEL or put it in ~/.cache/hearth/models)');
    return;
  }
  const model = await readFile(modelPath);
  const sha256 = createHash('sha256').update(model).digest('hex');
  const files = await startFileServer(model, { breakAt: Math.floor(model.length / 3) });
  t.after(() => files.close());

  const config = `[models]
download_retries = 3
read_timeout_secs = 10

[[models.catalog]]
id = "office-mirror"
name = "SmolLM2 (office mirror)"
url = "${files.url('SmolLM2-135M-Instruct.Q4_1.gguf')}"
sha256 = "${sha256}"
file = "SmolLM2-office-mirror.gguf"
size_bytes = ${model.length}
license = "Apache-2.0"
good_at = "Testing the download from a local mirror."
context_length = 8192
kv_bytes_per_token = 30720

[[models.catalog]]
id = "wrong-sum"
name = "A file whose checksum is wrong"
url = "${files.url('wrong.gguf')}"
sha256 = "${'0'.repeat(64)}"
file = "wrong-checksum.gguf"
size_bytes = ${model.length}
good_at = "Showing what a damaged download looks like."
`;
  const server = await startServer({ config });
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'models-' });

  const page = await newPage(browser, server);
  await setUpOwner(page, server, OWNER);

  // --- The warning and the catalog --------------------------------------------------
  await page.goto('/admin/models');
  const banner = page.locator('#demo-banner');
  await banner.waitFor();
  assert.match(await banner.innerText(), /running the small demonstration model.*often wrong/s);
  const recommended = page.locator('#catalog .catalog-entry.recommended');
  assert.equal(await recommended.count(), 1, 'one catalog model is recommended');
  const recommendedName = (await recommended.locator('.catalog-name').innerText()).trim();
  assert.match(await banner.innerText(), new RegExp(recommendedName.replace(/[.()]/g, '\\$&')));
  const speeds = await page.locator('#catalog .catalog-speed').allInnerTexts();
  assert.ok(speeds.length >= 8 && speeds.every((s) => /tokens\/s/.test(s)), speeds.join(' | '));
  const memory = await page.locator('#catalog .catalog-memory').allInnerTexts();
  assert.ok(memory.every((m) => /^needs about/.test(m)), memory.join(' | '));
  console.log(`catalog here: ${await page.locator('#download > .help').nth(1).innerText()}`);
  for (const entry of await page.locator('#catalog .catalog-entry').all()) {
    const name = (await entry.locator('.catalog-name').innerText()).trim();
    console.log(`  ${name}: ${await entry.locator('.catalog-memory').innerText()}, ${await entry.locator('.catalog-speed').innerText()}`);
  }
  await shot(page, 'catalog');

  // --- Download from the mirror: progress, a broken connection, the resume -------------
  await navigating(page, () => page.locator('#catalog-office-mirror button[type=submit]').click());
  assert.equal(pathOf(page), '/admin/models');
  await page.locator('#download-bar').waitFor({ state: 'visible' });
  await page.waitForFunction(() => Number(document.getElementById('download-bar').value) >= 10);
  await shot(page, 'downloading');
  // The first connection is cut at a third; the download resumes with Range.
  await page.waitForFunction(() => /retrying|downloading/.test(document.getElementById('download-state').textContent));
  // When it is done, models.js reloads the page and the model is listed.
  await page.locator('#models code', { hasText: 'SmolLM2-office-mirror.gguf' }).waitFor({ timeout: 120_000 });
  assert.equal((await page.locator('#download-state').innerText()).trim(), 'done');
  assert.match(await page.locator('#download-message').innerText(), /checksum matches the catalog/);
  assert.equal(files.ranges[0], null);
  assert.ok(files.ranges.some((r) => r && /^bytes=\d+-$/.test(r)), `a Range request resumed it: ${JSON.stringify(files.ranges)}`);
  assert.match(await page.locator('#catalog-office-mirror').innerText(), /On this box/);
  await shot(page, 'downloaded');

  // --- A catalog entry whose checksum does not match --------------------------------------
  await navigating(page, () => page.locator('#catalog-wrong-sum button[type=submit]').click());
  const message = page.locator('#download-message.error');
  await message.waitFor({ timeout: 120_000 });
  assert.match(await message.innerText(), /SHA-256 .* is not the catalog's .*nothing was kept/);
  assert.equal(await page.locator('#models code', { hasText: 'wrong-checksum.gguf' }).count(), 0);
  await page.locator('#download').scrollIntoViewIfNeeded();
  await shot(page, 'wrong-checksum');
  assertNoProblems(page);

  // --- On a phone ------------------------------------------------------------------------
  const phone = await newPage(browser, server, { viewport: VIEWPORTS.phone, isMobile: true, hasTouch: true });
  await phone.goto('/login');
  await phone.getByLabel('Username').fill(OWNER.username);
  await phone.getByLabel('Password').fill(OWNER.password);
  await navigating(phone, () => phone.getByRole('button', { name: 'Sign in' }).click());
  await phone.goto('/admin/models');
  await phone.locator('#demo-banner').waitFor();
  await assertNoHorizontalOverflow(phone, 'models on a phone');
  await shot(phone, 'phone');
  assertNoProblems(phone);
});
