#!/usr/bin/env node
// The browser test runner (tests/browser/README.md): Debian's chromium, headless, driven
// by puppeteer-core against a real `aragora serve` (one fresh server per test file, demo
// agents, users owner/admin/member/viewer). Each exported async function of a
// tests/browser/*.test.mjs file is one test, called with the helpers of lib/context.mjs.
//
//   node tests/browser/run.mjs --aragora BIN --console-dir DIR [--screenshots DIR]
//        [--grep REGEX] [--headful] [FILE.test.mjs ...]
//
// Exit codes: 0 all passed; 1 a test failed (or the set-up did: no console build, no
// puppeteer-core); 77 chromium is not installed (CTest's SKIP_RETURN_CODE) - the only skip.

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { makeContext } from './lib/context.mjs';
import { startServer } from './lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const SKIP = 77;

function parseArgs(argv) {
  const o = {
    aragora: process.env.ARAGORA_BINARY || path.join(repo, 'build', 'src', 'cli', 'aragora'),
    consoleDir: process.env.ARAGORA_CONSOLE_DIR || path.join(repo, 'build', 'web'),
    screenshots: process.env.ARAGORA_SCREENSHOT_DIR || path.join(repo, 'build', 'browser-screenshots'),
    grep: null,
    headful: false,
    files: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--aragora') o.aragora = path.resolve(argv[++i]);
    else if (a === '--console-dir') o.consoleDir = path.resolve(argv[++i]);
    else if (a === '--screenshots') o.screenshots = path.resolve(argv[++i]);
    else if (a === '--grep') o.grep = new RegExp(argv[++i]);
    else if (a === '--headful') o.headful = true;
    else if (a.startsWith('--')) throw new Error(`run.mjs: unknown option ${a}`);
    else o.files.push(path.resolve(a));
  }
  if (o.files.length === 0) {
    o.files = readdirSync(here)
      .filter((f) => f.endsWith('.test.mjs'))
      .sort()
      .map((f) => path.join(here, f));
  }
  return o;
}

// CHROMIUM names the browser (and only it: CHROMIUM=/nonexistent shows the skip path);
// else Debian's package.
export function findChromium() {
  const candidates = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((c) => existsSync(c)) || null;
}

function fail(message) {
  console.error(`browser: ${message}`);
  process.exit(1);
}

const opts = parseArgs(process.argv.slice(2));
const chromium = findChromium();
if (!chromium) {
  console.log('SKIP: chromium is not installed (apt-get install chromium; scripts/install-deps.sh does)');
  process.exit(SKIP);
}
const requireTools = createRequire(path.join(repo, 'tests', 'tools', 'package.json'));
let puppeteer;
try {
  puppeteer = (await import(pathToFileURL(requireTools.resolve('puppeteer-core')).href)).default;
} catch (e) {
  fail(`puppeteer-core is not installed in tests/tools (run scripts/install-deps.sh): ${e.message}`);
}
if (!existsSync(opts.aragora)) fail(`no aragora binary at ${opts.aragora} (--aragora)`);
if (!existsSync(path.join(opts.consoleDir, 'index.html'))) {
  fail(`no console build at ${opts.consoleDir} (build it: make, or node web/build.mjs --outdir DIR)`);
}
mkdirSync(opts.screenshots, { recursive: true });
// What test files read at import time (e.g. to derive a console directory of their own).
process.env.ARAGORA_CONSOLE_DIR = opts.consoleDir;
process.env.ARAGORA_BINARY = opts.aragora;

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: !opts.headful,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions'],
  protocolTimeout: 60000,
});

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

try {
  for (const file of opts.files) {
    const mod = await import(pathToFileURL(file).href);
    const fileName = path.basename(file, '.test.mjs');
    const fileOptions = mod.options || {};
    const tests = Object.entries(mod).filter(
      ([name, v]) => typeof v === 'function' && name !== 'default' && !name.startsWith('_'),
    );
    const selected = tests.filter(([name]) => !opts.grep || opts.grep.test(`${fileName}.${name}`));
    if (selected.length === 0) continue;

    let server;
    try {
      server = await startServer({
        binary: opts.aragora,
        consoleDir: opts.consoleDir,
        env: fileOptions.env || {},
        users: fileOptions.users !== false,
      });
    } catch (e) {
      failed += selected.length;
      failures.push(`${fileName}: server did not start: ${e.message}`);
      console.log(`not ok - ${fileName}: server did not start\n${e.message}`);
      continue;
    }
    try {
      for (const [name, fn] of selected) {
        const full = `${fileName}.${name}`;
        const started = Date.now();
        const t = await makeContext({ browser, server, screenshotDir: opts.screenshots, testName: full, fileName });
        try {
          await withTimeout(Promise.resolve(fn(t)), fn.timeout || fileOptions.timeout || 90000, full);
          t.checkConsole();
          passed++;
          console.log(`ok - ${full} (${Date.now() - started} ms)`);
        } catch (e) {
          if (e && e.skip) {
            skipped++;
            console.log(`skip - ${full}: ${e.message}`);
          } else {
            failed++;
            failures.push(`${full}: ${e && e.stack ? e.stack : e}`);
            console.log(`not ok - ${full} (${Date.now() - started} ms)\n  ${String(e && e.stack ? e.stack : e).replace(/\n/g, '\n  ')}`);
            await t.screenshotOnFailure().catch(() => {});
          }
        } finally {
          await t.close().catch(() => {});
        }
      }
    } finally {
      if (failed > 0) {
        const logs = server.logs();
        console.log(`--- server log (${fileName}, last 4000 chars) ---\n${logs.slice(-4000)}`);
      }
      await server.stop();
    }
  }
} finally {
  await browser.close().catch(() => {});
}

if (failures.length) console.log(`\nfailures:\n- ${failures.map((f) => f.split('\n')[0]).join('\n- ')}`);
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (passed + failed === 0) {
  console.log('browser: no test ran');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
