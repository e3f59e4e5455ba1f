#!/usr/bin/env node
// Plays Auth0's side of a Redirect Action against a running Interlude, for real:
//
//   1. runs the Action's onExecutePostLogin with an Auth0-shaped `event` and an `api` whose
//      redirect.encodeToken signs with jsonwebtoken as Auth0 documents it (HS256; sub, iss =
//      the tenant's hostname, exp, iat, ip, plus the payload);
//   2. follows sendUserTo's URL (with the `state` Auth0 appends) into Interlude as a browser
//      would: redirects by hand, a small cookie jar, the HTML form read and filled from the
//      scenario, submitted with the button the scenario names;
//   3. posts the continue page's form to its own POST /continue (this tenant's continue URL),
//      which runs onContinuePostLogin; redirect.validateToken checks the token the way Auth0
//      does (HS256 signature, not expired, iat/exp/sub/iss/state present, exp at least 60 s
//      after iat, sub = the user, state = the state of the redirect), reading it from the
//      POSTed body field named by tokenParameterName;
//   4. prints a JSON report of what the Action did (metadata, claims, access denied).
//
// Usage:
//   INTERLUDE_URL=http://127.0.0.1:8080 INTERLUDE_SECRET=… TENANT=acme.eu.auth0.com \
//   HARNESS_PORT=4000 node test/harness.mjs --scenario test/scenarios/profile-name.json
//
// Interlude must send this tenant's users back to http://127.0.0.1:HARNESS_PORT/continue.
// Environment: INTERLUDE_URL, INTERLUDE_SECRET, TENANT (required); HARNESS_PORT (default: any
// free port, printed on stderr); ACTION (the Action file, default ../interlude-redirect.js).
// The scenario comes from --scenario FILE, --scenario-json JSON or the SCENARIO variable:
//
//   {
//     "name": "profile-name",
//     "user": { "user_id": "auth0|ada", "email": "ada@example.com", "email_verified": true,
//               "given_name": "Ada", "user_metadata": {}, "app_metadata": {} },
//     "logins_count": 2,
//     "request": { "ip": "203.0.113.7", "language": "en" },
//     "secrets": { "INTERLUDE_CAMPAIGNS": "profile-name" },
//     "steps": [ { "action": "submit", "fields": { "given_name": "Ada", "family_name": "Lovelace" } } ]
//   }
//
// Each step answers one form: `fields` by input name (checkboxes take true/false), `action`
// the button pressed (submit, skip, decline). Exit status 0 when the login ran to its end
// (allowed or denied), 1 when something broke; the report names what.

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';

const require = createRequire(import.meta.url);
const jwt = require('jsonwebtoken');

const REQUEST_TIMEOUT_MS = 10_000;
const OVERALL_TIMEOUT_MS = 60_000;
const MAX_HOPS = 20;
const USER_AGENT = 'Mozilla/5.0 (interlude-auth0-harness)';
const APP_CALLBACK = 'https://app.example.test/callback';

class HarnessError extends Error {}

// The Action's console output is its log in Auth0: keep it for the report and off stdout,
// which carries only the report.
const actionLogs = [];
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  console[level] = (...args) => {
    const line = format(...args);
    actionLogs.push(line);
    process.stderr.write(`action: ${line}\n`);
  };
}

function fail(message) {
  throw new HarnessError(message);
}

// ---------------------------------------------------------------------------------------
// Inputs

function argument(name) {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function required(name) {
  const value = process.env[name];
  if (!value) {
    fail(`${name} is not set`);
  }
  return value;
}

function loadScenario() {
  const file = argument('--scenario');
  const inline = argument('--scenario-json') ?? process.env.SCENARIO;
  let text;
  if (file) {
    text = readFileSync(resolve(file), 'utf8');
  } else if (inline) {
    text = inline;
  } else {
    fail('no scenario: pass --scenario FILE, --scenario-json JSON or set SCENARIO');
  }
  let scenario;
  try {
    scenario = JSON.parse(text);
  } catch (e) {
    fail(`the scenario is not JSON: ${e.message}`);
  }
  if (!scenario || typeof scenario !== 'object' || !scenario.user || !scenario.user.user_id) {
    fail('the scenario needs a user with a user_id');
  }
  return scenario;
}

// ---------------------------------------------------------------------------------------
// HTML: just enough to read Interlude's pages the way a browser submits them.

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, code) => {
    if (code[0] === '#') {
      const n = code[1] === 'x' || code[1] === 'X' ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10);
      return Number.isFinite(n) ? String.fromCodePoint(n) : whole;
    }
    return ENTITIES[code] ?? whole;
  });
}

