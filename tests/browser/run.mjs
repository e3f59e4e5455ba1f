// End-to-end runs of Interlude's pages in a real headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core; no browser is ever downloaded), with axe-core on every page.
//
//   node run.mjs --base http://127.0.0.1:PORT --campaigns a,b,c [--rtl-campaign ID]
//                [--out DIR] [--report FILE] [--only NAME]
//
// The service must run in dev mode (its IdP emulator at /_dev starts each login and checks
// the return at /_dev/continue). For each campaign: a login from /_dev, the form, validation
// errors (required fields left empty, a malformed e-mail), values kept after an error, a
// valid answer, the coupon reveal, and the return to /_dev/continue with a token
// validateToken accepts, once with JavaScript and once without; plus German and Arabic
// runs, keyboard focus checks, and the error pages. Every page is checked with axe-core
// (WCAG 2.1 A/AA rules) and screenshotted at phone (390x844) and desktop (1280x800) widths.
//
// Writes a JSON report to --report FILE (else stdout; logs go to stderr) and exits 0 when
// nothing failed, 1 otherwise. tests/api/pages.rs starts the service and runs this.

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } };
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-extensions',
  '--disable-default-apps', '--mute-audio', '--font-render-hinting=none',
];
// Users are new on every run of this script, so it can run twice against one database.
const RUN_ID = `${Date.now().toString(36)}${process.pid}`;
const WATCHDOG_MS = Number(process.env.BROWSER_TEST_TIMEOUT_MS || 300_000);

function args() {
  const out = { base: '', campaigns: [], rtl: '', out: 'screenshots', only: '', report: '' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1] ?? ''];
    if (k === '--base') out.base = v.replace(/\/$/, '');
    else if (k === '--campaigns') out.campaigns = v.split(',').filter(Boolean);
    else if (k === '--rtl-campaign') out.rtl = v;
    else if (k === '--out') out.out = v;
    else if (k === '--report') out.report = v;
    else if (k === '--only') out.only = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!out.base) throw new Error('--base URL is required');
  return out;
}

const log = (...a) => console.error('[browser]', ...a);

/** Everything a run found, for the report. */
const report = {
  ok: false, browser: '', failures: [], runs: [], audits: [], screenshots: [], focus: [],
  timings: {},
};

function fail(where, message) {
  report.failures.push(`${where}: ${message}`);
  log(`FAIL ${where}: ${message}`);
}

function check(where, condition, message) {
  if (!condition) fail(where, message);
  return Boolean(condition);
}

// --- per page: axe and screenshots -------------------------------------------------------

/** Rejects when `promise` takes longer than `ms`. */
function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms); }),
  ]);
}

async function runAxe(page) {
  return page.evaluate(async (source) => {
    if (!window.axe) {
      // Evaluated here (not a <script> tag), so the page's CSP does not stop it.
      (0, eval)(source);
    }
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  }, AXE_SOURCE);
}

/** axe needs scripts (and timers), which a page without JavaScript does not run: its DOM is
 * audited in a scripting page instead, served at the same address (so styles load the
 * same), with the page's own scripts removed. One such page serves the whole run. */
