// The fake LLM provider (tests/fake_llm, the `aragora_fake_llm` binary) as a child process
// of a browser test file, started before the file's server so that the server's
// ARAGORA_<PROVIDER>_BASE_URL can point at it (a test file's `options.env` is read when the
// file is imported). Scripted through its control API (tests/fake_llm/fake_llm.hpp).
//
// The binary: ARAGORA_FAKE_LLM_BINARY, else next to the aragora binary the runner was given
// (<build>/src/cli/aragora -> <build>/tests/fake_llm/aragora_fake_llm), else build/.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');

export function fakeBinary() {
  if (process.env.ARAGORA_FAKE_LLM_BINARY) return process.env.ARAGORA_FAKE_LLM_BINARY;
  const i = process.argv.indexOf('--aragora');
  const aragora = i > 0 ? path.resolve(process.argv[i + 1]) : process.env.ARAGORA_BINARY || path.join(repo, 'build', 'src', 'cli', 'aragora');
  return path.join(path.dirname(aragora), '..', '..', 'tests', 'fake_llm', 'aragora_fake_llm');
}

// Resolves { baseUrl, rules(list), stop() } once it listens (deadline 15 s); rejects with
// the reason otherwise. The process is killed when this node process exits.
export function startFakeProvider({ deadlineMs = 15000 } = {}) {
  const binary = fakeBinary();
  if (!existsSync(binary)) {
    return Promise.reject(new Error(`no fake LLM binary at ${binary} (build the target aragora_fake_llm_server, or set ARAGORA_FAKE_LLM_BINARY)`));
  }
  const child = spawn(binary, ['--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => child.kill('SIGTERM'));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fake LLM did not listen within ${deadlineMs} ms: ${out}`));
    }, deadlineMs);
    const onData = (d) => {
      out += d.toString();
      const m = /fake-llm listening on ([\d.]+):(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      const baseUrl = `http://${m[1]}:${m[2]}`;
      resolve({
        baseUrl,
        // POST /_fake/rules: appended, matched in order (format, model, action, status, ...).
        async rules(list) {
          const res = await fetch(`${baseUrl}/_fake/rules`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(list),
          });
          if (!res.ok) throw new Error(`fake rules: ${res.status} ${await res.text()}`);
        },
        stop() {
          child.kill('SIGTERM');
        },
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (out += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`fake LLM exited (${code ?? signal}) before listening: ${out}`));
    });
  });
}