function parseAttributes(text) {
  const attributes = {};
  const re = /([^\s"'>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    const value = m[2] ?? m[3] ?? m[4];
    attributes[m[1].toLowerCase()] = value === undefined ? '' : decodeEntities(value);
  }
  return attributes;
}

function textOf(html) {
  return decodeEntities(html.replace(/<[^>]*>/g, '')).replace(/\s+/g, ' ').trim();
}

/** The forms of a page with their controls in tree order. */
function parseForms(html) {
  const forms = [];
  const tag = /<!--[\s\S]*?-->|<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
  let form = null;
  let select = null;
  let m;
  while ((m = tag.exec(html)) !== null) {
    if (m[0].startsWith('<!--')) {
      continue;
    }
    const closing = m[1] === '/';
    const name = m[2].toLowerCase();
    const attrs = closing ? {} : parseAttributes(m[3]);
    if (name === 'form') {
      if (closing) {
        form = null;
      } else {
        form = { action: attrs.action ?? '', method: (attrs.method ?? 'get').toLowerCase(), id: attrs.id, controls: [] };
        forms.push(form);
      }
      continue;
    }
    if (!form || closing) {
      if (closing && name === 'select') {
        select = null;
      }
      continue;
    }
    if (name === 'input') {
      form.controls.push({ tag: 'input', type: (attrs.type ?? 'text').toLowerCase(), attrs });
    } else if (name === 'button') {
      form.controls.push({ tag: 'button', type: (attrs.type ?? 'submit').toLowerCase(), attrs });
    } else if (name === 'textarea') {
      const end = html.indexOf('</textarea>', tag.lastIndex);
      const content = end >= 0 ? html.slice(tag.lastIndex, end) : '';
      form.controls.push({ tag: 'textarea', type: 'textarea', attrs, content: decodeEntities(content) });
      if (end >= 0) {
        tag.lastIndex = end;
      }
    } else if (name === 'select') {
      select = { tag: 'select', type: attrs.multiple !== undefined ? 'select-multiple' : 'select-one', attrs, options: [] };
      form.controls.push(select);
    } else if (name === 'option' && select) {
      const next = html.indexOf('<', tag.lastIndex);
      const label = textOf(html.slice(tag.lastIndex, next >= 0 ? next : undefined));
      select.options.push({ value: attrs.value ?? label, label, selected: attrs.selected !== undefined });
    }
  }
  return forms;
}

function pageTitle(html) {
  const m = /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html);
  return m ? textOf(m[1]) : null;
}

function fieldErrors(html) {
  const errors = {};
  const re = /<p class="error" id="e-([^"]+)">([\s\S]*?)<\/p>/g;
  let m;
  while ((m = re.exec(html)) !== null) {
    errors[decodeEntities(m[1])] = textOf(m[2]);
  }
  return errors;
}

function hiddenValue(form, name) {
  const control = form.controls.find((c) => c.tag === 'input' && c.type === 'hidden' && c.attrs.name === name);
  return control ? control.attrs.value ?? '' : undefined;
}