let mirror = null;
async function runAxeMirrored(page, browser) {
  const html = (await page.content()).replace(/<script\b[\s\S]*?<\/script>/gi, '');
  const url = page.url();
  if (!mirror) {
    const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
    mirror = await context.newPage();
  }
  const handler = (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
  await mirror.route(url, handler);
  try {
    await mirror.goto(url);
    return await runAxe(mirror);
  } finally {
    await mirror.unroute(url, handler);
  }
}

async function audit(page, run, name, browser) {
  const where = `${run.name}/${name}`;
  try {
    const result = await within(30_000, run.js ? runAxe(page) : runAxeMirrored(page, browser), 'axe');
    report.audits.push({ run: run.name, page: name, url: page.url(), js: run.js, violations: result });
    for (const v of result) {
      if (v.impact === 'serious' || v.impact === 'critical') {
        fail(where, `axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.join(', ')})`);
      } else {
        log(`note ${where}: axe ${v.impact} ${v.id}: ${v.help}`);
      }
    }
  } catch (e) {
    fail(where, `axe did not run: ${e.message}`);
  }
}

async function shoot(page, run, name, outDir) {
  if (!run.screenshots) return;
  const original = page.viewportSize();
  for (const [label, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    const file = join(outDir, `${run.name}--${name}--${label}.png`);
    await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
    report.screenshots.push(file);
  }
  if (original) await page.setViewportSize(original);
}

/** axe plus screenshots of the page as it is now. */
async function visit(page, run, name, outDir) {
  run.pages.push({ page: name, url: page.url(), title: await page.title() });
  await audit(page, run, name, page.context().browser());
  await shoot(page, run, name, outDir);
}

// --- checks on a form --------------------------------------------------------------------

/** Every visible control has a label (or is inside a fieldset with a legend). */
async function checkLabels(page, where) {
  const unlabeled = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('main input, main select, main textarea')) {
      if (el.type === 'hidden') continue;
      const labelled = (el.labels && el.labels.length > 0 && el.labels[0].textContent.trim() !== '');
      if (!labelled) bad.push(el.id || el.name);
    }
    return bad;
  });
  check(where, unlabeled.length === 0, `controls without a label: ${unlabeled.join(', ')}`);
}

/** After a refused answer: the summary is an alert, has focus, links to each field, and each
 * invalid control is described by its message. */
async function checkErrors(page, run, where) {
  // Autofocus is applied after load; on a busy machine that can take a moment. Wait for it
  // (up to 5 s) before checking, so the check fails only when focus never arrives.
  await page
    .waitForFunction(() => document.activeElement === document.getElementById('error-summary'), null, { timeout: 5000 })
    .catch(() => {});
  const state = await page.evaluate(() => {
    const summary = document.getElementById('error-summary');
    const invalid = [...document.querySelectorAll('[aria-invalid="true"]')].map((el) => {
      const holder = el.getAttribute('aria-describedby') ? el : el.closest('fieldset');
      const ids = (holder?.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
      const texts = ids.map((id) => document.getElementById(id)?.textContent.trim() || '');
      const message = ids.filter((id) => id.startsWith('e-')).map((id) => document.getElementById(id)?.textContent.trim() || '');
      return { name: el.name, described: texts, message };
    });
    const links = summary ? [...summary.querySelectorAll('a')].map((a) => ({
      href: a.getAttribute('href'),
      target: Boolean(document.getElementById((a.getAttribute('href') || '').slice(1))),
    })) : [];
    return {
      summary: Boolean(summary),
      role: summary?.getAttribute('role') || '',
      focused: document.activeElement === summary,
      links,
      invalid,
      title: document.title,
    };
  });
  check(where, state.summary, 'no error summary after a refused answer');
  check(where, state.role === 'alert', `the error summary's role is "${state.role}", not "alert"`);
  check(where, state.focused, 'the error summary does not have focus');
  check(where, state.links.length > 0 && state.links.every((l) => l.target),
    `error summary links do not all lead to a field: ${JSON.stringify(state.links)}`);
  check(where, state.invalid.length > 0, 'no control is marked aria-invalid');
  for (const i of state.invalid) {
    check(where, i.message.length > 0 && i.message.every((m) => m.length > 0),
      `${i.name} is invalid but not described by its message (${JSON.stringify(i.described)})`);
  }
  check(where, state.title.includes(':'), `the title does not say there is an error: "${state.title}"`);
  return state;
}

/** Tabs through the page: every focused control shows an outline of at least 2px. */
async function checkFocus(page, run, where) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur && document.activeElement.blur());
  const seen = [];
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const s = getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase(), id: el.id, type: el.getAttribute('type') || '',
        outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
        width: parseFloat(s.outlineWidth) || 0, style: s.outlineStyle,
      };
    });
    if (!f) break;
    const key = `${f.tag}#${f.id}:${f.type}`;
    if (seen.some((s) => s.key === key)) break;
    seen.push({ key, ...f });
  }
  report.focus.push({ run: run.name, page: where, stops: seen.map((s) => ({ element: s.key, outline: s.outline })) });
  check(where, seen.length >= 1, 'Tab reached no control');
  for (const s of seen) {
    check(where, s.style !== 'none' && s.width >= 2, `focus is not visible on ${s.key}: outline ${s.outline}`);
  }
}

