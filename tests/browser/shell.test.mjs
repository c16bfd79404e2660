// The console as served (api/console.cpp): the shell loads with no console error, the
// headers (CSP, caching, nosniff, frame denial), the CSP enforced by the browser (no
// inline script runs, no foreign connection), the path confinement, the SPA fallback.

import assert from 'node:assert/strict';
import net from 'node:net';

// A raw HTTP/1.1 request (fetch would normalise "..", "%2e" and backslashes away).
function rawGet(baseUrl, target) {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw GET ${target}: no answer within 10 s`));
    }, 10000);
    socket.on('connect', () =>
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] || 0);
      resolve({ status, text: data });
    });
  });
}

export async function shellLoadsWithoutErrors(t) {
  const res = await t.goto('/');
  assert.equal(res.status(), 200);
  await t.page.waitForSelector('#site-header nav a.brand');
  assert.match(await t.page.title(), /Aragora/);
  await t.screenshot('shell');
  await t.axe('shell');
}

export async function consoleHeadersAndCaching(t) {
  const html = await t.api('/', { headers: { Accept: 'text/html' } });
  assert.equal(html.status, 200);
  assert.match(html.headers.get('content-type'), /^text\/html; charset=utf-8/);
  assert.equal(html.headers.get('cache-control'), 'no-cache');
  const csp = html.headers.get('content-security-policy');
  for (const part of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'self'", "object-src 'none'"]) {
    assert.ok(csp.includes(part), `CSP lacks ${part}: ${csp}`);
  }
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
  assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/);
  assert.equal(html.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(html.headers.get('x-frame-options'), 'DENY');
  assert.equal(html.headers.get('referrer-policy'), 'same-origin');
  assert.ok(html.headers.get('etag'));

  const scripts = [...html.body.matchAll(/src="(assets\/[^"]+)"/g)].map((m) => m[1]);
  const styles = [...html.body.matchAll(/href="(assets\/[^"]+\.css)"/g)].map((m) => m[1]);
  assert.equal(scripts.length, 1, html.body);
  assert.equal(styles.length, 1, html.body);
  assert.match(scripts[0], /^assets\/main-[A-Z0-9]{8}\.js$/);
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html.body), 'an inline <script> in index.html');

  const js = await t.api('/' + scripts[0]);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
  const css = await t.api('/' + styles[0]);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.equal(css.headers.get('cache-control'), 'public, max-age=31536000, immutable');

  // Revalidation of the HTML: 304 on its ETag.
  const again = await t.api('/', { headers: { 'If-None-Match': html.headers.get('etag') } });
  assert.equal(again.status, 304);

  // SPA fallback: the console's paths answer the same index.html; the API is untouched.
  for (const p of ['/login', '/debates', '/debates/abc/live', '/receipts/r1', '/admin', '/admin/users', '/developer']) {
    const r = await t.api(p);
    assert.equal(r.status, 200, p);
    assert.equal(r.body, html.body, p);
  }
  const healthz = await t.api('/healthz');
  assert.equal(healthz.status, 200);
  assert.deepEqual(healthz.body, { status: 'ok' });
  const api404 = await t.api('/api/v1/nope');
  assert.equal(api404.status, 404);
  assert.equal(api404.body.code, 'not_found');
  const unknown = await t.api('/totally/unknown');
  assert.equal(unknown.status, 404);
  const missingAsset = await t.api('/assets/main-NOPE.js');
  assert.equal(missingAsset.status, 404);
  const openapi = await t.api('/api/openapi.json');
  assert.ok(!Object.keys(openapi.body.paths).some((p) => p === '/' || p.startsWith('/assets')), 'console routes in OpenAPI');
}

export async function cspBlocksInlineScriptAndForeignConnections(t) {
  await t.goto('/');
  // The browser reports each blocked action as a console error and a violation event.
  t.allowConsoleErrors(/Content Security Policy/);
  const result = await t.page.evaluate(async () => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
    window.__inlineRan = false;
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true;';
    document.body.append(s);
    // An inline event handler (what an HTML injection would use).
    window.__handlerRan = false;
    const probe = document.createElement('div');
    probe.innerHTML = '<img src="data:," onerror="window.__handlerRan = true">';
    document.body.append(probe);
    let fetchFailed = false;
    try {
      await fetch('http://example.invalid/x');
    } catch {
      fetchFailed = true;
    }
    // Wait (bounded) for the events, which are dispatched asynchronously.
    const deadline = Date.now() + 5000;
    while (violations.length < 3 && Date.now() < deadline) await new Promise((r) => requestAnimationFrame(r));
    return { inlineRan: window.__inlineRan, handlerRan: window.__handlerRan, fetchFailed, violations };
  });
  assert.equal(result.inlineRan, false, 'an inline script ran');
  assert.equal(result.handlerRan, false, 'an inline event handler ran');
  assert.equal(result.fetchFailed, true);
  assert.ok(result.violations.some((v) => v.startsWith('script-src')), JSON.stringify(result.violations));
  assert.ok(result.violations.some((v) => v.startsWith('connect-src')), JSON.stringify(result.violations));

  // Framing is refused (frame-ancestors 'none' / X-Frame-Options DENY).
  t.allowConsoleErrors(/frame|Refused to display/i);
  const framed = await t.page.evaluate(async (url) => {
    const f = document.createElement('iframe');
    f.src = url;
    document.body.append(f);
    await new Promise((r) => f.addEventListener('load', r, { once: true }));
    try {
      return f.contentDocument ? f.contentDocument.querySelector('#site-header') !== null : false;
    } catch {
      return false;
    }
  }, t.url('/login'));
  assert.equal(framed, false, 'the console rendered inside a frame');
}

export async function traversalIsRefused(t) {
  const attempts = [
    '/assets/../index.html',
    '/assets/%2e%2e/index.html',
    '/assets/%2E%2E%2Fbuild-manifest.json',
    '/assets/..%2f..%2f..%2fetc%2fpasswd',
    '/assets/..%5c..%5cetc%5cpasswd',
    '/assets/..\\..\\etc\\passwd',
    '/assets/%00main.js',
    '/assets//etc/passwd',
    '/debates/..%2f..%2fetc%2fpasswd',
    '/admin/%2e%2e/%2e%2e/etc/passwd',
    '/../etc/passwd',
    '/assets/../../../../etc/passwd',
    '/build-manifest.json',
  ];
  for (const target of attempts) {
    const r = await rawGet(t.baseUrl, target);
    assert.ok(r.status === 400 || r.status === 404, `${target}: ${r.status}`);
    assert.ok(!r.text.includes('root:x:0:0'), `${target} leaked /etc/passwd`);
    assert.ok(!r.text.includes('"entry"'), `${target} served build-manifest.json`);
  }
  // And from the browser: the page at a traversal URL is not the console.
  // (Chromium itself folds "%2e%2e" and ".." away; an encoded slash reaches the server.)
  const res = await t.page.goto(t.url('/assets/..%2fbuild-manifest.json'));
  assert.ok([400, 404].includes(res.status()), String(res.status()));
  t.allowConsoleErrors(/Failed to load resource/);
  // The browser resolves "%2e%2e" before sending: what it asks for is inside the root.
  const folded = await t.page.goto(t.url('/assets/%2e%2e/%2e%2e/etc/passwd'));
  assert.ok([400, 404].includes(folded.status()), String(folded.status()));
  assert.ok(!(await folded.text()).includes('root:x:0:0'));
}
