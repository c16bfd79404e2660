// Sign-in (/login), token refresh and sign-out: the form refuses a wrong password with a
// readable message, signs in and returns to ?next=; an expired access token is refreshed
// once (web/src/lib/api.js) without the user noticing; "Sign out" ends the session on the
// server (its refresh token no longer works) and in the browser.

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

const SESSION_KEY = 'aragora.session';

function stored(page) {
  return page.evaluate((k) => JSON.parse(sessionStorage.getItem(k)), SESSION_KEY);
}

export async function a_signInFormWrongPasswordThenRight(t) {
  t.allowConsoleErrors(/401/);
  await t.goto('/login?next=%2Fdeveloper');
  await t.page.waitForSelector('form input[type=email]');
  await capture(t, 'login');
  // Labels: every input is named.
  const unnamed = await t.page.$$eval('main input', (els) => els.filter((e) => !e.labels || e.labels.length === 0).length);
  assert.equal(unnamed, 0);

  await t.page.type('input[type=email]', t.users.member.email);
  await t.page.type('input[type=password]', 'not-the-password');
  await t.page.keyboard.press('Enter');
  await t.waitForText('Wrong email or password.', { selector: 'main' });
  assert.equal(await stored(t.page), null);

  await t.page.type('input[type=password]', t.users.member.password);
  await t.page.keyboard.press('Enter');
  await t.page.waitForSelector('#account[data-state="ready"]');
  assert.match(t.page.url(), /\/developer$/);
  await t.waitForText(`${t.users.member.email} (member)`, { selector: '#site-header' });
  const s = await stored(t.page);
  assert.ok(s.access_token && s.refresh_token);
  assert.equal(s.user.email, t.users.member.email);
}

export async function b_expiredAccessTokenIsRefreshedOnce(t) {
  await t.login('member', '/login');
  const before = await stored(t.page);
  // A token the server refuses (as an expired one): the next call gets 401, the console
  // refreshes with the refresh token and repeats the call.
  await t.page.evaluate((k) => {
    const s = JSON.parse(sessionStorage.getItem(k));
    s.access_token = 'expired.token.value';
    sessionStorage.setItem(k, JSON.stringify(s));
  }, SESSION_KEY);
  t.allowConsoleErrors(/401/);
  await t.goto('/developer');
  await t.page.waitForSelector('#account[data-state="ready"]');
  await t.page.waitForSelector('#keys[data-state="ready"]');
  const after = await stored(t.page);
  assert.notEqual(after.access_token, 'expired.token.value');
  assert.notEqual(after.refresh_token, before.refresh_token, 'the refresh token was not rotated');
  await t.waitForText(t.users.member.email, { selector: '#account' });
}

export async function c_signOutEndsTheSession(t) {
  await t.login('admin', '/admin');
  const s = await stored(t.page);
  await t.page.waitForSelector('#site-header .who button');
  await t.page.click('#site-header .who button'); // Sign out
  await t.page.waitForSelector('form input[type=email]');
  assert.match(t.page.url(), /\/login$/);
  assert.equal(await stored(t.page), null);
  await t.waitForText('Sign in', { selector: '#site-header' });
  // The refresh token is revoked on the server.
  const r = await t.api('/api/v1/auth/refresh', { method: 'POST', body: { refresh_token: s.refresh_token } });
  assert.equal(r.status, 401, JSON.stringify(r.body));
  // Admin pages now ask to sign in.
  await t.goto('/admin');
  await t.page.waitForSelector('[data-denied="401"]');
}

export async function d_signedInUserSeesWhoTheyAreOnLogin(t) {
  await t.login('viewer', '/login');
  await t.page.waitForSelector(`[data-signed-in="${t.users.viewer.email}"]`);
  await capture(t, 'login-signed-in');
}