// --- filling forms -----------------------------------------------------------------------

const TEXT_VALUES = {
  given_name: 'Ada', family_name: 'Lovelace', full_name: 'Ada Lovelace', job_title: 'Engineer',
  company: 'Example Ltd', nickname: 'ada',
};

/** Fills every field with a valid value (required ones always, optional ones too). */
async function fillValid(page) {
  const fields = await page.$$eval('main form .field', (nodes) => nodes.map((n) => n.id.replace(/^field-/, '')));
  for (const name of fields) {
    const field = page.locator(`#field-${name}`);
    const kind = (await field.getAttribute('class')).match(/field-([a-z-]+)/)?.[1] || 'text';
    if (kind === 'checkbox') {
      await page.locator(`#f-${name}`).check();
    } else if (kind === 'radio' || kind === 'multi-select') {
      await page.locator(`#f-${name}-1`).check();
    } else if (kind === 'select') {
      await page.locator(`#f-${name}`).selectOption({ index: 1 });
    } else if (kind === 'textarea') {
      await page.locator(`#f-${name}`).fill('Written in a browser test.');
    } else {
      const input = page.locator(`#f-${name}`);
      const type = await input.getAttribute('type');
      const min = await input.getAttribute('min');
      const value = {
        email: 'ada@example.com', tel: '+44 20 7946 0000', url: 'https://example.com',
        number: min || '42', date: min || '2000-01-01',
      }[type] ?? TEXT_VALUES[name] ?? 'Test';
      await input.fill(value);
    }
  }
}

/** A wrong answer: required fields left empty, one text field filled (it must come back),
 * a malformed e-mail. Returns what was typed, or null when the form cannot be wrong. */
async function fillInvalid(page) {
  const required = await page.locator('main form [aria-required="true"], main form .req').count();
  const email = page.locator('main form input[type=email]');
  if (required === 0 && (await email.count()) === 0) return null;
  const typed = {};
  // An optional text field, else one of several required ones: the answer stays wrong.
  const optional = page.locator('main form input[type=text]:not([required])');
  const requiredTexts = page.locator('main form input[type=text][required]');
  const keep = (await optional.count()) > 0 ? optional.first()
    : (await requiredTexts.count()) > 1 ? requiredTexts.first() : null;
  if (keep) {
    typed[await keep.getAttribute('name')] = 'Kept after an error';
    await keep.fill('Kept after an error');
  }
  if ((await email.count()) > 0) {
    typed[await email.first().getAttribute('name')] = 'not-an-address';
    await email.first().fill('not-an-address');
  }
  return typed;
}

// --- one login ---------------------------------------------------------------------------

async function startLogin(page, base, run) {
  await page.goto(`${base}/_dev`);
  const claims = {
    sub: `auth0|browser-${run.name}-${RUN_ID}`, email: `${run.name}@example.com`, email_verified: true,
    logins_count: 5, user_metadata: {}, app_metadata: {},
  };
  if (run.localeClaim) claims.locale = run.localeClaim;
  await page.locator('#claims-1').fill(JSON.stringify(claims, null, 2));
  await page.locator('#campaign-1').selectOption(run.campaign);
  let promptUrl = '';
  const onRequest = (r) => { if (r.url().includes('/prompt?')) promptUrl = r.url(); };
  page.on('request', onRequest);
  await Promise.all([
    page.waitForURL(/\/p\/[0-9a-f]{32}$/),
    page.locator('form[action="/_dev/start"]').first().locator('button[type=submit]').click(),
  ]);
  page.off('request', onRequest);
  return promptUrl;
}

