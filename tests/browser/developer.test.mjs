// The developer portal (/developer, /developer/usage, /developer/api): a member creates an
// API key (the secret shown once, copied with the button), uses it from node as curl would,
// revokes it (the same request then answers 401); usage counts the key's debate; the API
// explorer lists the OpenAPI operations and "try it" sends a GET with the user's token.
// Screenshots at desktop and phone width and axe-core on every page.

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

// Every panel of the page has loaded (ready or error).
async function panelsSettled(page) {
  await page.waitForFunction(() => {
    const panels = [...document.querySelectorAll('main section.panel[data-state]')];
    return panels.length > 0 && panels.every((p) => p.dataset.state !== 'loading');
  });
}

// What `curl -H "Authorization: Bearer $KEY" URL` does.
async function curl(url, key, init = {}) {
  const res = await fetch(url, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${key}` } });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

export async function a_memberCreatesUsesAndRevokesAnApiKey(t) {
  await t.context.overridePermissions(t.baseUrl, ['clipboard-read', 'clipboard-write']);
  await t.login('member', '/developer');
  await panelsSettled(t.page);
  await t.waitForText('You have no API key yet', { selector: '#keys' });

  await t.page.type('input[name="key-name"]', 'browser-test');
  await t.page.type('input[name="expires-days"]', '30');
  await t.page.click('#keys form button[type=submit]');
  const secret = await t.page.waitForSelector('input[data-secret="api-key"]');
  const key = await secret.evaluate((el) => el.value);
  assert.match(key, /^ara_[A-Za-z0-9]{43}$/);
  await t.waitForText('shown only once', { selector: '#keys' });
  // The copy button puts it on the clipboard, or (clipboard refused) selects it for Ctrl+C.
  await t.page.click('.secret-box button');
  await t.waitForText(/Copied|Selected/, { selector: '.secret-box' });
  const outcome = await t.page.$eval('.secret-box .copied', (el) => el.textContent);
  if (outcome.startsWith('Selected')) {
    const selected = await secret.evaluate((el) => el.value.slice(el.selectionStart, el.selectionEnd));
    assert.equal(selected, key);
  } else {
    // Headless Chromium may keep no system clipboard (reads back ''); when it does, it
    // holds the key.
    const copied = await t.page.evaluate(() => navigator.clipboard.readText().catch(() => ''));
    if (copied) assert.equal(copied, key);
  }
  // Listed by prefix, never in full.
  await t.page.waitForFunction(() => document.querySelectorAll('#keys tbody tr').length === 1);
  const listed = await t.page.$eval('#keys tbody', (el) => el.textContent);
  assert.ok(!listed.includes(key), 'the full key is in the list');
  const shown = await t.page.$eval('#keys tbody button[data-key]', (b) => b.dataset.key);
  assert.equal(shown, key.slice(0, 12), 'the listed prefix');
  await capture(t, 'key-created');
  // The capture reloaded the page: the secret is gone for good, the key stays listed.
  assert.equal(await t.page.$('input[data-secret]'), null, 'the secret is shown again after a reload');
  await t.page.waitForSelector(`#keys tbody button[data-key="${shown}"]`);

  // Use it, as curl would.
  const me = await curl(t.url('/api/v1/auth/me'), key);
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.email, t.users.member.email);
  assert.equal(me.body.auth_method, 'api_key');
  const debates = await curl(t.url('/api/v1/debates?limit=1'), key);
  assert.equal(debates.status, 200);

  // Revoke it from the page (keyboard: focus and Enter; confirm the dialog).
  t.page.once('dialog', (d) => d.accept());
  await t.page.focus('#keys tbody button[data-key]');
  await t.page.keyboard.press('Enter');
  await t.waitForText('revoked', { selector: '#keys' });
  await t.waitForText('You have no API key yet', { selector: '#keys' });
  const after = await curl(t.url('/api/v1/auth/me'), key);
  assert.equal(after.status, 401, JSON.stringify(after.body));
}

