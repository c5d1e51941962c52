// The Schedule in a real browser, as a person would use it: Admin → Schedule
// (time zone, a resource, a staff member, a service), booking from an empty
// cell of the day grid, the day and week views, a conflict refused with the
// typed values kept, the scheduling assistant (what it understood, options,
// nothing booked until Confirm), a calendar-app subscription fetched from
// outside the browser, and dragging an appointment to another time.
// Screenshots go to tests/browser/screenshots/schedule-NN-*.png.
//
// Needs no model: without one, Hearth's rules read the assistant's requests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
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
const ZONE = 'America/New_York';
const RESOURCE = 'Chair 1';
const STAFF = 'Dr Lee';
const SERVICE = 'Cleaning';
const CUSTOMER = { name: 'Maria Ortiz', surname: 'Ortiz', phone: '555-0142' };
const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

/** The text of the option a <select> has selected. */
async function selectedText(select) {
  return select.evaluate((el) => el.options[el.selectedIndex]?.textContent.trim() ?? '');
}

/**
 * The day to book: at least 30 days after today in the office's zone, on a
 * weekday (the default opening hours are Monday to Friday). Returns
 * { iso: 'YYYY-MM-DD', phrase: 'March 12', weekday: 'Thursday' }.
 */
function bookingDay() {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  // Noon UTC of the office's today: adding days never crosses a zone edge.
  const day = new Date(Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), 12));
  day.setUTCDate(day.getUTCDate() + 35);
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) day.setUTCDate(day.getUTCDate() + 1);
  return {
    iso: day.toISOString().slice(0, 10),
    phrase: `${MONTHS[day.getUTCMonth()]} ${day.getUTCDate()}`,
    weekday: day.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' }),
  };
}

/** The office zone's offset from UTC in hours at noon on `iso` (-5 or -4). */
function zoneOffsetHours(iso) {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: ZONE, timeZoneName: 'shortOffset' })
    .formatToParts(new Date(`${iso}T12:00:00Z`))
    .find((p) => p.type === 'timeZoneName').value;
  const m = /^GMT([+-]\d+)?/.exec(name);
  return m && m[1] ? Number(m[1]) : 0;
}

/** The appointment blocks of the day grid. */
function blocks(page) {
  return page.locator('#day-grid .appt');
}

/** The top and height of an element, in page pixels. */
async function box(locator) {
  const b = await locator.boundingBox();
  assert.ok(b, 'the element is laid out');
  return b;
}

