// The foundation flow in a real browser: first-run setup (wrong code, then
// the right one), adding a staff user, the audit log, signing out, a wrong
// password, a staff user's view (no Admin, 403 on /admin), and the login page
// on a phone. Screenshots go to tests/browser/screenshots/NN-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VIEWPORTS,
  assertNoHorizontalOverflow,
  assertNoProblems,
  launchBrowser,
  navigating,
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
const STAFF = {
  name: 'Sam Staff',
  username: 'sam',
  password: 'purple walrus lantern orbit',
};

/** Runs `action` (a click that submits or follows a link) and waits for the
 *  resulting page load; returns the final document response. */
/** Waits for `locator` to be visible and checks its text. */
/** The page must not scroll sideways (content wider than the viewport). */
test('foundation: setup, users, audit, sign-in and roles', { timeout: 120_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  assert.ok(server.setupCode, `the server printed no setup code:\n${server.logs()}`);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter();

  try {
    const page = await newPage(browser, server);
    const main = page.locator('main');
    const header = page.locator('header.site-header');
    const mainNav = page.getByRole('navigation', { name: 'Main' });

    // --- A fresh box sends everyone to /setup --------------------------------
    await page.goto('/');
    assert.equal(pathOf(page), '/setup');
    await seeText(page.getByRole('heading', { level: 1 }), /^Welcome to Hearth$/);
    assert.equal(await mainNav.count(), 0, 'no navigation before setup');
    await page.getByLabel('Setup code').waitFor();
    await shot(page, 'setup');

    // --- Wrong setup code: error, the form keeps the harmless fields -------------
    const wrongCode = server.setupCode === '2222-3333-4444' ? '5555-6666-7777' : '2222-3333-4444';
    const fillSetup = async (code) => {
      await page.getByLabel('Setup code').fill(code);
      await page.getByLabel('Business name').fill(OWNER.business);
      await page.getByLabel('Your name').fill(OWNER.name);
      await page.getByLabel('Username').fill(OWNER.username);
      await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
      await page.getByLabel('Password again').fill(OWNER.password);
    };
    await fillSetup(wrongCode);
    let response = await navigating(page, () =>
      page.getByRole('button', { name: 'Create the owner account' }).click(),
    );
    assert.equal(response.status(), 400);
    assert.equal(pathOf(page), '/setup');
    await seeText(page.getByRole('alert'), /That setup code is not right/);
    assert.equal(await page.getByLabel('Business name').inputValue(), OWNER.business);
    assert.equal(await page.getByLabel('Username').inputValue(), OWNER.username);
    assert.equal(await page.getByLabel('Setup code').inputValue(), '', 'the wrong code is cleared');
    assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', 'passwords are cleared');
    await shot(page, 'setup-wrong-code');

    // --- The right code: owner is signed in and lands on the checklist, then /chat ---
    await fillSetup(server.setupCode);
    await navigating(page, () => page.getByRole('button', { name: 'Create the owner account' }).click());
    assert.equal(pathOf(page), '/');
    await seeText(page.getByRole('heading', { level: 1 }), /^Getting started$/);
    await navigating(page, () => mainNav.getByRole('link', { name: 'Chat' }).click());
    assert.equal(pathOf(page), '/chat');
    await seeText(page.getByRole('heading', { level: 1 }), /^What can I help with\?$/);
    await seeText(header.locator('.brand-name'), new RegExp(`^${OWNER.business}$`));
    assert.match(await page.title(), new RegExp(`Chat · ${OWNER.business}`));
    for (const name of ['Chat', 'Search', 'Schedule', 'Admin']) {
      assert.equal(await mainNav.getByRole('link', { name, exact: true }).count(), 1, `nav link ${name}`);
    }
    assert.equal(await mainNav.getByRole('link', { name: 'Chat' }).getAttribute('aria-current'), 'page');
    await seeText(header.getByRole('link', { name: OWNER.name }), new RegExp(`^${OWNER.name}$`));
    assert.equal(await header.getByRole('link', { name: OWNER.name }).getAttribute('href'), '/profile');
    await header.getByRole('button', { name: 'Sign out' }).waitFor();
    await shot(page, 'chat-owner');

    // --- Admin → Users: add a staff user ---------------------------------------
    await navigating(page, () => mainNav.getByRole('link', { name: 'Admin' }).click());
    assert.equal(pathOf(page), '/admin/users');
    await seeText(main.getByRole('heading', { level: 1 }), /^Users$/);
    const users = page.locator('table#users');
    await seeText(users.getByRole('row', { name: new RegExp(OWNER.name) }), /olive\s+Owner\s+Active/);
    assert.equal(await users.getByRole('row', { name: new RegExp(STAFF.name) }).count(), 0);
    await shot(page, 'admin-users');

    const addUser = page.locator('#add-user');
    await seeText(addUser.getByRole('heading', { level: 2 }), /^Add a user$/);
    await addUser.getByLabel('Full name').fill(STAFF.name);
    await addUser.getByLabel('Username').fill(STAFF.username);
    const role = addUser.getByLabel('Role');
    const roleOptions = (await role.locator('option').allInnerTexts()).map((s) => s.trim());
    assert.deepEqual(roleOptions, ['Staff', 'Admin', 'Owner']);
    await role.selectOption({ label: 'Staff' });
    await addUser.getByLabel('First password').fill(STAFF.password);
    await navigating(page, () => addUser.getByRole('button', { name: 'Add user' }).click());
    assert.equal(pathOf(page), '/admin/users');
    await seeText(page.getByRole('status'), /^Sam Staff \(sam\) was added as Staff\.$/);
    await seeText(users.getByRole('row', { name: new RegExp(STAFF.name) }), /Sam Staff\s+sam\s+Staff\s+Active\s+Never/i);
    assert.equal(await addUser.getByRole('alert').count(), 0, 'no form error');
    assert.equal(await addUser.getByLabel('Full name').inputValue(), '', 'the form is empty again');
    await shot(page, 'admin-user-added');

    // --- Audit log -----------------------------------------------------------
    await navigating(page, () =>
      page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Audit log' }).click(),
    );
    assert.equal(pathOf(page), '/admin/audit');
    await seeText(main.getByRole('heading', { level: 1 }), /^Audit log$/);
    const count = await seeText(page.locator('#audit-count'), /^\d+ entries$/);
    assert.ok(parseInt(count, 10) >= 4, `at least four audit entries, got "${count}"`);
    const audit = page.locator('table#audit');
    const actions = (await audit.locator('tbody tr code.audit-action').allInnerTexts()).map((s) => s.trim());
    for (const action of ['setup.completed', 'auth.login', 'user.created']) {
      assert.ok(actions.includes(action), `audit has ${action}: ${actions.join(', ')}`);
    }
    assert.equal(actions[0], 'user.created', 'newest first');
    // Each entry is a sentence, its action's name small beside it.
    await seeText(audit.locator('tbody tr', { hasText: 'user.created' }), /created an account for [^\n]+[\s\S]*user\.created[\s\S]*role staff/);
    await seeText(audit.locator('tbody tr.outcome-failed', { hasText: 'setup.completed' }), /Someone could not set up Hearth[\s\S]*setup\.completed[\s\S]*failed[\s\S]*wrong setup code/);
    await shot(page, 'admin-audit');

    // --- Sign out ----------------------------------------------------------------
    await navigating(page, () => header.getByRole('button', { name: 'Sign out' }).click());
    assert.equal(pathOf(page), '/login');
    await seeText(page.getByRole('status'), /^You are signed out\.$/);
    assert.equal(await mainNav.count(), 0, 'no navigation when signed out');

    // --- Wrong password ----------------------------------------------------------
    await page.getByLabel('Username').fill(OWNER.username);
    await page.getByLabel('Password').fill('not the right passphrase');
    response = await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
    assert.equal(response.status(), 401);
    assert.equal(pathOf(page), '/login');
    await seeText(page.getByRole('alert'), /^Wrong username or password\.$/);
    assert.equal(await page.getByLabel('Username').inputValue(), OWNER.username, 'username kept');
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'password not echoed');
    assert.equal(await page.getByRole('status').count(), 0, 'the sign-out flash is gone');
    await shot(page, 'login-wrong-password');

    // --- Staff user: no Admin, 403 on /admin ----------------------------------------
    await page.getByLabel('Username').fill(STAFF.username);
    await page.getByLabel('Password').fill(STAFF.password);
    await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
    assert.equal(pathOf(page), '/chat');
    await seeText(header.getByRole('link', { name: STAFF.name }), /^Sam Staff$/);
    for (const name of ['Chat', 'Search', 'Schedule']) {
      assert.equal(await mainNav.getByRole('link', { name, exact: true }).count(), 1, `nav link ${name}`);
    }
    assert.equal(await mainNav.getByRole('link', { name: 'Admin' }).count(), 0, 'staff see no Admin link');
    await shot(page, 'chat-staff');

    response = await page.goto('/admin');
    assert.equal(response.status(), 403);
    assert.equal(pathOf(page), '/admin');
    await seeText(page.getByRole('heading', { level: 1 }), /^Not allowed$/);
    await seeText(main.getByText('Error 403'), /Error 403/);
    assert.match(await page.title(), /^Not allowed · /);
    await main.getByRole('link', { name: 'Go to the start page' }).waitFor();
    assert.equal(await page.locator('table#users').count(), 0, 'no user list leaks');
    await shot(page, 'forbidden');

    // Error pages keep the signed-in frame: navigation, name, Sign out.
    assert.equal(await header.getByRole('button', { name: 'Sign out' }).count(), 1, 'Sign out on the 403 page');
    assert.equal(await header.getByRole('link', { name: STAFF.name }).count(), 1, 'name on the 403 page');
    assert.equal(await header.getByRole('link', { name: 'Admin' }).count(), 0, 'still no Admin link for staff');

    // Back to the start page, which is /chat for a signed-in user.
    await navigating(page, () => main.getByRole('link', { name: 'Go to the start page' }).click());
    assert.equal(pathOf(page), '/chat');

    // --- Sign out again -------------------------------------------------------------
    await navigating(page, () => header.getByRole('button', { name: 'Sign out' }).click());
    assert.equal(pathOf(page), '/login');
    await seeText(page.getByRole('status'), /^You are signed out\.$/);
    await seeText(page.getByRole('heading', { level: 1 }), /^Sign in$/);
    await shot(page, 'signed-out');
    response = await page.goto('/chat');
    assert.equal(pathOf(page), '/login', 'signed-out visitors are sent to /login');
    assertNoProblems(page);

    // --- Phone viewport -----------------------------------------------------------
    const phone = await newPage(browser, server, { viewport: VIEWPORTS.phone, isMobile: true, hasTouch: true });
    await phone.goto('/login');
    assert.equal(pathOf(phone), '/login');
    await seeText(phone.getByRole('heading', { level: 1 }), /^Sign in$/);
    await phone.getByRole('button', { name: 'Sign in' }).waitFor();
    await assertNoHorizontalOverflow(phone, 'login on a phone');
    const button = await phone.getByRole('button', { name: 'Sign in' }).boundingBox();
    assert.ok(button.x >= 0 && button.x + button.width <= VIEWPORTS.phone.width, 'Sign in button fits on screen');
    await shot(phone, 'phone-login');

    // Signed in on a phone, to see the full header (not asserted beyond basics).
    await phone.getByLabel('Username').fill(STAFF.username);
    await phone.getByLabel('Password').fill(STAFF.password);
    await navigating(phone, () => phone.getByRole('button', { name: 'Sign in' }).click());
    assert.equal(pathOf(phone), '/chat');
    await phone.getByRole('navigation', { name: 'Main' }).waitFor();
    await shot(phone, 'phone-chat-staff');
    assertNoProblems(phone);
  } catch (err) {
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