/** Submits the form and waits for where it leads: the same form with errors, the continue
 * page, or (auto-submitted with JavaScript) /_dev/continue. */
async function submit(page, run, button = 'submit') {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && /\/p\/[0-9a-f]{32}$/.test(r.url())),
    page.locator(`main form button[name=_action][value=${button}]`).click(),
  ]);
  // The body is gone when the page already submitted itself (and navigated) with JavaScript.
  const html = await response.text().catch(() => null);
  const autoSubmits = run.js && (html === null || html.includes("document.getElementById('continue').submit()"));
  if (autoSubmits) {
    await page.waitForURL(/\/_dev\/continue$/);
    return { status: response.status(), where: 'idp' };
  }
  await page.waitForLoadState('load');
  return { status: response.status(), where: response.status() === 422 ? 'errors' : 'continue' };
}

async function finishAtIdp(page, run, where) {
  if (!page.url().endsWith('/_dev/continue')) {
    await Promise.all([
      page.waitForURL(/\/_dev\/continue$/),
      page.locator('form#continue button[type=submit]').click(),
    ]);
  }
  const h1 = (await page.locator('h1').innerText()).trim();
  check(where, h1 === 'Back at the IdP: the token is valid', `the IdP refused the return: ${h1} / ${await page.locator('#verdict').innerText()}`);
  const text = await page.locator('#claims').innerText().catch(() => '{}');
  let claims = {};
  try { claims = JSON.parse(text); } catch { fail(where, `claims are not JSON: ${text}`); }
  return claims;
}