/** The form data a browser sends for `form` with `step` filled in and its button pressed. */
function fill(form, step) {
  const fields = step.fields ?? {};
  const action = step.action ?? 'submit';
  const names = new Set(form.controls.map((c) => c.attrs.name).filter(Boolean));
  for (const key of Object.keys(fields)) {
    if (!names.has(key)) {
      fail(`the scenario fills \`${key}\`, which the form does not have (it has: ${[...names].join(', ')})`);
    }
  }
  const entries = [];
  let pressed = false;
  const wants = (control) => {
    const given = fields[control.attrs.name];
    const value = control.attrs.value ?? 'on';
    if (given === undefined) {
      return control.attrs.checked !== undefined;
    }
    if (Array.isArray(given)) {
      return given.map(String).includes(value);
    }
    if (typeof given === 'boolean') {
      return given;
    }
    return String(given) === value;
  };
  for (const control of form.controls) {
    const name = control.attrs.name;
    if (control.attrs.disabled !== undefined) {
      continue;
    }
    if (control.tag === 'button' || (control.tag === 'input' && control.type === 'submit')) {
      if (!pressed && name && (control.attrs.value ?? '') === action) {
        entries.push([name, control.attrs.value ?? '']);
        pressed = true;
      }
      continue;
    }
    if (!name) {
      continue;
    }
    if (control.tag === 'input' && (control.type === 'checkbox' || control.type === 'radio')) {
      if (wants(control)) {
        entries.push([name, control.attrs.value ?? 'on']);
      }
    } else if (control.tag === 'input') {
      const given = fields[name];
      entries.push([name, given === undefined || control.type === 'hidden' ? control.attrs.value ?? '' : String(given)]);
    } else if (control.tag === 'textarea') {
      const given = fields[name];
      entries.push([name, given === undefined ? control.content : String(given)]);
    } else if (control.tag === 'select') {
      const given = fields[name];
      const values = control.options.map((o) => o.value);
      const chosen =
        given === undefined
          ? control.options.filter((o) => o.selected).map((o) => o.value)
          : (Array.isArray(given) ? given : [given]).map(String);
      for (const value of chosen) {
        if (!values.includes(value)) {
          fail(`\`${value}\` is not an option of \`${name}\` (options: ${values.join(', ')})`);
        }
      }
      if (chosen.length === 0 && control.type === 'select-one' && values.length > 0) {
        chosen.push(values[0]);
      }
      for (const value of chosen) {
        entries.push([name, value]);
      }
    }
  }
  if (!pressed) {
    const buttons = form.controls.filter((c) => c.tag === 'button').map((c) => c.attrs.value ?? '');
    fail(`the form has no \`${action}\` button (it has: ${buttons.join(', ')})`);
  }
  return entries;
}

// ---------------------------------------------------------------------------------------
// The browser: fetch with redirects by hand and a cookie jar keyed by host, as browsers do.

class CookieJar {
  constructor() {
    this.byHost = new Map();
  }

  store(url, response) {
    const host = new URL(url).hostname;
    const jar = this.byHost.get(host) ?? new Map();
    this.byHost.set(host, jar);
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a));
      if (expired) {
        jar.delete(name);
      } else {
        jar.set(name, value);
      }
    }
  }

  header(url) {
    const jar = this.byHost.get(new URL(url).hostname);
    if (!jar || jar.size === 0) {
      return undefined;
    }
    return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

class Browser {
  constructor(language) {
    this.jar = new CookieJar();
    this.language = language;
    this.pages = [];
  }

  async request(method, url, { form, sameOrigin } = {}) {
    const headers = {
      'user-agent': USER_AGENT,
      accept: 'text/html',
      'sec-fetch-site': sameOrigin ? 'same-origin' : 'cross-site',
    };
    if (this.language) {
      headers['accept-language'] = this.language;
    }
    const cookie = this.jar.header(url);
    if (cookie) {
      headers.cookie = cookie;
    }
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      fail(`${method} ${redact(url)} failed: ${e.cause?.message ?? e.message}`);
    }
    this.jar.store(url, response);
    const html = await response.text();
    const location = response.headers.get('location');
    const page = {
      method,
      url,
      status: response.status,
      location: location ? new URL(location, url).toString() : null,
      html,
    };
    this.pages.push({
      method,
      url: redact(url),
      status: page.status,
      title: pageTitle(html),
      location: page.location ? redact(page.location) : null,
    });
    return page;
  }

  /** GET `url` and follow redirects (303 and friends become GETs). */
  async visit(url, sameOrigin = false) {
    let page = await this.request('GET', url, { sameOrigin });
    return this.follow(page);
  }

  async follow(page) {
    let hops = 0;
    while (page.status >= 300 && page.status < 400 && page.location) {
      if (++hops > MAX_HOPS) {
        fail(`more than ${MAX_HOPS} redirects from ${redact(page.url)}`);
      }
      const sameOrigin = new URL(page.location).origin === new URL(page.url).origin;
      page = await this.request('GET', page.location, { sameOrigin });
    }
    return page;
  }
}

/** A URL without its session_token (tokens never go into the report). */
function redact(url) {
  try {
    const u = new URL(url);
    if (u.searchParams.has('session_token')) {
      u.searchParams.set('session_token', '[redacted]');
    }
    return u.toString();
  } catch {
    return url;
  }
}

