// Shared by nginx.test.mjs and prefix.test.mjs (not a test file): the console through
// nginx at `site` (origin + prefix): shell and assets, sign-in through the proxy, the API
// and a debate's WebSocket from the page.

import assert from 'node:assert/strict';

export async function consoleThroughProxy(t, site, prefix, shot = prefix ? 'prefix-admin' : 'nginx-admin') {
  const page = t.page;
  const res = await page.goto(`${site}/admin`, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  assert.equal(res.headers()['cache-control'], 'no-cache');
  assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/);
  await page.waitForSelector('#site-header nav a.brand');
  const brand = await page.$eval('#site-header nav a.brand', (a) => a.getAttribute('href'));
  assert.equal(brand, `${prefix}/`);
  const scripts = await page.$$eval('script[src]', (s) => s.map((e) => e.src));
  assert.equal(scripts.length, 1);
  assert.ok(scripts[0].startsWith(`${site}/assets/main-`), scripts[0]);
  const asset = await fetch(scripts[0]);
  assert.equal(asset.status, 200);
  assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');

  // Sign in from the page through the proxy (same origin as the console), the way the
  // console keeps its session, then the header shows the user.
  const user = t.users.admin;
  const signedIn = await page.evaluate(
    async (base, email, password) => {
      const r = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      const body = await r.json();
      const tokens = body.tokens || body;
      sessionStorage.setItem(
        'aragora.session',
        JSON.stringify({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: body.user }),
      );
      return r.status;
    },
    prefix,
    user.email,
    user.password,
  );
  assert.equal(signedIn, 200);
  await page.reload({ waitUntil: 'load' });
  await t.waitForText(user.email, { selector: '#site-header' });

  // A debate started through the proxy, watched over its WebSocket from the page.
  const events = await page.evaluate(async (base) => {
    const token = JSON.parse(sessionStorage.getItem('aragora.session')).access_token;
    const r = await fetch(`${base}/api/v1/debates`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ task: 'Proxy check', agents: ['demo', 'demo'], rounds: 1 }),
    });
    const created = await r.json();
    const id = created.debate_id || created.id;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}${base}/ws?debate_id=${encodeURIComponent(id)}&token=${token}`);
    return await new Promise((resolve, reject) => {
      const seen = [];
      const timer = setTimeout(() => reject(new Error(`no debate_end within 20 s: ${JSON.stringify(seen)}`)), 20000);
      ws.onmessage = (m) => {
        const msg = JSON.parse(m.data);
        seen.push(msg.type);
        if (msg.type === 'debate_end') {
          clearTimeout(timer);
          ws.close();
          resolve({ status: r.status, seen });
        }
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error('WebSocket error'));
      };
    });
  }, prefix);
  assert.ok(events.status === 200 || events.status === 201 || events.status === 202, String(events.status));
  assert.ok(events.seen.includes('debate_end'), JSON.stringify(events.seen));
  await t.screenshot(shot);
}

// Stops the proxy once the page has left it: the console keeps polling (health, breakers,
// errors), and a poll reaching a stopped nginx is a console error the test then reports.
export async function leaveAndStopProxy(t, nginx) {
  try {
    await t.page.goto('about:blank');
  } finally {
    await nginx.stop();
  }
}
