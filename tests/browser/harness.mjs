// Shared helpers for Hearth's headless-browser tests.
//
// Each *.test.mjs file in this directory runs under `node --test` and
// typically does:
//
//   const server = await startServer();        // fresh data dir, free port
//   const browser = await launchBrowser();     // system Chromium
//   const page = await newPage(browser, server);
//   const shot = screenshotter();              // 01-name.png, 02-...
//   ...
//   await shot(page, 'setup');
//   ...
//   await browser.close(); await server.stop();
//
// The server binary is never built here: it comes from $HEARTH_BIN (default
// <repo>/target/debug/hearth); build it first. Chromium comes from
// $HEARTH_CHROMIUM (default /usr/bin/chromium) and is driven with
// playwright-core only; no browser is ever downloaded.
//
// Tests that need the real model (chat.test.mjs) get its path from
// testModelPath() ($HEARTH_TEST_MODEL or the default model in
// ~/.cache/hearth/models), skip without it, and pass it to the server with
// startServer({ config: '[llm]\nmodel = "..."\nthreads = 2' }).

import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, access } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository root (two levels above this file). */
export const REPO_ROOT = path.resolve(here, '..', '..');

/** The server binary under test. */
export const HEARTH_BIN = process.env.HEARTH_BIN
  ? path.resolve(process.env.HEARTH_BIN)
  : path.join(REPO_ROOT, 'target', 'debug', 'hearth');

/** The Chromium executable. */
export const CHROMIUM = process.env.HEARTH_CHROMIUM || '/usr/bin/chromium';

/** Where screenshots go. */
export const SCREENSHOT_DIR = process.env.HEARTH_SCREENSHOT_DIR
  ? path.resolve(process.env.HEARTH_SCREENSHOT_DIR)
  : path.join(here, 'screenshots');

/** The setup code as the server prints it: `one-time setup code: ABCD-EFGH-JKMN`. */
export const SETUP_CODE_RE = /setup code: ([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})/;

/** Common viewports. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

/** Asks the OS for a free TCP port on 127.0.0.1 (bind port 0, read, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Environment variables that would make the server ignore our flags or
// read someone's real configuration.
const STRIPPED_ENV = ['HEARTH_CONFIG', 'HEARTH_DATA_DIR', 'HEARTH_LISTEN', 'HEARTH_ALLOWED_HOSTS'];

/**
 * Starts `hearth serve` on a fresh temporary data directory and a free port,
 * waits until GET /healthz answers 200, and returns a handle:
 *
 *   { baseURL, port, dataDir, setupCode, url(path), logs(), stop() }
 *
 * `setupCode` is the code parsed from stderr (null if none was printed).
 * An empty config file is passed with --config so that a developer's
 * /etc/hearth/hearth.toml cannot leak into the test.
 *
 * Options: `timeoutMs` (default 30 s) for the server to become healthy,
 * `env` (extra environment variables), `attempts` (ports to try),
 * `config` (TOML text for the --config file instead of an empty one, e.g.
 * `[llm]\nmodel = "/abs/model.gguf"\nthreads = 2`), `args` (extra
 * arguments after `serve ...`).
 */
export async function startServer({ timeoutMs = 30_000, env = {}, attempts = 3, config = '', args = [] } = {}) {
  try {
    await access(HEARTH_BIN, fsConstants.X_OK);
  } catch {
    throw new Error(
      `Hearth binary not found or not executable: ${HEARTH_BIN}\n` +
        'Build it first (cargo build) or point HEARTH_BIN at it.',
    );
  }
  let lastError;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await startServerOnce({ timeoutMs, env, config, args });
    } catch (err) {
      lastError = err;
      // A race for the port is the only failure worth retrying.
      if (!/cannot listen|address already in use/i.test(String(err && err.message))) throw err;
    }
  }
  throw lastError;
}