async function loginRun(browser, opts, run) {
  const started = Date.now();
  run.pages = [];
  const where = (p) => `${run.name}/${p}`;
  const context = await browser.newContext({
    javaScriptEnabled: run.js,
    locale: run.acceptLanguage.split(',')[0],
    extraHTTPHeaders: { 'Accept-Language': run.acceptLanguage },
    viewport: VIEWPORTS.desktop,
    reducedMotion: 'reduce',
  });
  if (run.js) {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: opts.base });
  }
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const consoleErrors = [];
  // A refused answer or an error page is a 4xx document, which Chromium logs as a failed
  // load: those are expected. Failed styles, images or scripts are not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    if (r.resourceType() !== 'document') consoleErrors.push(`failed ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  try {
    if (run.devPages) {
      await page.goto(`${opts.base}/_dev`);
      await visit(page, run, 'dev', opts.out);
    }
    const promptUrl = await startLogin(page, opts.base, run);
    const formUrl = page.url();
    run.formUrl = formUrl;

    // The form.
    const html = page.locator('html');
    check(where('form'), (await html.getAttribute('lang')) === run.lang, `lang is ${await html.getAttribute('lang')}, expected ${run.lang}`);
    check(where('form'), (await html.getAttribute('dir')) === run.dir, `dir is ${await html.getAttribute('dir')}, expected ${run.dir}`);
    if (run.dir === 'rtl') {
      const h1 = (await page.locator('h1').innerText()).trim();
      check(where('form'), /[\u0600-\u06FF]/.test(h1), `the heading is not in Arabic: "${h1}"`);
    }
    if (run.expectTitle) {
      const h1 = (await page.locator('h1').innerText()).trim();
      check(where('form'), h1 === run.expectTitle, `heading "${h1}", expected "${run.expectTitle}"`);
    }
    if (run.expectTheme) {
      const theme = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--background').trim());
      check(where('form'), theme === run.expectTheme, `--background is ${theme}, expected ${run.expectTheme}`);
    }
    await checkLabels(page, where('form'));
    await visit(page, run, 'form', opts.out);
    if (run.keyboard) await checkFocus(page, run, where('form'));

    // A wrong answer first, when the form can be wrong.
    const typed = await fillInvalid(page);
    if (typed) {
      const r = await submit(page, run);
      check(where('errors'), r.status === 422 && r.where === 'errors', `a wrong answer gave ${r.status}`);
      const state = await checkErrors(page, run, where('errors'));
      run.errors = state.invalid.map((i) => i.name);
      for (const [name, value] of Object.entries(typed)) {
        const now = await page.locator(`[name="${name}"]`).first().inputValue();
        check(where('errors'), now === value, `${name} came back as "${now}", not what was typed ("${value}")`);
      }
      await visit(page, run, 'form-errors', opts.out);
    }

    // A valid answer.
    await fillValid(page);
    const r = await submit(page, run);
    check(where('answer'), r.status === 200, `a valid answer gave ${r.status}`);
    if (r.where === 'continue') {
      const coupon = page.locator('#coupon-code');
      if (await coupon.count()) {
        run.coupon = (await coupon.innerText()).trim();
        check(where('coupon'), /^[A-Z0-9-]{6,}$/.test(run.coupon), `coupon code looks wrong: ${run.coupon}`);
        const copy = page.locator('#copy-coupon');
        if (run.js) {
          check(where('coupon'), await copy.isVisible(), 'the copy button is not shown with JavaScript');
          await copy.click();
          await page.waitForFunction(() => document.getElementById('copy-status').textContent.trim() !== '');
          const copied = await page.evaluate(() => navigator.clipboard.readText());
          check(where('coupon'), copied === run.coupon, `copied "${copied}", not the code`);
        } else {
          check(where('coupon'), !(await copy.isVisible()), 'the copy button shows without JavaScript (it cannot work)');
        }
        await visit(page, run, 'coupon', opts.out);
      } else {
        await visit(page, run, 'continue', opts.out);
      }
    } else {
      check(where('answer'), run.js, 'the continue page submitted itself without JavaScript');
    }
    const claims = await finishAtIdp(page, run, where('idp'));
    run.token = claims;
    check(where('idp'), claims.campaign === run.campaign, `token campaign ${claims.campaign}, expected ${run.campaign}`);
    check(where('idp'), claims.outcome === 'completed', `token outcome ${claims.outcome}`);
    if (run.coupon) {
      check(where('idp'), claims.coupon && claims.coupon.code === run.coupon, `token coupon ${JSON.stringify(claims.coupon)} is not the code shown`);
    }
    if (run.devPages) await visit(page, run, 'dev-continue', opts.out);

    // The form again, once answered: a page that says so, with the way back.
    if (run.donePage) {
      await page.goto(formUrl);
      check(where('done'), (await page.locator('form button[type=submit]').count()) === 1, 'no way back on the answered page');
      await visit(page, run, 'done', opts.out);
    }

    // Error pages.
    if (run.errorPages) {
      const used = await page.goto(promptUrl);
      check(where('used'), used.status() === 409, `a reused login link gave ${used.status()}`);
      await visit(page, run, 'error-used', opts.out);
      const unknown = await page.goto(`${opts.base}/p/${'0'.repeat(32)}`);
      check(where('invalid'), unknown.status() === 404, `an unknown page gave ${unknown.status()}`);
      await visit(page, run, 'error-invalid', opts.out);
      const other = await browser.newContext({
        javaScriptEnabled: run.js, extraHTTPHeaders: { 'Accept-Language': run.acceptLanguage },
        viewport: VIEWPORTS.desktop,
      });
      const otherPage = await other.newPage();
      const foreign = await otherPage.goto(formUrl);
      check(where('forbidden'), foreign.status() === 403, `the form in another browser gave ${foreign.status()}`);
      await visit(otherPage, run, 'error-forbidden', opts.out);
      await other.close();
    }
    check(where('console'), consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
  } catch (e) {
    fail(run.name, `stopped: ${e.message.split('\n')[0]}`);
    try { await page.screenshot({ path: join(opts.out, `${run.name}--FAILED.png`), fullPage: true }); } catch { /* the page is gone */ }
  } finally {
    await context.close();
    run.ms = Date.now() - started;
    report.runs.push(run);
    log(`${run.name}: ${run.ms} ms`);
  }
}