// ---------------------------------------------------------------------------------------
// Auth0: the event, the api, and the tenant's /continue.

function makeEvent(scenario, env, request) {
  const user = structuredClone(scenario.user);
  user.user_metadata ??= {};
  user.app_metadata ??= {};
  return {
    user,
    stats: { logins_count: scenario.logins_count ?? scenario.stats?.logins_count ?? 1 },
    request: {
      ip: scenario.request?.ip ?? '203.0.113.7',
      language: scenario.request?.language,
      hostname: env.tenant,
      method: 'GET',
      user_agent: USER_AGENT,
      query: {},
      body: {},
      geoip: {},
      ...request,
    },
    secrets: {
      ...(scenario.secrets ?? {}),
      INTERLUDE_SECRET: env.secret,
      INTERLUDE_URL: env.interludeUrl,
    },
    configuration: structuredClone(scenario.configuration ?? {}),
    tenant: { id: env.tenant.split('.')[0] },
    client: { client_id: 'harness-client', name: 'Harness' },
    connection: { id: 'con_harness', name: 'Username-Password-Authentication', strategy: 'auth0' },
    transaction: {
      id: randomBytes(8).toString('hex'),
      protocol: 'oidc-basic-profile',
      requested_scopes: ['openid', 'profile', 'email'],
      locale: scenario.request?.language ?? 'en',
    },
    authentication: { methods: [{ name: 'pwd', timestamp: new Date().toISOString() }] },
  };
}

/** Auth0's `api` for one phase of one login; every call is recorded in `login`. */
function makeApi(phase, event, login) {
  const record = (fn, ...args) => login.calls.push({ phase, fn, args });
  const api = {
    redirect: {
      canRedirect() {
        record('redirect.canRedirect');
        return login.canRedirect;
      },
      encodeToken({ secret, expiresInSeconds, payload } = {}) {
        record('redirect.encodeToken', { expiresInSeconds, payload });
        if (phase !== 'execute') {
          fail('encodeToken is only for onExecutePostLogin here');
        }
        if (!secret) {
          throw new Error('encodeToken: a secret is required');
        }
        const claims = {
          ...(payload ?? {}),
          sub: event.user.user_id,
          iss: event.request.hostname,
          ip: event.request.ip,
        };
        return jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: expiresInSeconds ?? 900 });
      },
      sendUserTo(url, options = {}) {
        record('redirect.sendUserTo', redact(url), { query: Object.keys(options.query ?? {}) });
        if (phase !== 'execute') {
          fail('sendUserTo was called from onContinuePostLogin');
        }
        const target = new URL(url);
        for (const [k, v] of Object.entries(options.query ?? {})) {
          target.searchParams.set(k, String(v));
        }
        login.redirect = target;
        return api;
      },
      validateToken({ secret, tokenParameterName = 'session_token' } = {}) {
        record('redirect.validateToken', { tokenParameterName });
        try {
          const claims = validateLikeAuth0(event, login.state, secret, tokenParameterName);
          login.returnToken = claims;
          return claims;
        } catch (e) {
          login.validateError = e.message;
          throw e;
        }
      },
    },
    user: {
      setUserMetadata(key, value) {
        record('user.setUserMetadata', key, value);
        login.userMetadata[key] = value;
        return api;
      },
      setAppMetadata(key, value) {
        record('user.setAppMetadata', key, value);
        login.appMetadata[key] = value;
        return api;
      },
    },
    idToken: {
      setCustomClaim(key, value) {
        record('idToken.setCustomClaim', key, value);
        login.idTokenClaims[key] = value;
        return api;
      },
    },
    accessToken: {
      setCustomClaim(key, value) {
        record('accessToken.setCustomClaim', key, value);
        login.accessTokenClaims[key] = value;
        return api;
      },
    },
    access: {
      deny(reason) {
        record('access.deny', reason);
        login.denied ??= { reason };
        return api;
      },
    },
  };
  return api;
}