async function startServerOnce({ timeoutMs, env, config, args }) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hearth-browser-'));
  const configFile = path.join(dataDir, 'test-config.toml');
  await writeFile(configFile, `# for browser tests${config ? '' : ': empty, defaults only'}\n${config}\n`);
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;

  const childEnv = { ...process.env, ...env };
  for (const name of STRIPPED_ENV) if (!(name in env)) delete childEnv[name];
  childEnv.NO_COLOR ??= '1';

  const child = spawn(
    HEARTH_BIN,
    ['serve', '--config', configFile, '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...args],
    { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );

  let output = '';
  let setupCode = null;
  let exited = null;
  const onData = (chunk) => {
    output += chunk.toString();
    if (!setupCode) {
      const m = SETUP_CODE_RE.exec(output);
      if (m) setupCode = m[1];
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = sleep(10_000).then(() => 'timeout');
      if ((await Promise.race([exitPromise, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await exitPromise;
      }
    }
    if (!process.env.HEARTH_KEEP_DATA) {
      await rm(dataDir, { recursive: true, force: true });
    }
  };

  const deadline = Date.now() + timeoutMs;
  let healthy = false;
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const res = await fetch(`${baseURL}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) {
        healthy = true;
        break;
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  if (!healthy) {
    const why = exited
      ? `exited early (${exited.error ? exited.error.message : `code ${exited.code}, signal ${exited.signal}`})`
      : `did not answer GET /healthz with 200 within ${timeoutMs} ms`;
    await stop();
    throw new Error(`hearth serve ${why}.\n--- server output ---\n${output}`);
  }
  // The code is printed right after binding; give the pipe a moment.
  for (let i = 0; !setupCode && i < 20; i++) await sleep(50);

  return {
    baseURL,
    port,
    dataDir,
    get setupCode() {
      return setupCode;
    },
    url: (p = '/') => new URL(p, baseURL).toString(),
    logs: () => output,
    /** Waits until the server's output matches `pattern`; returns the match. */
    waitForLog: async (pattern, { timeoutMs: wait = 60_000 } = {}) => {
      const until = Date.now() + wait;
      for (;;) {
        const m = pattern.exec(output);
        if (m) return m;
        if (exited) throw new Error(`hearth serve exited while waiting for ${pattern}\n${output}`);
        if (Date.now() > until) throw new Error(`no ${pattern} in the server output within ${wait} ms\n${output}`);
        await sleep(100);
      }
    },
    stop,
    process: child,
  };
}

/**
 * The GGUF model for tests that need the real LLM: $HEARTH_TEST_MODEL, else
 * ~/.cache/hearth/models/SmolLM2-135M-Instruct.Q4_1.gguf. Returns the
 * absolute path, or null when the file is not there (skip the test then).
 */
export async function testModelPath() {
  const candidate = process.env.HEARTH_TEST_MODEL
    ? path.resolve(process.env.HEARTH_TEST_MODEL)
    : path.join(os.homedir(), '.cache', 'hearth', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
  try {
    await access(candidate, fsConstants.R_OK);
    return candidate;
  } catch {
    return null;
  }
}

/** Launches the system Chromium, headless, through playwright-core. */
export async function launchBrowser(options = {}) {
  try {
    await access(CHROMIUM, fsConstants.X_OK);
  } catch {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install it (apt-get install -y chromium) ` +
        'or set HEARTH_CHROMIUM. Do not run "npx playwright install".',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ...options,
  });
}

/**
 * Opens a page in a fresh browser context (own cookies) with `baseURL` set to
 * the server, so `page.goto('/login')` works. Returns the page; the page also
 * records trouble in `page.problems` (uncaught script errors, console errors,
 * failed sub-resources such as CSS or JS) for `assertNoProblems`.
 */
export async function newPage(browser, server, { viewport = VIEWPORTS.desktop, ...contextOptions } = {}) {
  const context = await browser.newContext({
    baseURL: server.baseURL,
    viewport,
    locale: 'en-GB',
    timezoneId: 'Europe/London',
    ...contextOptions,
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const text = msg.text();
      // Chromium logs every non-2xx document load ("Failed to load resource:
      // the server responded with a status of 401"); those are intentional
      // (wrong password, 403 page). Failed sub-resources are caught below.
      if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
      problems.push(`console error: ${text}`);
    }
  });
  page.on('requestfailed', (req) => {
    // Chromium fetches the tab icon after the load event; the next navigation
    // may cancel that fetch. A missing icon still shows up as a 404 below.
    if (req.failure()?.errorText === 'net::ERR_ABORTED' && /\/favicon\.svg$/.test(new URL(req.url()).pathname)) return;
    problems.push(`request failed: ${req.method()} ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on('response', (res) => {
    const type = res.request().resourceType();
    if (type !== 'document' && res.status() >= 400) {
      problems.push(`sub-resource ${type} ${res.url()} answered ${res.status()}`);
    }
  });
  page.problems = problems;
  return page;
}

/** Throws if the page recorded script errors or failed sub-resources. */
export function assertNoProblems(page) {
  if (page.problems.length) {
    throw new Error(`The page reported problems:\n  ${page.problems.join('\n  ')}`);
  }
}

/**
 * Returns `shot(page, name)`, which saves a full-page PNG as
 * `<dir>/<prefix>NN-<name>.png`, numbering shots in order from 01.
 * Use a distinct `prefix` per test file if several files write shots.
 */
export function screenshotter({ dir = SCREENSHOT_DIR, prefix = '' } = {}) {
  let n = 0;
  return async function shot(page, name) {
    n += 1;
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${prefix}${String(n).padStart(2, '0')}-${name}.png`);
    // Let web fonts and late layout settle so shots are stable.
    await page.evaluate(() => document.fonts && document.fonts.ready).catch(() => {});
    await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
    return file;
  };
}

/** The path part of the page's current URL. */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** Runs `action` (a click, a submit) and waits for the page it loads. */
export async function navigating(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]);
  return response;
}

/** Waits for `locator` to show and checks its text against `pattern`. */
export async function seeText(locator, pattern) {
  await locator.first().waitFor({ state: 'visible' });
  const text = (await locator.first().innerText()).trim();
  assert.match(text, pattern);
  return text;
}

/** Fails when the page is wider than the window (sideways scrolling). */
export async function assertNoHorizontalOverflow(page, what) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `${what}: page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
}

/**
 * Completes first-time setup on `page` as `owner` ({ business, name,
 * username, password }) with the server's setup code, and waits for the
 * page setup leads to.
 */
export async function setUpOwner(page, server, owner) {
  await page.goto('/setup');
  await page.getByLabel('Setup code').fill(server.setupCode);
  await page.getByLabel('Business name').fill(owner.business);
  await page.getByLabel('Your name').fill(owner.name);
  await page.getByLabel('Username').fill(owner.username);
  await page.getByLabel('Password', { exact: true }).fill(owner.password);
  await page.getByLabel('Password again').fill(owner.password);
  await navigating(page, () => page.getByRole('button', { name: 'Create the owner account' }).click());
}