export async function b_usageCountsTheKeysDebate(t) {
  // A key made through the API, a debate started with it (as a script would).
  const made = await t.api('/api/v1/auth/api-keys', { method: 'POST', as: 'member', body: { name: 'usage' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const keyOfUsage = made.body.api_key;
  const created = await curl(t.url('/api/v1/debates'), keyOfUsage, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ task: 'Is a usage page worth it?', agents: ['demo', 'demo'], rounds: 1 }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.debate_id;

  await t.login('member', '/developer/usage');
  // Wait for the debate to finish (the page's own session asks the server).
  await t.page.waitForFunction(
    async (debateId) => {
      const s = JSON.parse(sessionStorage.getItem('aragora.session'));
      const r = await fetch(`/api/v1/debates/${debateId}`, { headers: { Authorization: `Bearer ${s.access_token}` } });
      const body = await r.json();
      return ['completed', 'failed', 'cancelled'].includes(body.status);
    },
    { polling: 200, timeout: 60000 },
    id,
  );
  await t.goto('/developer/usage');
  await panelsSettled(t.page);
  const debatesStat = await t.page.$eval('[data-usage="totals"] .stat .stat-value', (el) => el.textContent);
  assert.ok(Number(debatesStat.replace(/,/g, '')) >= 1, `debates shown: ${debatesStat}`);
  await t.waitForText('Your own usage', { selector: '#usage' });
  // Another period: the select reloads the panel.
  await t.page.select('#usage select', 'all');
  await t.waitForText('the beginning', { selector: '#usage' });
  await capture(t, 'usage');
}

export async function c_apiExplorerListsOperationsAndTriesAGet(t) {
  await t.login('member', '/developer/api');
  await panelsSettled(t.page);
  const op = 'details.op[data-op="GET /api/v1/auth/me"]';
  await t.page.waitForSelector(op);
  const groups = await t.page.$$eval('section.tag-group', (els) => els.map((e) => e.dataset.tag));
  for (const tag of ['health', 'debates', 'receipts', 'auth']) assert.ok(groups.includes(tag), `no ${tag} group: ${groups}`);
  // Aliases hidden by default, shown on request.
  assert.equal(await t.page.$('details.op[data-op="GET /api/auth/me"]'), null);
  await t.page.click('input[name="aliases"]');
  await t.page.waitForSelector('details.op[data-op="GET /api/auth/me"]');
  await t.page.click('input[name="aliases"]');

  // Open the operation from the keyboard, then send it.
  await t.page.focus(`${op} > summary`);
  await t.page.keyboard.press('Enter');
  await t.page.waitForSelector(`${op} form.try-it button[type=submit]`);
  await t.waitForText('UserResponse', { selector: op });
  await t.page.click(`${op} form.try-it button[type=submit]`);
  await t.page.waitForSelector(`${op} [data-status="200"]`);
  await t.waitForText(t.users.member.email, { selector: `${op} .try-result` });

  // A path parameter: GET /api/v1/debates/{id} with an unknown id answers 404 in the page.
  t.allowConsoleErrors(/404/);
  const byId = 'details.op[data-op="GET /api/v1/debates/{id}"]';
  await t.page.click(`${byId} > summary`);
  await t.page.waitForSelector(`${byId} input[name="id"]`); // built when the details open
  await t.page.type(`${byId} input[name="id"]`, 'no-such-debate');
  await t.page.click(`${byId} form.try-it button[type=submit]`);
  await t.page.waitForSelector(`${byId} [data-status="404"]`);

  // A query parameter the document does not list, through the free-text field.
  const usage = 'details.op[data-op="GET /api/v1/billing/usage"]';
  await t.page.click(`${usage} > summary`);
  await t.page.waitForSelector(`${usage} input[name="extra-query"]`);
  await t.page.type(`${usage} input[name="extra-query"]`, 'period=all');
  await t.page.click(`${usage} form.try-it button[type=submit]`);
  await t.page.waitForSelector(`${usage} [data-status="200"]`);
  await t.waitForText('"period": "all"', { selector: `${usage} .try-result` });

  // The filter.
  await t.page.type('input[name="filter"]', 'backups');
  await t.page.waitForFunction(() => {
    const shown = [...document.querySelectorAll('details.op')];
    return shown.length > 0 && shown.every((d) => d.textContent.toLowerCase().includes('backup'));
  });
  await capture(t, 'api-explorer');
}

export async function d_everyDeveloperPageScreenshotAndAxe(t) {
  await t.login('member', '/developer');
  for (const p of ['/developer', '/developer/usage', '/developer/api']) {
    await t.goto(p);
    await panelsSettled(t.page);
    const errors = await t.page.$$eval('main section.panel[data-state="error"]', (els) => els.map((e) => e.id));
    assert.deepEqual(errors, [], `${p}: panels in error`);
    const name = p.slice(1).replace(/\//g, '-');
    await capture(t, name);
  }
  // Signed out, the portal asks to sign in.
  await t.page.evaluate(() => sessionStorage.clear());
  await t.goto('/developer');
  await t.page.waitForSelector('[data-denied="401"]');
}