/** What Auth0's validateToken checks, with its error texts where they are known. */
function validateLikeAuth0(event, state, secret, parameter) {
  const token = event.request.body?.[parameter];
  if (!token) {
    throw new Error(`The \`${parameter}\` parameter is missing from the request body`);
  }
  if (!secret) {
    throw new Error('validateToken: a secret is required');
  }
  const claims = jwt.verify(token, secret, { algorithms: ['HS256'], clockTolerance: 0 });
  for (const name of ['iat', 'exp', 'sub', 'iss', 'state']) {
    if (claims[name] === undefined || claims[name] === null || claims[name] === '') {
      throw new Error(`Missing or invalid standard claims (${name})`);
    }
  }
  if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || claims.exp - claims.iat < 60) {
    throw new Error('Missing or invalid standard claims (exp must be at least 60 s after iat)');
  }
  if (claims.sub !== event.user.user_id) {
    throw new Error('Missing or invalid standard claims (sub is not the user of this login)');
  }
  if (claims.state !== state) {
    throw new Error('The state claim does not match the state of the redirect');
  }
  return claims;
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 256 * 1024) {
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The tenant's /continue: resumes the login that `state` names by running onContinuePostLogin. */
function tenantHandler(action, logins) {
  return async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/continue') {
      res.writeHead(404).end('not found');
      return;
    }
    const text = req.method === 'POST' ? await readBody(req) : '';
    if (text === null) {
      res.writeHead(413).end('too large');
      return;
    }
    const body = Object.fromEntries(new URLSearchParams(text));
    const query = Object.fromEntries(url.searchParams);
    const state = body.state ?? query.state;
    const login = logins.get(state);
    if (!login) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid_request: the state is unknown or used');
      return;
    }
    logins.delete(state);
    login.continued = {
      method: req.method,
      content_type: req.headers['content-type'] ?? null,
      fields: Object.keys(body).sort(),
    };
    const event = makeEvent(login.scenario, login.env, { method: req.method, body, query });
    const api = makeApi('continue', event, login);
    try {
      await action.onContinuePostLogin(event, api);
    } catch (e) {
      login.actionError = e.message;
      res.writeHead(500, { 'content-type': 'text/plain' }).end('the Action failed');
      return;
    }
    const back = new URL(APP_CALLBACK);
    if (login.denied) {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', login.denied.reason);
    } else {
      back.searchParams.set('code', randomBytes(12).toString('hex'));
    }
    back.searchParams.set('state', 'app-state');
    res.writeHead(302, { location: back.toString() }).end();
  };
}

// ---------------------------------------------------------------------------------------
// One login.

let report = null;

