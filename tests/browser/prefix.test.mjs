// The site mounted under a path prefix by a proxy (ARAGORA_CONSOLE_BASE_PATH=/console,
// nginx stripping /console/ as deploy/nginx/aragora_locations.conf's comment shows).

import assert from 'node:assert/strict';

import { startNginx } from './lib/nginx.mjs';
import { consoleThroughProxy } from './proxy_helpers.mjs';

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
    await nginx.stop();
  }
}
