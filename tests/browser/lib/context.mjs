// What a browser test gets (tests/browser/README.md): a fresh incognito context and page
// per test, the server, the users, and the helpers login / api / screenshot / axe /
// waitForText. Console errors and uncaught page errors fail the test unless allowed.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const requireTools = createRequire(path.join(here, '..', '..', 'tools', 'package.json'));
let axeSource = null;

export const DESKTOP = { width: 1280, height: 800, deviceScaleFactor: 1 };
export const PHONE = { width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true };

const SESSION_KEY = 'aragora.session';  // web/src/lib/api.js STORE_KEY

export class SkipError extends Error {
  constructor(message) {
    super(message);
    this.skip = true;
  }
}

function safe(name) {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export async function makeContext({ browser, server, screenshotDir, testName, fileName }) {
  rmSync(path.join(screenshotDir, safe(`${testName}-FAILED.png`)), { force: true });
  const context = await browser.createBrowserContext();
  const pages = [];
  const consoleErrors = [];
  const allowed = [];
  const tokens = {};  // user key -> login body, for api()

  async function newPage() {
    const page = await context.newPage();
    await page.setViewport(DESKTOP);
    page.setDefaultTimeout(15000);
    page.setDefaultNavigationTimeout(20000);
    page.on('console', (msg) => {
      if (msg.type() === 'error') {
        const loc = msg.location();
        consoleErrors.push(`console.error: ${msg.text()}${loc && loc.url ? ` (${loc.url})` : ''}`);
      }
    });
    page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err && err.message ? err.message : err}`));
    pages.push(page);
    return page;
  }

  const page = await newPage();
  const baseUrl = server.baseUrl;

  function userOf(who) {
    if (typeof who === 'string') {
      const u = server.users[who];
      if (!u) throw new Error(`no user "${who}" (have: ${Object.keys(server.users).join(', ')})`);
      return u;
    }
    return who;
  }

  // POST /api/v1/auth/login from node; cached per user. Returns the login body.
  async function loginBody(who) {
    const u = userOf(who);
    if (tokens[u.email]) return tokens[u.email];
    const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: u.email, password: u.password }),
    });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`login ${u.email}: ${res.status} ${JSON.stringify(body)}`);
    tokens[u.email] = body;
    return body;
  }

  const t = {
    page,
    browser,
    context,
    server,
    baseUrl,
    users: server.users,
    consoleErrors,
    newPage,

    // The absolute URL of a console path ('/admin' -> http://127.0.0.1:PORT/admin).
    url(p = '/') {
      return baseUrl + p;
    },

    // Opens a console path and waits for the shell to be there (the header rendered).
    async goto(p = '/', onPage = page) {
      const res = await onPage.goto(baseUrl + p, { waitUntil: 'load' });
      await onPage.waitForSelector('#site-header nav');
      return res;
    },

    // Signs `who` ('admin', 'member', ... or {email, password}) in the way the console
    // keeps a session (sessionStorage, web/src/lib/api.js), without the sign-in page,
    // then opens `p`. Returns the user. The sign-in page itself has its own tests.
    async login(onPage = page, who = 'admin', p = '/') {
      if (typeof onPage === 'string' || (onPage && onPage.email)) {
        // login('admin') / login('admin', '/path') forms.
        p = typeof who === 'string' && who.startsWith('/') ? who : p;
        who = onPage;
        onPage = page;
      }
      const body = await loginBody(who);
      const tokensOf = body.tokens || body;
      const value = JSON.stringify({
        access_token: tokensOf.access_token,
        refresh_token: tokensOf.refresh_token,
        user: body.user,
      });
      if (!onPage.url().startsWith(baseUrl)) await onPage.goto(baseUrl + '/', { waitUntil: 'load' });
      await onPage.evaluate((k, v) => sessionStorage.setItem(k, v), SESSION_KEY, value);
      await t.goto(p, onPage);
      return body.user;
    },

    // fetch against the server from node: api('/api/v1/debates', { method, body, as: 'admin' })
    // -> { status, headers, body (JSON when JSON, else text) }.
    async api(p, { method = 'GET', body, headers = {}, as } = {}) {
      const h = { ...headers };
      if (as) {
        const b = await loginBody(as);
        h.Authorization = `Bearer ${(b.tokens || b).access_token}`;
      }
      if (body !== undefined) h['Content-Type'] = 'application/json';
      const res = await fetch(baseUrl + p, {
        method,
        headers: h,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        redirect: 'manual',
      });
      const text = await res.text();
      let parsed = text;
      if ((res.headers.get('content-type') || '').includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },

    // Waits until the page shows `text` (string or RegExp) inside `selector`.
    async waitForText(text, { selector = 'body', timeout = 15000, onPage = page } = {}) {
      const source = text instanceof RegExp ? { re: text.source, flags: text.flags } : { s: text };
      await onPage.waitForFunction(
        (sel, src) => {
          const el = document.querySelector(sel);
          if (!el) return false;
          const content = el.innerText || el.textContent || '';
          return src.re ? new RegExp(src.re, src.flags).test(content) : content.includes(src.s);
        },
        { timeout },
        selector,
        source,
      );
    },

    // Saves <dir>/<file>-<name>-desktop.png (1280x800) and -phone.png (390x844), full page.
    async screenshot(name, onPage = page) {
      const base = path.join(screenshotDir, safe(`${fileName}-${name}`));
      await onPage.setViewport(DESKTOP);
      await onPage.screenshot({ path: `${base}-desktop.png`, fullPage: true });
      await onPage.setViewport(PHONE);
      await onPage.screenshot({ path: `${base}-phone.png`, fullPage: true });
      await onPage.setViewport(DESKTOP);
      return [`${base}-desktop.png`, `${base}-phone.png`];
    },

    // axe-core over the page; throws on a serious or critical violation and writes the
    // report to <dir>/<file>-<name>-axe.json. Evaluated through DevTools, so the page's
    // CSP (no inline script) does not block it. Returns the violations (all impacts).
    async axe(onPage = page, { name = 'page', exclude = [] } = {}) {
      if (typeof onPage === 'string') {
        name = onPage;
        onPage = page;
      }
      if (!axeSource) axeSource = readFileSync(requireTools.resolve('axe-core/axe.min.js'), 'utf8');
      const has = await onPage.evaluate(() => typeof window.axe === 'object');
      if (!has) await onPage.evaluate(axeSource);
      const result = await onPage.evaluate(async (ex) => {
        const ctx = ex.length ? { exclude: ex.map((s) => [s]) } : document;
        const r = await window.axe.run(ctx, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
        }));
      }, exclude);
      writeFileSync(path.join(screenshotDir, safe(`${fileName}-${name}-axe.json`)), JSON.stringify(result, null, 2));
      const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      if (bad.length) {
        const lines = bad.map(
          (v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
        );
        throw new Error(`axe: ${bad.length} serious/critical violation(s) on ${name}:\n  ${lines.join('\n  ')}`);
      }
      return result;
    },

    // Console errors matching `pattern` (RegExp or substring) do not fail the test (e.g.
    // the browser's "Failed to load resource: ... 403" on a page that shows a 403).
    allowConsoleErrors(pattern) {
      allowed.push(pattern);
    },

    // Marks the test skipped (counted and printed as such, never as passed).
    skip(reason) {
      throw new SkipError(reason);
    },

    checkConsole() {
      const unexpected = consoleErrors.filter(
        (e) => !allowed.some((p) => (p instanceof RegExp ? p.test(e) : e.includes(p))),
      );
      if (unexpected.length) throw new Error(`console errors:\n  ${unexpected.join('\n  ')}`);
    },

    async screenshotOnFailure() {
      await page.screenshot({ path: path.join(screenshotDir, safe(`${testName}-FAILED.png`)), fullPage: true });
    },

    async close() {
      await context.close();
    },
  };
  return t;
}