async function run() {
  const env = {
    interludeUrl: required('INTERLUDE_URL').replace(/\/+$/, ''),
    secret: required('INTERLUDE_SECRET'),
    tenant: required('TENANT'),
  };
  const scenario = loadScenario();
  const actionPath = process.env.ACTION
    ? resolve(process.env.ACTION)
    : fileURLToPath(new URL('../interlude-redirect.js', import.meta.url));
  const action = require(actionPath);
  if (typeof action.onExecutePostLogin !== 'function' || typeof action.onContinuePostLogin !== 'function') {
    fail(`${actionPath} must export onExecutePostLogin and onContinuePostLogin`);
  }

  const logins = new Map();
  const server = createServer(tenantHandler(action, logins));
  const port = Number(process.env.HARNESS_PORT ?? 0);
  await new Promise((ok, bad) => {
    server.once('error', (e) => bad(new HarnessError(`cannot listen on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(port, '127.0.0.1', ok);
  });
  const continueUrl = `http://127.0.0.1:${server.address().port}/continue`;
  if (!process.env.HARNESS_PORT) {
    process.stderr.write(`harness: this tenant's /continue is ${continueUrl}\n`);
  }

  const login = {
    scenario,
    env,
    canRedirect: scenario.can_redirect ?? true,
    calls: [],
    userMetadata: {},
    appMetadata: {},
    idTokenClaims: {},
    accessTokenClaims: {},
    denied: null,
    redirect: null,
    state: null,
    returnToken: null,
    validateError: null,
    actionError: null,
    continued: null,
  };
  report = {
    scenario: scenario.name ?? null,
    redirected: false,
    redirect: null,
    session_token: null,
    pages: [],
    continue: null,
    return_token: null,
    validate_error: null,
    user_metadata: login.userMetadata,
    app_metadata: login.appMetadata,
    id_token_claims: login.idTokenClaims,
    access_token_claims: login.accessTokenClaims,
    access_denied: null,
    callback: null,
    calls: login.calls,
    logs: actionLogs,
  };

  try {
    const event = makeEvent(scenario, env, {});
    await action.onExecutePostLogin(event, makeApi('execute', event, login));
    if (!login.redirect) {
      report.access_denied = login.denied;
      return report;
    }

    // Auth0 ends the Action, then sends the browser to the URL with its own `state` added.
    login.state = randomBytes(24).toString('base64url');
    logins.set(login.state, login);
    const target = new URL(login.redirect);
    target.searchParams.set('state', login.state);
    report.redirected = true;
    report.redirect = {
      url: `${target.origin}${target.pathname}`,
      query: [...target.searchParams.keys()],
    };
    report.session_token = jwt.decode(target.searchParams.get('session_token'));

    const browser = new Browser(scenario.request?.accept_language ?? scenario.request?.language);
    report.pages = browser.pages;
    let page = await browser.visit(target.toString());
    const steps = [...(scenario.steps ?? [])];
    let back;
    for (;;) {
      if (page.status !== 200) {
        fail(`${page.method} ${redact(page.url)} answered ${page.status}: ${pageTitle(page.html) ?? page.html.slice(0, 200)}`);
      }
      const forms = parseForms(page.html);
      back = forms.find((f) => hiddenValue(f, 'session_token') !== undefined && hiddenValue(f, 'state') !== undefined);
      if (back) {
        break;
      }
      const prompt = forms.find((f) => hiddenValue(f, '_csrf') !== undefined);
      if (!prompt) {
        fail(`${redact(page.url)} shows neither a campaign form nor the way back: ${pageTitle(page.html)}`);
      }
      const step = steps.shift();
      if (!step) {
        fail(`the scenario has no step left for the form "${pageTitle(page.html)}"`);
      }
      const entries = fill(prompt, step);
      const postTo = new URL(prompt.action || page.url, page.url).toString();
      const answered = await browser.request('POST', postTo, {
        form: entries,
        sameOrigin: new URL(postTo).origin === new URL(page.url).origin,
      });
      if (answered.status === 422) {
        fail(`Interlude refused the answers for "${pageTitle(answered.html)}": ${JSON.stringify(fieldErrors(answered.html))}`);
      }
      page = await browser.follow(answered);
    }
    if (steps.length > 0) {
      fail(`the detour ended with ${steps.length} scenario step(s) unused`);
    }

    // The continue page posts `state` and `session_token` to the tenant's /continue.
    const postTo = new URL(back.action, page.url).toString();
    const fields = back.controls
      .filter((c) => c.tag === 'input' && c.attrs.name)
      .map((c) => [c.attrs.name, c.attrs.value ?? '']);
    report.continue = {
      action: postTo,
      method: back.method,
      fields: fields.map(([k]) => k),
      state_echoed: hiddenValue(back, 'state') === login.state,
    };
    if (postTo !== continueUrl) {
      fail(`Interlude posts the user back to ${postTo}, not this tenant's ${continueUrl}`);
    }
    const resumed = await browser.request('POST', postTo, { form: fields, sameOrigin: false });
    if (login.actionError) {
      fail(`onContinuePostLogin threw: ${login.actionError}`);
    }
    if (resumed.status !== 302) {
      fail(`the tenant's /continue answered ${resumed.status}: ${resumed.html.slice(0, 200)}`);
    }
    report.continue.received = login.continued;
    report.return_token = login.returnToken;
    report.validate_error = login.validateError;
    report.access_denied = login.denied;
    report.callback = resumed.location;
    return report;
  } finally {
    server.close();
  }
}

const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: `the harness timed out after ${OVERALL_TIMEOUT_MS} ms` }) + '\n');
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
timer.unref();

try {
  const done = await run();
  process.stdout.write(JSON.stringify(done, null, 2) + '\n');
  process.exitCode = 0;
} catch (e) {
  const message = e instanceof HarnessError ? e.message : `${e.name}: ${e.message}\n${e.stack}`;
  process.stderr.write(`harness: ${message}\n`);
  // What happened up to the failure, to tell why.
  process.stdout.write(JSON.stringify({ error: message, ...(report ?? {}) }, null, 2) + '\n');
  process.exitCode = 1;
}