test('schedule: set up, book, conflict, assistant, calendar apps, drag to move', { timeout: 300_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  assert.ok(server.setupCode, `the server printed no setup code:\n${server.logs()}`);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const shot = screenshotter({ prefix: 'schedule-' });
  const day = bookingDay();
  t.diagnostic(`booking on ${day.weekday} ${day.iso} ("${day.phrase}")`);

  let page;
  try {
    page = await newPage(browser, server);

    // --- The owner signs up -----------------------------------------------------------------
    await setUpOwner(page, server, OWNER);
    assert.equal(pathOf(page), '/', 'the owner lands on the getting-started checklist');

    // --- 1. Admin → Schedule -----------------------------------------------------------------
    await page.goto('/admin/schedule');
    await seeText(page.getByRole('heading', { level: 1 }), /^Hours and closures$/);
    await page.getByLabel('Time zone').selectOption(ZONE);
    // The weekday hours are kept as they are (Monday to Friday, 9:00–17:00).
    assert.match(await page.getByLabel('Monday').inputValue(), /^0?9:00-17:00$/);
    await navigating(page, () => page.locator('#settings').getByRole('button', { name: 'Save' }).click());
    assert.equal(pathOf(page), '/admin/schedule');
    await seeText(page.locator('.flash'), /^Saved the time zone/);
    assert.equal(await page.getByLabel('Time zone').inputValue(), ZONE, 'the zone is kept');
    await shot(page, 'setup-hours');

    await page.locator('nav[aria-label="Schedule setup"]').getByRole('link', { name: 'Resources' }).click();
    await page.waitForURL('**/admin/schedule/resources');
    await page.getByLabel('Name').fill(RESOURCE);
    await page.getByLabel(/^Kind/).fill('chair');
    await navigating(page, () => page.getByRole('button', { name: 'Add resource' }).click());
    await seeText(page.locator('.flash'), new RegExp(`^Added ${RESOURCE}\\.$`));
    await seeText(page.locator('#resource-list tbody tr'), new RegExp(`^${RESOURCE}\\s+chair\\s+Active$`));

    await page.locator('nav[aria-label="Schedule setup"]').getByRole('link', { name: 'Staff' }).click();
    await page.waitForURL('**/admin/schedule/staff');
    await page.getByLabel('Name').fill(STAFF);
    await navigating(page, () => page.getByRole('button', { name: 'Add staff member' }).click());
    await seeText(page.locator('.flash'), new RegExp(`^Added ${STAFF}\\.$`));
    await seeText(page.locator('#staff-list tbody tr').first(), new RegExp(`^${STAFF}\\b`));

    await page.locator('nav[aria-label="Schedule setup"]').getByRole('link', { name: 'Services' }).click();
    await page.waitForURL('**/admin/schedule/services');
    const addService = page.locator('#add-service');
    await addService.getByLabel('Name').fill(SERVICE);
    await addService.getByLabel('Duration (minutes)').fill('45');
    await addService.getByRole('group', { name: /^Who can do it/ }).getByLabel(STAFF).check();
    await addService.getByRole('group', { name: /^What it uses/ }).getByLabel(new RegExp(`\\b${RESOURCE}\\b`)).check();
    await navigating(page, () => addService.getByRole('button', { name: 'Add service' }).click());
    await seeText(page.locator('.flash'), new RegExp(`^Added ${SERVICE}\\.$`));
    const serviceRow = page.locator('#service-list tbody tr', { hasText: SERVICE });
    const cells = (await serviceRow.locator('td').allInnerTexts()).map((s) => s.trim());
    assert.deepEqual(cells.slice(0, 2), [SERVICE, '45'], `the service's name and length: ${JSON.stringify(cells)}`);
    assert.equal(cells[3], STAFF, 'who does it');
    assert.equal(cells[4], RESOURCE, 'what it uses');
    await assertNoHorizontalOverflow(page, 'services setup');
    await shot(page, 'setup-services');
    assertNoProblems(page);

    // --- 2. Book from an empty cell of the day grid -------------------------------------------
    await page.goto('/schedule');
    assert.equal(await page.locator('#not-set-up').count(), 0, 'the schedule counts as set up');
    await page.locator('#cal-controls').getByLabel('Date').fill(day.iso);
    await navigating(page, () => page.locator('#cal-controls').getByRole('button', { name: 'Show' }).click());
    assert.equal(new URL(page.url()).searchParams.get('date'), day.iso, 'the date control shows the day');
    await seeText(page.locator('#cal-title'), new RegExp(`^${day.weekday} .*\\(${ZONE}\\)$`));
    await seeText(page.locator('#day-grid .cal-head.c2'), new RegExp(`^${STAFF}$`));
    assert.equal(await blocks(page).count(), 0, 'nothing booked that day yet');
    const staffId = await page.locator('#b-staff option', { hasText: STAFF }).getAttribute('value');
    assert.match(staffId, /^\d+$/);
    const cell = (time) => page.locator(`#day-grid a.cal-cell[data-time="${time}"][data-staff="${staffId}"]`);

    await navigating(page, () => cell('10:00').click());
    assert.equal(new URL(page.url()).hash, '#book', 'the cell leads to the booking form');
    const form = page.locator('#book-form');
    assert.equal(await form.getByLabel('Date', { exact: true }).inputValue(), day.iso, 'the form has the day');
    assert.equal(await form.getByLabel('Time', { exact: true }).inputValue(), '10:00', 'the form has the time');
    assert.equal(await selectedText(form.getByLabel('With', { exact: true })), STAFF, 'the form has the staff member');
    await form.getByLabel(new RegExp(`\\b${SERVICE}\\b`)).check();
    await form.getByLabel('Customer', { exact: true }).fill(CUSTOMER.name);
    await form.getByLabel(/^Phone/).fill(CUSTOMER.phone);
    await navigating(page, () => form.getByRole('button', { name: 'Book', exact: true }).click());
    assert.equal(pathOf(page), '/schedule');
    assert.equal(new URL(page.url()).searchParams.get('date'), day.iso, 'back on the day');
    await seeText(page.locator('.flash'), new RegExp(`^Booked: .*${SERVICE} for ${CUSTOMER.name}\\.$`));
    assert.equal(await blocks(page).count(), 1, 'one appointment that day');
    const first = blocks(page).first();
    await seeText(first, new RegExp(`^10:00–10:45 ${SERVICE} · ${CUSTOMER.name} · ${RESOURCE}$`));
    // The block sits on the 10:00 row and spans three 15-minute rows.
    const cellBox = await box(cell('10:00'));
    const blockBox = await box(first);
    assert.ok(Math.abs(blockBox.y - cellBox.y) <= 3, `the block starts on the 10:00 row (${blockBox.y} vs ${cellBox.y})`);
    assert.ok(
      Math.abs(blockBox.height - 3 * cellBox.height) <= 4,
      `the block is 45 minutes tall (${blockBox.height}px for rows of ${cellBox.height}px)`,
    );
    assert.ok(blockBox.x >= cellBox.x - 1 && blockBox.x + blockBox.width <= cellBox.x + cellBox.width + 1, 'in its column');
    await assertNoHorizontalOverflow(page, 'day view');
    await shot(page, 'day');

    await navigating(page, () => page.locator('.view-switch').getByRole('link', { name: 'Week' }).click());
    assert.equal(new URL(page.url()).searchParams.get('view'), 'week');
    const weekDay = page.locator(`#week .cal-day:has(a[href*="date=${day.iso}"])`);
    await seeText(weekDay.locator('.appt'), new RegExp(`^10:00–10:45 ${SERVICE}\\n${CUSTOMER.name}\\n${STAFF} · ${RESOURCE}$`));
    assert.equal(await page.locator('#week .appt').count(), 1, 'one appointment that week');
    await assertNoHorizontalOverflow(page, 'week view');
    await shot(page, 'week');
    assertNoProblems(page);

    // --- 3. The same time again: refused, the typed values kept --------------------------------
    await navigating(page, () => page.locator('.view-switch').getByRole('link', { name: 'Day' }).click());
    await form.getByLabel(new RegExp(`\\b${SERVICE}\\b`)).check();
    await form.getByLabel('Time', { exact: true }).fill('10:00');
    await form.getByLabel('With', { exact: true }).selectOption({ label: STAFF });
    // The chair named too: with "Any free" and the only chair taken, the
    // booking is refused for the chair alone ("None of Chair 1 is free
    // then."), before Dr Lee's own booking is looked at.
    await form.getByLabel('Where', { exact: true }).selectOption({ label: RESOURCE });
    await form.getByLabel('Customer', { exact: true }).fill(CUSTOMER.name);
    await form.getByLabel(/^Phone/).fill(CUSTOMER.phone);
    await form.getByLabel('Notes', { exact: true }).fill('Second try');
    const refused = await navigating(page, () => form.getByRole('button', { name: 'Book', exact: true }).click());
    assert.equal(refused.status(), 409, 'a conflict answers 409');
    // The refusal is said at the top, where the page opens, not only by the
    // form further down.
    const summary = page.locator('#book-refused');
    await seeText(summary, new RegExp(`^Not booked: ${STAFF} is already booked then: 10:00–10:45 ${CUSTOMER.name}\\.`));
    assert.ok(
      await summary.evaluate((el) => el.getBoundingClientRect().bottom <= window.innerHeight),
      'the refusal is on screen without scrolling',
    );
    const reasons = (await page.locator('#book .error').allInnerTexts()).map((s) => s.trim());
    assert.ok(
      reasons.some((r) => r.startsWith(`${STAFF} is already booked then`)),
      `the page says why: ${JSON.stringify(reasons)}`,
    );
    assert.ok(
      reasons.some((r) => r.startsWith(`${RESOURCE} is taken then`)),
      `the page says the chair is taken too: ${JSON.stringify(reasons)}`,
    );
    assert.ok(await form.getByLabel(new RegExp(`\\b${SERVICE}\\b`)).isChecked(), 'the service stays ticked');
    assert.equal(await form.getByLabel('Date', { exact: true }).inputValue(), day.iso, 'the date is kept');
    assert.equal(await form.getByLabel('Time', { exact: true }).inputValue(), '10:00', 'the time is kept');
    assert.equal(await selectedText(form.getByLabel('With', { exact: true })), STAFF, 'the staff member is kept');
    assert.equal(await selectedText(form.getByLabel('Where', { exact: true })), RESOURCE, 'the chair is kept');
    assert.equal(await form.getByLabel('Customer', { exact: true }).inputValue(), CUSTOMER.name, 'the customer is kept');
    assert.equal(await form.getByLabel(/^Phone/).inputValue(), CUSTOMER.phone, 'the phone is kept');
    assert.equal(await form.getByLabel('Notes', { exact: true }).inputValue(), 'Second try', 'the notes are kept');
    assert.equal(await blocks(page).count(), 1, 'still one appointment');
    await shot(page, 'conflict');

    // --- 4. The assistant: understood, options, nothing booked until Confirm -------------------
    await page.goto('/schedule/assistant');
    const request = `book ${CUSTOMER.surname} for a cleaning on ${day.phrase} afternoon with ${STAFF}`;
    await page.getByLabel('Request').fill(request);
    await navigating(page, () => page.getByRole('button', { name: 'Ask' }).click());
    assert.equal(await page.locator('#assistant-error').count(), 0, 'no error');
    const understood = page.locator('#understood');
    await understood.waitFor();
    assert.equal(await selectedText(understood.getByLabel('To do', { exact: true })), 'Book');
    assert.match(await selectedText(understood.getByLabel('Customer', { exact: true })), new RegExp(`^${CUSTOMER.name}\\b`));
    assert.equal(await selectedText(understood.getByLabel('Service', { exact: true })), SERVICE);
    assert.equal(await selectedText(understood.getByLabel('With', { exact: true })), STAFF);
    assert.equal(await understood.getByLabel('From', { exact: true }).inputValue(), day.iso, 'the day said');
    const offers = page.locator('#offers li');
    await offers.first().waitFor();
    const labels = (await offers.locator('.offer-label').allInnerTexts()).map((s) => s.trim());
    assert.ok(labels.length >= 1, 'options are listed');
    t.diagnostic(`options: ${JSON.stringify(labels)}`);
    // Afternoon options only (12:00 or later), on that day.
    for (const label of labels) {
      const time = /\b(\d{1,2}):(\d{2})\b/.exec(label);
      assert.ok(time && Number(time[1]) >= 12, `an afternoon option: ${label}`);
    }
    await shot(page, 'assistant-options');

    // Nothing is in the calendar yet (looked at in another tab).
    const look = await page.context().newPage();
    await look.goto(`/schedule?view=day&date=${day.iso}`);
    assert.equal(await blocks(look).count(), 1, 'the assistant booked nothing by itself');
    await look.close();

    const firstStart = /\b(\d{1,2}:\d{2})\b/.exec(labels[0])[1].padStart(5, '0');
    await navigating(page, () => offers.first().getByRole('button', { name: 'Confirm' }).click());
    assert.match(pathOf(page), /^\/schedule\/appointments\/\d+$/, 'the appointment page');
    await seeText(page.locator('.flash'), /^Booked\b/);
    await seeText(page.locator('#status'), /^booked$/i);
    await seeText(page.locator('#details'), new RegExp(`${CUSTOMER.name}`));
    await seeText(page.locator('#details'), new RegExp(`${STAFF}`));
    await shot(page, 'assistant-confirmed');
    await page.goto(`/schedule?view=day&date=${day.iso}`);
    assert.equal(await blocks(page).count(), 2, 'now two appointments that day');
    assertNoProblems(page);

    // --- 5. Calendar apps: a subscription read from outside the browser -----------------------
    await page.goto('/schedule/feeds');
    const feedForm = page.locator('#feed-form');
    await feedForm.getByLabel('Calendar', { exact: true }).selectOption({ label: STAFF });
    await navigating(page, () => feedForm.getByRole('button', { name: 'Make a subscription address' }).click());
    const address = (await page.locator('#feed-url').innerText()).trim();
    assert.match(address, /^https?:\/\/\S+\.ics$/, `a subscription address: ${address}`);
    await seeText(page.locator('#new-feed'), new RegExp(`Subscription to ${STAFF}`));
    await seeText(page.locator('#feeds tbody tr'), new RegExp(`^${STAFF}\\b`));
    await assertNoHorizontalOverflow(page, 'calendar apps');
    await shot(page, 'feeds');
    const feed = await fetch(address);
    assert.equal(feed.status, 200, 'the address answers without a session');
    assert.match(feed.headers.get('content-type') || '', /^text\/calendar/);
    const ics = (await feed.text()).replace(/\r\n[ \t]/g, '');
    assert.match(ics, /^BEGIN:VCALENDAR\r\n/);
    const events = ics.split('BEGIN:VEVENT').slice(1);
    assert.equal(events.length, 2, 'both appointments are in the feed');
    const compact = day.iso.replaceAll('-', '');
    const tenUtc = String(10 - zoneOffsetHours(day.iso)).padStart(2, '0');
    assert.ok(
      events.some((e) => e.includes(`DTSTART:${compact}T${tenUtc}0000Z`)),
      `the 10:00 appointment is in the feed (${compact}T${tenUtc}0000Z):\n${ics}`,
    );
    assert.ok(events.every((e) => e.includes(SERVICE) && e.includes(CUSTOMER.name)), 'the events name the service and customer');
    // Shown once: a reload no longer shows it.
    await page.goto('/schedule/feeds');
    assert.equal(await page.locator('#feed-url').count(), 0, 'the address is shown only once');
    assertNoProblems(page);

    // --- 6. Drag the 10:00 appointment to 14:00 ----------------------------------------------
    const target = firstStart === '14:00' ? '15:00' : '14:00';
    await page.goto(`/schedule?view=day&date=${day.iso}`);
    const morning = page.locator(`#day-grid .appt[data-start="${day.iso}T10:00"]`);
    await morning.waitFor();
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      morning.dragTo(cell(target)),
    ]);
    assert.equal(await page.locator('#drag-error').isVisible(), false, 'no error after the drop');
    const moved = page.locator(`#day-grid .appt[data-start="${day.iso}T${target}"]`);
    await seeText(moved, new RegExp(`^${target}–${target.slice(0, 2)}:45 ${SERVICE} · ${CUSTOMER.name}`));
    assert.equal(await page.locator(`#day-grid .appt[data-start="${day.iso}T10:00"]`).count(), 0, 'nothing left at 10:00');
    assert.equal(await blocks(page).count(), 2, 'still two appointments');
    await page.reload();
    await seeText(page.locator(`#day-grid .appt[data-start="${day.iso}T${target}"]`), new RegExp(`^${target}–`));
    await shot(page, 'dragged');
    assertNoProblems(page);
  } catch (err) {
    // What the page looked like when it failed.
    if (page) await shot(page, 'failure').catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
