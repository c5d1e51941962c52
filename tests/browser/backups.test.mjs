// Backups, the system page and two-factor sign-in in a real browser (issue
// 15): the owner sets a recovery passphrase (and sees the recovery sheet),
// chooses a folder and a nightly time, presses "Back up now" and watches it
// finish; Admin → System shows the box's health with its charts; the owner
// turns on two-factor sign-in by scanning (here: computing) the QR code's
// secret, keeps the recovery codes, and signs in again with a code. Then a
// second, fresh box restores the backup from its setup page, restarts by
// itself and the owner signs in there. Desktop and phone screenshots go to
// tests/browser/screenshots/backups-NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
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

const OWNER = { business: 'Birch Street Dental', name: 'Olive Owner', username: 'olive', password: 'copper kettle violin meadow' };
const PASSPHRASE = 'harbour-lantern-quartz-meadow';

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The RFC 6238 code for `secret` at Unix time `t` (SHA-1, 6 digits, 30 s). */
function totp(secret, t) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('backups, the system page, two-factor sign-in and a restore on a fresh box', { timeout: 300_000 }, async (t) => {
  const usb = await mkdtemp(path.join(os.tmpdir(), 'hearth-usb-'));
  t.after(() => rm(usb, { recursive: true, force: true }));
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'backups-' });
  const page = await newPage(browser, server);
  await setUpOwner(page, server, OWNER);

  // --- Admin → Backups: nothing yet; the passphrase first ----------------------------------
  await page.goto('/admin/backups');
  await seeText(page.locator('#last-backup'), /No backup has been written yet/);
  assert.ok(await page.locator('#run-backup').isDisabled(), 'no backup before a passphrase');
  await shot(page, 'backups-empty');
  const suggested = await page.getByLabel('Recovery passphrase', { exact: true }).inputValue();
  assert.match(suggested, /^[a-z2-9]{4}(-[a-z2-9]{4}){4}$/, 'a passphrase is suggested');
  await page.getByLabel('Recovery passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByLabel('The same again').fill(PASSPHRASE);
  await navigating(page, () => page.getByRole('button', { name: 'Set the passphrase' }).click());
  assert.equal(new URL(page.url()).pathname, '/admin/backups/recovery-sheet');
  await seeText(page.locator('#sheet-passphrase'), new RegExp(PASSPHRASE));
  await shot(page, 'recovery-sheet');
  await page.emulateMedia({ media: 'print' });
  await shot(page, 'recovery-sheet-printed');
  await page.emulateMedia({ media: 'screen' });

  // --- The plan, then "Back up now" followed to its end -------------------------------------
  await page.goto('/admin/backups');
  await page.getByLabel('Backup folder').fill(usb);
  await page.getByLabel('Back up every night at').check();
  await page.getByLabel('Nightly backup time').fill('02:30');
  await navigating(page, () => page.getByRole('button', { name: 'Save the plan' }).click());
  await seeText(page.locator('.flash'), /plan is saved/);
  await navigating(page, () => page.getByRole('button', { name: 'Back up now' }).click());
  // The page's script follows the backup and reloads when it is written.
  await page.locator('#last-backup.success').waitFor({ timeout: 60_000 });
  await seeText(page.locator('#last-backup'), /Backed up .* into hearth-backup-/);
  await seeText(page.locator('#archives'), /hearth-backup-/);
  assertNoProblems(page);
  await shot(page, 'backups-done');
  const archive = (await readdir(usb)).find((f) => f.endsWith('.hearthbackup'));
  assert.ok(archive, 'the archive is in the folder');

  // --- Admin → System: the box's health ------------------------------------------------------
  await page.goto('/admin/system');
  await seeText(page.locator('#uptime'), /minute|less than/);
  await seeText(page.locator('#health-backup'), /files/);
  assert.equal(await page.locator('#charts svg.spark').count(), 4, 'four charts');
  await shot(page, 'system-health');

  // --- Two-factor sign-in --------------------------------------------------------------------
  await page.goto('/profile');
  await navigating(page, () => page.getByRole('link', { name: 'Turn on two-factor sign-in' }).click());
  assert.equal(await page.locator('#qr svg').count(), 1, 'a QR code to scan');
  const secret = (await page.locator('#secret').innerText()).replace(/\s/g, '');
  await shot(page, 'two-factor-scan');
  await page.getByLabel('Code', { exact: true }).fill(totp(secret, Date.now() / 1000));
  await navigating(page, () => page.getByRole('button', { name: 'Turn on' }).click());
  await seeText(page.locator('#two-factor-state'), /On since/);
  assert.equal(await page.locator('#recovery-codes li').count(), 10);
  await shot(page, 'two-factor-recovery-codes');
  await navigating(page, () => page.getByRole('button', { name: 'Sign out' }).click());
  await page.getByLabel('Username').fill(OWNER.username);
  await page.getByLabel('Password').fill(OWNER.password);
  await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  await seeText(page.locator('h1'), /One more step/);
  await page.getByLabel('Code', { exact: true }).fill('000000');
  await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  await seeText(page.locator('#code-error'), /not right/);
  await shot(page, 'two-factor-code-wrong');
  // The code used to turn it on works once: wait for the app's next one.
  const step = Math.floor(Date.now() / 30_000);
  while (Math.floor(Date.now() / 30_000) === step) await sleep(250);
  await page.getByLabel('Code', { exact: true }).fill(totp(secret, Date.now() / 1000));
  await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  assert.notEqual(new URL(page.url()).pathname, '/login/two-factor', 'signed in');
  await page.goto('/profile');
  await seeText(page.locator('#two-factor-summary'), /On: .* 10 recovery codes left/);

  for (const [name, viewport] of Object.entries(VIEWPORTS)) {
    const phone = await newPage(browser, server, { viewport });
    await phone.goto('/login');
    await phone.getByLabel('Username').fill(OWNER.username);
    await phone.getByLabel('Password').fill(OWNER.password);
    await navigating(phone, () => phone.getByRole('button', { name: 'Sign in' }).click());
    await seeText(phone.locator('h1'), /One more step/);
    await shot(phone, `two-factor-code-${name}`);
    await assertNoHorizontalOverflow(phone, `the code page at ${name} width`);
    await phone.close();
  }
  for (const [name, viewport] of Object.entries(VIEWPORTS)) {
    const view = await newPage(browser, server, { viewport });
    await view.context().addCookies(await page.context().cookies());
    for (const at of ['/admin/backups', '/admin/system']) {
      await view.goto(at);
      await assertNoHorizontalOverflow(view, `${at} at ${name} width`);
      await shot(view, `${at.split('/').pop()}-${name}`);
    }
    await view.close();
  }

  // --- A fresh box restores the backup from its setup page ------------------------------------
  const fresh = await startServer();
  t.after(() => fresh.stop());
  const newBox = await newPage(browser, fresh);
  await newBox.goto('/setup');
  await newBox.locator('#restore-instead summary').click();
  await newBox.getByLabel("Code from the box's screen").fill(fresh.setupCode);
  await newBox.getByLabel('Backup file').setInputFiles(path.join(usb, archive));
  await newBox.getByLabel('Recovery passphrase').fill('not the passphrase');
  await navigating(newBox, () => newBox.getByRole('button', { name: 'Check and restore' }).click());
  await seeText(newBox.locator('#restore-error'), /passphrase is wrong/);
  await shot(newBox, 'setup-restore-refused');
  await newBox.getByLabel("Code from the box's screen").fill(fresh.setupCode);
  await newBox.getByLabel('Backup file').setInputFiles(path.join(usb, archive));
  await newBox.getByLabel('Recovery passphrase').fill(PASSPHRASE);
  await navigating(newBox, () => newBox.getByRole('button', { name: 'Check and restore' }).click());
  await seeText(newBox.locator('#restarting h1'), /Restoring the backup/);
  await shot(newBox, 'setup-restore-restarting');
  // The page waits for Hearth to restart into the backup, then signs in.
  await newBox.waitForURL(/\/login/, { timeout: 120_000 });
  await newBox.getByLabel('Username').fill(OWNER.username);
  await newBox.getByLabel('Password').fill(OWNER.password);
  await navigating(newBox, () => newBox.getByRole('button', { name: 'Sign in' }).click());
  // The backup was taken before two-factor sign-in was on: the password signs in.
  await newBox.goto('/admin/backups');
  await seeText(newBox.locator('.brand-name'), new RegExp(OWNER.business));
  await newBox.goto('/admin/audit');
  await seeText(newBox.locator('body'), /backup/i);
  await shot(newBox, 'restored-audit');
  assertNoProblems(newBox);
});
