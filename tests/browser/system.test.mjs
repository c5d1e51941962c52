// Admin → System in a real browser, as the owner of an appliance sees it:
// the box's name and addresses, its version, a file that is not an update
// bundle refused with the reason, an update in progress followed by the
// page's script (the progress bar moves as the updater writes, the page
// waits through the restart and reloads by itself), how the update ended,
// and an updater that went quiet reported instead of waited for. The
// appliance's release file and updater are played by files the test
// writes where the configuration points. At desktop and phone width.
// Screenshots go to tests/browser/screenshots/system-NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
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
  screenshotter,
  seeText,
  startServer,
} from './harness.mjs';

const OWNER = {
  business: 'Harbour Plumbing',
  name: 'Olive Owner',
  username: 'olive',
  password: 'copper kettle violin meadow',
};

const now = () => Math.floor(Date.now() / 1000);

test('admin system: name, version, a refused file, an update followed through the restart', { timeout: 180_000 }, async (t) => {
  const box = await mkdtemp(path.join(os.tmpdir(), 'hearth-box-'));
  t.after(() => rm(box, { recursive: true, force: true }));
  await writeFile(path.join(box, 'release.json'), JSON.stringify({ version: '1.0.0', generation: 1 }));
  // A real key (Debian's minisign, as image/build.sh makes them).
  execFileSync('minisign', ['-G', '-W', '-f', '-p', path.join(box, 'update.pub'), '-s', path.join(box, 'update.key')]);
  const config = [
    '[appliance]',
    `release_file = "${box}/release.json"`,
    `update_key = "${box}/update.pub"`,
    `esp = "${box}/esp"`,
    `partitions = "${box}/parts"`,
    'update_stall_secs = 20',
  ].join('\n');
  const server = await startServer({ config });
  t.after(() => server.stop());
  const updates = path.join(server.dataDir, 'updates');
  await mkdir(updates, { recursive: true });
  const progress = (fields) =>
    writeFile(
      path.join(updates, 'progress.json'),
      JSON.stringify({ done: 0, total: 0, to_version: '1.1.0', message: '', started_at: now(), updated_at: now(), ...fields }),
    );

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'system-' });
  const page = await newPage(browser, server);
  await setUpOwner(page, server, OWNER);

  await page.goto('/admin/system');
  await seeText(page.locator('#updates'), /runs Hearth 1\.0\.0/);
  await seeText(page.locator('#network'), /by its address|http:\/\//);
  assert.ok(await page.getByRole('link', { name: 'System' }).isVisible(), 'Admin → System is in the admin menu');
  await assertNoHorizontalOverflow(page, 'the system page');
  await shot(page, 'page');

  // Not a bundle: refused, with the reason, and nothing asked of the updater.
  const junk = path.join(box, 'hearth-1.1.0.bundle');
  await writeFile(junk, '<html>404 Not Found</html>');
  await page.getByLabel('Update bundle').setInputFiles(junk);
  await navigating(page, () => page.getByRole('button', { name: 'Upload and install' }).click());
  await seeText(page.locator('#system-error'), /not a Hearth update bundle/);
  await shot(page, 'refused');

  // The updater at work: the page follows it without reloading.
  await progress({ phase: 'writing', done: 40, total: 100, message: 'Writing the new version. The box keeps working meanwhile.' });
  await page.goto('/admin/system');
  await seeText(page.locator('#update-message'), /Writing the new version/);
  assert.equal(await page.locator('#update-bar').getAttribute('value'), '40');
  assert.ok(await page.getByRole('button', { name: 'Upload and install' }).isDisabled(), 'one update at a time');
  await progress({ phase: 'writing', done: 85, total: 100, message: 'Writing the new version. The box keeps working meanwhile.' });
  await page.waitForFunction(() => document.getElementById('update-bar').value === 85, null, { timeout: 10_000 });
  await shot(page, 'progress');

  // The box restarts: the page waits for it and reloads by itself, then
  // says how the update ended (at boot, `hearth update recover` clears the
  // finished progress and `hearth update health` writes the outcome).
  await progress({ phase: 'restarting', message: 'Restarting into version 1.1.0. This page reconnects by itself.' });
  await page.waitForFunction(
    () => document.getElementById('update-message').textContent.includes('Restarting into version 1.1.0'),
    null,
    { timeout: 10_000 },
  );
  const reloaded = page.waitForEvent('load', { timeout: 30_000 });
  await rm(path.join(updates, 'progress.json'));
  await writeFile(
    path.join(updates, 'last.json'),
    JSON.stringify({ kind: 'updated', from_version: '1.0.0', to_version: '1.1.0', requested_by: 'olive', at: now() }),
  );
  await writeFile(path.join(box, 'release.json'), JSON.stringify({ version: '1.1.0', generation: 2 }));
  await reloaded;
  await seeText(page.locator('#last-update'), /Updated from version 1\.0\.0 to 1\.1\.0/);
  await seeText(page.locator('#updates'), /runs Hearth 1\.1\.0/);
  await shot(page, 'updated');

  // An updater that goes quiet is reported, not waited for.
  await progress({ phase: 'writing', done: 10, total: 100, message: 'Writing the new version.', updated_at: now() - 120 });
  await page.goto('/admin/system');
  await seeText(page.locator('#update-message'), /stopped responding/);
  assert.ok(!(await page.getByRole('button', { name: 'Upload and install' }).isDisabled()), 'another try is possible');
  await shot(page, 'stalled');

  // A rollback, at phone width.
  await writeFile(
    path.join(updates, 'last.json'),
    JSON.stringify({ kind: 'rolled-back', from_version: '1.1.0', to_version: '1.2.0', requested_by: 'olive', at: now() }),
  );
  await rm(path.join(updates, 'progress.json'));
  const phone = await newPage(browser, server, { viewport: VIEWPORTS.phone });
  await phone.context().addCookies(await page.context().cookies());
  await phone.goto('/admin/system');
  await seeText(phone.locator('#last-update'), /went back to version 1\.1\.0/);
  await assertNoHorizontalOverflow(phone, 'the system page on a phone');
  await shot(phone, 'rolled-back-phone');
  assertNoProblems(page);
  assertNoProblems(phone);
});