// --- the plan ----------------------------------------------------------------------------

function plan(campaigns, rtl) {
  const runs = [];
  const en = { lang: 'en', dir: 'ltr', acceptLanguage: 'en-GB,en;q=0.9' };
  for (const [i, campaign] of campaigns.entries()) {
    runs.push({
      name: campaign, campaign, js: true, screenshots: true, keyboard: true, ...en,
      devPages: i === 0, donePage: i === 0, errorPages: i === 0,
    });
  }
  for (const campaign of campaigns) {
    runs.push({ name: `${campaign}-nojs`, campaign, js: false, screenshots: true, ...en });
  }
  // German: one by Accept-Language, one by the token's locale claim (over an English browser).
  if (campaigns.includes('profile-name')) {
    runs.push({
      name: 'profile-name-de', campaign: 'profile-name', js: true, screenshots: true,
      lang: 'de', dir: 'ltr', acceptLanguage: 'de-DE,de;q=0.9', expectTitle: 'Wie dürfen wir Sie nennen?',
      donePage: true,
    });
  }
  if (campaigns.includes('welcome-coupon')) {
    runs.push({
      name: 'welcome-coupon-de', campaign: 'welcome-coupon', js: true, screenshots: true,
      lang: 'de', dir: 'ltr', acceptLanguage: 'en-GB,en;q=0.9', localeClaim: 'de',
      expectTitle: 'Willkommen! 10 % Rabatt auf Ihre erste Bestellung', expectTheme: '#0b1020',
    });
  }
  if (campaigns.includes('tos-v2')) {
    runs.push({
      name: 'tos-v2-de-nojs', campaign: 'tos-v2', js: false, screenshots: true,
      lang: 'de', dir: 'ltr', acceptLanguage: 'de-CH,de;q=0.9,en;q=0.5',
      expectTitle: 'Wir haben unsere Nutzungsbedingungen aktualisiert',
    });
  }
  // Arabic, right to left (tests/fixtures/pages/survey-ar.yaml), with and without
  // JavaScript, and the error pages in Arabic.
  if (rtl) {
    const ar = { campaign: rtl, lang: 'ar', dir: 'rtl', acceptLanguage: 'ar-EG,ar;q=0.9', screenshots: true };
    runs.push({ name: `${rtl}`, js: true, keyboard: true, donePage: true, errorPages: true, ...ar });
    runs.push({ name: `${rtl}-nojs`, js: false, ...ar });
  }
  return runs;
}

async function main() {
  const opts = args();
  opts.out = resolve(opts.out);
  mkdirSync(opts.out, { recursive: true });
  const t0 = Date.now();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  report.browser = browser.version();
  report.timings.launch_ms = Date.now() - t0;
  try {
    for (const run of plan(opts.campaigns, opts.rtl)) {
      if (opts.only && run.name !== opts.only) continue;
      await loginRun(browser, opts, run);
    }
  } finally {
    await browser.close();
  }
  report.timings.total_ms = Date.now() - t0;
  report.ok = report.failures.length === 0;
}

let reportFile = '';
function writeReport() {
  const text = `${JSON.stringify(report, null, 1)}\n`;
  if (reportFile) {
    writeFileSync(reportFile, text);
    process.stdout.write(`${report.failures.length} failed, ${report.runs.length} runs, ${report.audits.length} pages audited, ${report.screenshots.length} screenshots in ${report.timings.total_ms} ms\n`);
  } else {
    process.stdout.write(text);
  }
}

const watchdog = setTimeout(() => {
  fail('watchdog', `the browser tests took longer than ${WATCHDOG_MS} ms`);
  writeReport();
  process.exit(2);
}, WATCHDOG_MS);

try {
  reportFile = args().report;
  await main();
} catch (e) {
  fail('setup', e.stack || e.message);
}
clearTimeout(watchdog);
writeReport();
process.exit(report.ok ? 0 : 1);
