// Debian's nginx in front of a test server, the shipped way: deploy/nginx/
// aragora_locations.conf inside a server block (as tests/integration/multi_instance_test
// renders it), or mounted under a prefix as that file's comment shows. Foreground child,
// own temp directory; stop() ends it.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
export const NGINX = '/usr/sbin/nginx';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const PROXY_HEADERS = `
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;`;

// prefix: '' = the shipped locations at the root; '/console' = the site mounted there
// (the backend runs with ARAGORA_CONSOLE_BASE_PATH=/console), or, with forwardedPrefix,
// nginx names the stripped prefix in X-Forwarded-Prefix (the backend trusts loopback
// proxies: ARAGORA_TRUSTED_PROXIES' default).
export async function startNginx({ upstreamPort, prefix = '', forwardedPrefix = false }) {
  if (!existsSync(NGINX)) return null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aragora-nginx-'));
  const port = await freePort();
  let locations;
  if (!prefix) {
    locations = `include ${path.join(repo, 'deploy', 'nginx', 'aragora_locations.conf')};`;
  } else {
    const headers = forwardedPrefix
      ? `${PROXY_HEADERS}
        proxy_set_header X-Forwarded-Prefix ${prefix};`
      : PROXY_HEADERS;
    locations = `
      location ${prefix}/ws {
        proxy_pass http://aragora_backend/ws;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";${headers}
        proxy_read_timeout 86400s;
        proxy_buffering off;
      }
      location ${prefix}/ {
        proxy_pass http://aragora_backend/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";${headers}
        proxy_buffering off;
      }`;
  }
  const conf = `${process.getuid && process.getuid() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t}_temp;`).join('\n    ')}
    upstream aragora_backend {
        server 127.0.0.1:${upstreamPort};
        keepalive 8;
    }
    server {
        listen 127.0.0.1:${port};
        ${locations}
    }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const baseUrl = `http://127.0.0.1:${port}`;
  // Up when its health route answers through to the backend (bounded: 15 s).
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${out}${readErr(dir)}`);
    try {
      const r = await fetch(`${baseUrl}${prefix}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not come up: ${out}${readErr(dir)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    baseUrl,
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readErr(dir) {
  try {
    return readFileSync(path.join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}
