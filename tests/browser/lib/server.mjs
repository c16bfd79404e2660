// A real `aragora serve` for the browser tests: fresh data directory, users added with
// `aragora users add` before the start (the server counts users at start), demo agents
// (ARAGORA_ENV=development), every port 0; the ports are read from the "listening api="
// line as tests/integration/server_fixture.cpp does.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const PASSWORD = 'Browser-Test-Pass-9';
export const JWT_SECRET = 'browser-test-jwt-secret-0123456789abcdef';

// The accounts every server of the run has; tests name them: login(page, 'admin').
export const USERS = {
  owner: { email: 'owner@example.com', role: 'owner' },
  admin: { email: 'admin@example.com', role: 'admin' },
  member: { email: 'member@example.com', role: 'member' },
  viewer: { email: 'viewer@example.com', role: 'viewer' },
};

function baseEnv(dataDir, consoleDir) {
  const env = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k]) env[k] = process.env[k];
  return {
    ...env,
    ARAGORA_ENV: 'development',
    ARAGORA_DATA_DIR: dataDir,
    ARAGORA_CONSOLE_DIR: consoleDir,
    ARAGORA_DEMO_LATENCY_MS: '5',
    ARAGORA_LOG_FORMAT: 'text',
    ARAGORA_LOG_LEVEL: 'INFO',
    ARAGORA_RECEIPT_SIGNING_KEY: 'browser-key-1',
    ARAGORA_IO_THREADS: '2',
    ARAGORA_SHUTDOWN_GRACE_SECONDS: '5',
    ARAGORA_RATE_LIMIT_DISABLED: '1',
    ARAGORA_JWT_SECRET: JWT_SECRET,
  };
}

function addUser(binary, env, user) {
  const r = spawnSync(binary, ['users', 'add', user.email, '--role', user.role], {
    env: { ...env, ARAGORA_USER_PASSWORD: PASSWORD, ARAGORA_LOG_LEVEL: 'WARNING' },
    encoding: 'utf8',
    timeout: 30000,
  });
  if (r.status !== 0) throw new Error(`users add ${user.email}: ${r.status} ${r.stdout}${r.stderr}`);
  const m = /added (\S+) /.exec(r.stdout);
  if (!m) throw new Error(`no user id in \`users add\` output: ${r.stdout}`);
  return { ...user, id: m[1], password: PASSWORD };
}

// Starts the server. options.env: extra/overriding variables (a value of null removes one:
// { ARAGORA_JWT_SECRET: null } gives the open development mode with no sign-in);
// options.users: false to add none. Resolves once it listens (deadline 30 s); the
// "listening" line is an INFO line, so ARAGORA_LOG_LEVEL must stay INFO or DEBUG.
export async function startServer({ binary, consoleDir, env: extra = {}, users = true, deadlineMs = 30000 }) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aragora-browser-'));
  const env = baseEnv(dataDir, consoleDir);
  for (const [k, v] of Object.entries(extra)) {
    if (v === null || v === undefined) delete env[k];
    else env[k] = String(v);
  }
  const accounts = {};
  if (users) for (const [key, u] of Object.entries(USERS)) accounts[key] = addUser(binary, env, u);

  const args = ['serve', '--host', '127.0.0.1', '--api-port', '0', '--ws-port', '0', '--metrics-port', '0'];
  const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (d) => {
    log += d.toString();
    if (log.length > 4_000_000) log = log.slice(-2_000_000);  // bounded
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no listening line within ${deadlineMs} ms; output:\n${log}`));
    }, deadlineMs);
    const check = () => {
      const m = /listening api=http:\/\/[^\s]+:(\d+) ws=ws:\/\/[^\s]+:(\d+)\//.exec(log);
      if (m) {
        cleanup();
        resolve({ api: Number(m[1]), ws: Number(m[2]) });
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`aragora serve exited (${code ?? signal}) before listening; output:\n${log}`));
    };
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      child.off('exit', onExit);
    }
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', onExit);
    check();
  });

  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    baseUrl: `http://127.0.0.1:${ports.api}`,
    ports,
    dataDir,
    env,
    users: accounts,
    pid: child.pid,
    logs: () => log,
    // Sends a signal (SIGUSR1: the server drops every WebSocket, as the runbooks do).
    signal: (sig) => child.kill(sig),
    // SIGTERM, then SIGKILL after the grace; removes the data directory.
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer;
        const killed = new Promise((resolve) => {
          timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, 15000);
        });
        await Promise.race([exited, killed]);
        clearTimeout(timer);
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
