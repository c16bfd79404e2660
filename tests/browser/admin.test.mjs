// The admin console (/admin, /admin/users, /admin/audit, /admin/backups, /admin/security):
// an admin resets a circuit breaker that the fake LLM provider opened, changes a user's
// role (and is refused making an owner), sees the audit entry; members get 403 pages (from
// their role, and from the server's 403 when the stored role claims more); signed-out
// visitors get the sign-in page; every page is screenshotted at desktop and phone width
// and passes axe-core.
//
// The breaker: the fake provider (tests/fake_llm, lib/fake_provider.mjs) answers every
// Anthropic call 500; a debate with one agent "anthropic:claude-fail" (and two demo
// agents that carry it to the end) fails its calls, and after
// ARAGORA_CIRCUIT_BREAKER_THRESHOLD=2 failures the breaker "anthropic:claude-fail" opens.

import assert from 'node:assert/strict';

import { startFakeProvider } from './lib/fake_provider.mjs';

// Screenshots at desktop and phone width, then axe-core once the page is back: switching to
// the phone viewport (isMobile) makes puppeteer reload the page, so its panels load again.
async function capture(t, name, { axe = true } = {}) {
  await t.screenshot(name);
  await t.page.waitForSelector('#site-header nav');
  await t.page.waitForFunction(() => document.querySelector('main h1') &&
    [...document.querySelectorAll('main section.panel[data-state]')].every((p) => p.dataset.state !== 'loading'));
  if (axe) await t.axe(name);
}

const BREAKER = 'anthropic:claude-fail';
const ADMIN_PAGES = ['/admin', '/admin/users', '/admin/audit', '/admin/backups', '/admin/security'];

let fake = null;
let fakeError = null;
try {
  fake = await startFakeProvider();
  await fake.rules([{ format: 'anthropic', action: 'status', status: 500 }]);
} catch (e) {
  fakeError = e;
}

export const options = {
  env: fake
    ? {
        ARAGORA_ANTHROPIC_BASE_URL: fake.baseUrl,
        ANTHROPIC_API_KEY: 'sk-ant-browser-test',
        ARAGORA_AGENT_RETRY_BASE_MS: 10,
        ARAGORA_AGENT_RETRY_CAP_MS: 50,
        ARAGORA_CIRCUIT_BREAKER_THRESHOLD: 2,
        ARAGORA_CIRCUIT_BREAKER_COOLDOWN_SECONDS: 3600,
      }
    : {},
  timeout: 120000,
};

// Every panel of the page has loaded (ready or error).
async function panelsSettled(page) {
  await page.waitForFunction(() => {
    const panels = [...document.querySelectorAll('main section.panel[data-state]')];
    return panels.length > 0 && panels.every((p) => p.dataset.state !== 'loading');
  });
}

function breakerState(t) {
  return t.api('/api/v1/system/circuit-breakers', { as: 'admin' }).then((r) => r.body.circuit_breakers?.[BREAKER]?.state);
}

