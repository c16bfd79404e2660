// The site mounted under a path prefix by a proxy (ARAGORA_CONSOLE_BASE_PATH=/console,
// nginx stripping /console/ as deploy/nginx/aragora_locations.conf's comment shows), and
// under another one named per request by the proxy's X-Forwarded-Prefix (nginx on
// 127.0.0.1 is inside ARAGORA_TRUSTED_PROXIES' default).

import assert from 'node:assert/strict';

import { startNginx } from './lib/nginx.mjs';
import { consoleThroughProxy, leaveAndStopProxy } from './proxy_helpers.mjs';

export const options = { env: { ARAGORA_CONSOLE_BASE_PATH: '/console' } };

export async function baseHrefIsThePrefix(t) {
  const r = await t.api('/login');
  assert.equal(r.status, 200);
  assert.match(r.body, /<base href="\/console\/" \/>/);
}

export async function consoleUnderPrefixBehindNginx(t) {
  const nginx = await startNginx({ upstreamPort: t.server.ports.api, prefix: '/console' });
  if (!nginx) t.skip('nginx is not installed');
  try {
    await consoleThroughProxy(t, `${nginx.baseUrl}/console`, '/console');
  } finally {
    await leaveAndStopProxy(t, nginx);
  }
}

export async function forwardedPrefixHeaderBehindNginx(t) {
  // Straight to the server (a trusted loopback peer): a well-formed prefix is the base, a
  // malformed one is ignored and not reflected.
  let r = await t.api('/login', { headers: { 'X-Forwarded-Prefix': '/aragora' } });
  assert.equal(r.status, 200);
  assert.match(r.body, /<base href="\/aragora\/" \/>/);
  assert.match(r.headers.get('vary') || '', /X-Forwarded-Prefix/i);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  r = await t.api('/login', { headers: { 'X-Forwarded-Prefix': '/x"><script>alert(1)</script>' } });
  assert.equal(r.status, 200);
  assert.match(r.body, /<base href="\/console\/" \/>/);
  assert.doesNotMatch(r.body, /alert/);

  // nginx strips /aragora/ and says so in X-Forwarded-Prefix; the page loads and works.
  const nginx = await startNginx({ upstreamPort: t.server.ports.api, prefix: '/aragora', forwardedPrefix: true });
  if (!nginx) t.skip('nginx is not installed');
  try {
    await consoleThroughProxy(t, `${nginx.baseUrl}/aragora`, '/aragora', 'forwarded-prefix-admin');
    // Links the router writes follow the prefix, and following one stays under it.
    await t.page.goto(`${nginx.baseUrl}/aragora/debates`, { waitUntil: 'load' });
    await t.page.waitForSelector('#site-header nav a');
    const hrefs = await t.page.$$eval('#site-header nav a', (as) => as.map((a) => a.getAttribute('href')));
    assert.ok(hrefs.length > 1, JSON.stringify(hrefs));
    for (const h of hrefs) assert.ok(h.startsWith('/aragora/'), JSON.stringify(hrefs));
  } finally {
    await leaveAndStopProxy(t, nginx);
  }
}
