// The console behind the shipped nginx config (deploy/nginx/aragora_locations.conf).

import { startNginx } from './lib/nginx.mjs';
import { consoleThroughProxy, leaveAndStopProxy } from './proxy_helpers.mjs';

export async function consoleBehindShippedNginx(t) {
  const nginx = await startNginx({ upstreamPort: t.server.ports.api });
  if (!nginx) t.skip('nginx is not installed');
  try {
    await consoleThroughProxy(t, nginx.baseUrl, '');
  } finally {
    await leaveAndStopProxy(t, nginx);
  }
}
