// File serving confined to the asset root, against the real binary: a console directory
// holding symlinks that leave it (a file and a directory) and one that stays inside.
// Only the inside one is served; the server names the skipped ones at start.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const built = process.env.ARAGORA_CONSOLE_DIR || path.resolve(here, '..', '..', 'build', 'web');
const outside = mkdtempSync(path.join(os.tmpdir(), 'aragora-outside-'));
writeFileSync(path.join(outside, 'secret.js'), 'window.SECRET = "outside the root";\n');
const root = mkdtempSync(path.join(os.tmpdir(), 'aragora-console-'));
cpSync(built, root, { recursive: true });
symlinkSync(path.join(outside, 'secret.js'), path.join(root, 'assets', 'leak.js'));
symlinkSync(outside, path.join(root, 'assets', 'up'));
symlinkSync(path.join(root, 'index.html'), path.join(root, 'assets', 'inside.html'));

process.on('exit', () => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

export const options = { env: { ARAGORA_CONSOLE_DIR: root } };

export async function symlinksOutOfTheRootAreNotServed(t) {
  for (const p of ['/assets/leak.js', '/assets/up/secret.js']) {
    const r = await t.api(p);
    assert.equal(r.status, 404, p);
    assert.ok(!String(r.body).includes('outside the root'), p);
  }
  const inside = await t.api('/assets/inside.html');
  assert.equal(inside.status, 200);
  assert.match(t.server.logs(), /console: skipped assets\/leak\.js \(symlink outside the console directory\)/);
  assert.match(t.server.logs(), /console: skipped assets\/up \(symlink outside the console directory\)/);
  // The console itself still loads from that directory.
  await t.goto('/');
}