export async function adminResetsBreakerOpenedThroughTheFakeProvider(t) {
  if (fakeError) throw fakeError;
  const created = await t.api('/api/v1/debates', {
    method: 'POST',
    as: 'admin',
    body: { task: 'Should the cache keep provider replies for a day?', agents: [BREAKER, 'demo', 'demo'], rounds: 1 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  await t.login('admin', '/admin');
  // The breaker opens while the debate runs: wait for the server to say so (in the page,
  // with the page's token), then load the page again.
  await t.page.waitForFunction(
    async (name) => {
      const s = JSON.parse(sessionStorage.getItem('aragora.session'));
      const r = await fetch('/api/v1/system/circuit-breakers', { headers: { Authorization: `Bearer ${s.access_token}` } });
      const body = await r.json();
      return body.circuit_breakers?.[name]?.state === 'open';
    },
    { polling: 200, timeout: 60000 },
    BREAKER,
  );
  await t.goto('/admin');
  await panelsSettled(t.page);
  const row = `#breakers button[data-breaker="${BREAKER}"]`;
  await t.page.waitForSelector(row);
  await t.waitForText('open', { selector: '#breakers tbody' });
  await t.waitForText(/1 open/, { selector: '#health' });
  await capture(t, 'breaker-open', { axe: false });
  await t.page.waitForSelector(row);

  // Keyboard: focus the reset button and press Enter.
  await t.page.focus(row);
  await t.page.keyboard.press('Enter');
  await t.waitForText('circuit breaker reset to closed', { selector: '#breakers' });
  await t.page.waitForFunction(
    (sel) => document.querySelector(sel)?.closest('tr')?.querySelector('.badge')?.textContent === 'closed',
    {},
    row,
  );
  assert.equal(await breakerState(t), 'closed');
  await capture(t, 'breaker-reset');
}

export async function adminChangesAUsersRole(t) {
  await t.login('admin', '/admin/users');
  await panelsSettled(t.page);
  const viewer = t.users.viewer;
  await t.page.select(`select[aria-label="New role for ${viewer.email}"]`, 'member');
  await t.page.click(`button[data-user="${viewer.email}"]`);
  await t.waitForText(`${viewer.email} is now member`, { selector: 'main' });
  const users = await t.api('/api/v1/admin/users', { as: 'admin' });
  assert.equal(users.body.users.find((u) => u.email === viewer.email).role, 'member');
  // The table, loaded again, shows the new role.
  await t.page.waitForFunction(
    (email) => [...document.querySelectorAll('#users tbody tr')].some((tr) =>
      tr.querySelector('td[data-label="Email"]')?.textContent.startsWith(email) &&
      tr.querySelector('td[data-label="Role"] .badge')?.textContent === 'member'),
    {},
    viewer.email,
  );
  await t.page.waitForSelector('#users[data-state="ready"]');

  // An admin may not make an owner: the server's refusal shows next to the table, the page
  // stays (not a 403 page).
  t.allowConsoleErrors(/403/);
  const member = t.users.member;
  await t.page.select(`select[aria-label="New role for ${member.email}"]`, 'owner');
  await t.page.click(`button[data-user="${member.email}"]`);
  await t.waitForText(`Role change of ${member.email} refused`, { selector: 'main' });
  assert.equal(await t.page.$('[data-denied]'), null);
  const after = await t.api('/api/v1/admin/users', { as: 'admin' });
  assert.equal(after.body.users.find((u) => u.email === member.email).role, 'member');

  // The audit log has the change.
  await t.goto('/admin/audit');
  await panelsSettled(t.page);
  await t.waitForText('role_changed', { selector: '#audit' });
  await t.page.waitForSelector('[data-chain="ok"]');
}

export async function adminBacksUpAndVerifies(t) {
  await t.login('admin', '/admin/backups');
  await panelsSettled(t.page);
  await t.waitForText('No backup yet', { selector: '#backups' });
  await t.page.click('#backups button[data-action="backup-now"]');
  await t.waitForText(/Backup \S+ created/, { selector: 'main' });
  const id = await t.page.waitForSelector('#backups button[data-backup]').then((b) => b.evaluate((el) => el.dataset.backup));
  await t.page.waitForSelector('#dr[data-state="ready"]');
  await t.page.click(`#backups button[data-backup="${id}"]`);
  await t.waitForText(`Backup ${id}: verified`, { selector: 'main' });
  const list = await t.api('/api/v2/backups', { as: 'admin' });
  assert.equal(list.body.backups[0].id, id);
  assert.equal(list.body.backups[0].status, 'verified');
}

export async function everyAdminPageScreenshotAndAxe(t) {
  t.allowConsoleErrors(/404/); // /api/v1/admin/security/* until issue 23's routes land
  await t.login('admin', '/admin');
  for (const p of ADMIN_PAGES) {
    await t.goto(p);
    await panelsSettled(t.page);
    assert.equal(await t.page.$('[data-denied]'), null, `${p} denied to an admin`);
    const errors = await t.page.$$eval('main section.panel[data-state="error"]', (els) => els.map((e) => e.id));
    assert.deepEqual(errors, [], `${p}: panels in error`);
    const name = p.slice(1).replace(/\//g, '-');
    await capture(t, name);
  }
  // The key status panel says "not available" or shows the status.
  await t.goto('/admin/security');
  await panelsSettled(t.page);
  await t.waitForText(/Not available|Encryption status/, { selector: '#security-status' });
}

export async function memberSeesForbiddenPages(t) {
  t.allowConsoleErrors(/403/);
  await t.login('member', '/');
  const links = await t.page.$$eval('#site-header a', (as) => as.map((a) => a.textContent));
  assert.ok(!links.includes('Admin'), `a member's header links to Admin: ${links}`);
  for (const p of ADMIN_PAGES) {
    await t.goto(p);
    await t.page.waitForSelector('[data-denied="403"]');
    await t.waitForText('Forbidden (403)', { selector: 'main' });
    assert.equal(await t.page.$('section.panel'), null, `${p} shows admin panels to a member`);
  }
  await capture(t, 'member-403');
}

export async function staleAdminRoleStillGetsA403FromTheServer(t) {
  // The session claims "admin" (as after a demotion) but the token is a member's: the
  // page learns from the server's 403 answer and shows the 403 page, not a broken one.
  t.allowConsoleErrors(/403/);
  const body = await (await fetch(t.url('/api/v1/auth/login'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: t.users.member.email, password: t.users.member.password }),
  })).json();
  await t.goto('/login');
  await t.page.evaluate((v) => sessionStorage.setItem('aragora.session', v), JSON.stringify({
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    user: { ...body.user, role: 'admin' },
  }));
  await t.goto('/admin/users');
  await t.page.waitForSelector('[data-denied="403"]');
  assert.equal(await t.page.$('section.panel'), null);
}

export async function signedOutVisitorIsSentToSignIn(t) {
  await t.goto('/admin');
  await t.page.waitForSelector('[data-denied="401"]');
  await t.page.click('[data-denied="401"] a[href*="/login"]');
  await t.page.waitForSelector('form input[type=email]');
  assert.match(t.page.url(), /\/login\?next=%2Fadmin$/);
  await t.page.type('input[type=email]', t.users.admin.email);
  await t.page.type('input[type=password]', t.users.admin.password);
  await t.page.keyboard.press('Enter');
  await t.page.waitForSelector('#health[data-state="ready"]');
  assert.match(t.page.url(), /\/admin$/);
}
