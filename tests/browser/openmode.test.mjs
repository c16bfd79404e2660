// The open development mode (no credential configured: no JWT secret, no user, no service
// token): the console works without signing in and the header and the sign-in page say so;
// the admin pages and the developer portal load, and API keys can be made (they belong to
// the built-in local user and work only while the mode lasts).

import assert from 'node:assert/strict';

// Screenshots at desktop and phone width, then axe-core once the page is back: switching to
// the phone viewport (isMobile) makes puppeteer reload the page, so its panels load again.
async function capture(t, name, { axe = true } = {}) {
  await t.screenshot(name);
  await t.page.waitForSelector('#site-header nav');
  await t.page.waitForFunction(() => document.querySelector('main h1') &&
    [...document.querySelectorAll('main section.panel[data-state]')].every((p) => p.dataset.state !== 'loading'));
  if (axe) await t.axe(name);
}

export const options = { env: { ARAGORA_JWT_SECRET: null }, users: false };

async function panelsSettled(page) {
  await page.waitForFunction(() => {
    const panels = [...document.querySelectorAll('main section.panel[data-state]')];
    return panels.length > 0 && panels.every((p) => p.dataset.state !== 'loading');
  });
}

export async function headerAndSignInPageSayOpenMode(t) {
  const health = await t.api('/api/v1/health');
  assert.equal(health.body.auth?.mode, 'open', JSON.stringify(health.body));
  await t.goto('/login');
  await t.page.waitForSelector('#site-header [data-auth-mode="open"]');
  await t.waitForText('Open development mode', { selector: '#site-header' });
  await t.page.waitForSelector('main [data-auth-mode="open"]');
  assert.equal(await t.page.$('main input[type=password]'), null, 'a sign-in form with no account to sign in to');
  const links = await t.page.$$eval('#site-header a', (as) => as.map((a) => a.textContent));
  assert.ok(links.includes('Admin'), `no Admin link in the open mode: ${links}`);
  assert.ok(!links.includes('Sign in'), 'the header asks to sign in in the open mode');
  await capture(t, 'login');
}

export async function adminAndDeveloperPagesWorkWithoutSignIn(t) {
  t.allowConsoleErrors(/404/); // /api/v1/admin/security/* until issue 23's routes land
  for (const p of ['/admin', '/admin/users', '/admin/audit', '/admin/backups', '/admin/security', '/developer', '/developer/usage', '/developer/api']) {
    await t.goto(p);
    await panelsSettled(t.page);
    assert.equal(await t.page.$('[data-denied]'), null, `${p} denied in the open mode`);
    const errors = await t.page.$$eval('main section.panel[data-state="error"]', (els) => els.map((e) => e.id));
    assert.deepEqual(errors, [], `${p}: panels in error`);
    const name = p.slice(1).replace(/\//g, '-');
    await capture(t, name);
  }
  await t.goto('/developer');
  await panelsSettled(t.page);
  await t.waitForText('open development mode', { selector: '#account' });
  await t.page.type('input[name="key-name"]', 'local');
  await t.page.click('#keys form button[type=submit]');
  const secret = await t.page.waitForSelector('input[data-secret="api-key"]');
  assert.match(await secret.evaluate((el) => el.value), /^ara_/);
}
