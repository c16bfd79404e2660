#!/usr/bin/env node
// The console's first load in headless Chromium (bench/README.md "Console first load"):
// a real `aragora serve` (tests/browser/lib/server.mjs), a fresh browser context per run,
// bytes transferred (encoded, headers included, from the DevTools network events) and
// time to interactive (navigation start to the shell rendered and the network quiet:
// no request in flight for 100 ms, measured in the page). Cold (empty cache) and warm
// (same context, reload: the hashed assets come from the cache, index.html revalidated).
//
//   node bench/console_first_load.mjs [--aragora BIN] [--console-dir DIR] [--runs N]
//        [--path /login] [--json FILE]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { startServer } from '../tests/browser/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const binary = path.resolve(opt('--aragora', path.join(repo, 'build-release', 'src', 'cli', 'aragora')));
const consoleDir = path.resolve(opt('--console-dir', path.join(repo, 'build-release', 'web')));
const runs = Number(opt('--runs', '10'));
const pagePath = opt('--path', '/');
const jsonOut = opt('--json', '');

const chromium = [process.env.CHROMIUM, '/usr/bin/chromium'].find((c) => c && existsSync(c));
if (!chromium) {
  console.log('SKIP: chromium is not installed');
  process.exit(77);
}
const requireTools = createRequire(path.join(repo, 'tests', 'tools', 'package.json'));
const puppeteer = (await import(pathToFileURL(requireTools.resolve('puppeteer-core')).href)).default;

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const median = (v) => percentile(v, 50);

// The machine's load (1, 5, 15 min) when the runs start and end: times are only
// comparable at a like load.
const loadBefore = os.loadavg().map((v) => Number(v.toFixed(2)));
const server = await startServer({ binary, consoleDir });
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
});

// One load of `url` in `page`: { bytes, requests, tti_ms, dcl_ms }.
async function load(page, cdp, url, reload) {
  let bytes = 0;
  let requests = 0;
  const onFinished = (e) => {
    bytes += e.encodedDataLength;
    requests++;
  };
  cdp.on('Network.loadingFinished', onFinished);
  if (reload) await page.reload({ waitUntil: 'load' });
  else await page.goto(url, { waitUntil: 'load' });
  // Interactive: the shell rendered (router ran, header navigation present) and no
  // resource fetched in the last 100 ms; measured from navigation start in the page.
  const timing = await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const deadline = performance.now() + 15000;
        const check = () => {
          const ready = document.querySelector('#site-header nav') && document.querySelector('#main');
          const entries = performance.getEntriesByType('resource');
          const lastEnd = entries.reduce((m, e) => Math.max(m, e.responseEnd), 0);
          const nav = performance.getEntriesByType('navigation')[0];
          const quietSince = Math.max(lastEnd, nav.domContentLoadedEventEnd);
          if (ready && performance.now() - quietSince >= 100) {
            resolve({ tti: quietSince, dcl: nav.domContentLoadedEventEnd });
          } else if (performance.now() > deadline) {
            reject(new Error('not interactive within 15 s'));
          } else {
            requestAnimationFrame(check);
          }
        };
        check();
      }),
  );
  cdp.off('Network.loadingFinished', onFinished);
  return { bytes, requests, tti_ms: timing.tti, dcl_ms: timing.dcl };
}

const cold = [];
const warm = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    cold.push(await load(page, cdp, server.baseUrl + pagePath, false));
    warm.push(await load(page, cdp, server.baseUrl + pagePath, true));
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}

const manifestPath = path.join(consoleDir, 'build-manifest.json');
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
const summary = (rs) => ({
  bytes_median: median(rs.map((r) => r.bytes)),
  requests: median(rs.map((r) => r.requests)),
  tti_ms_median: Number(median(rs.map((r) => r.tti_ms)).toFixed(1)),
  tti_ms_p95: Number(percentile(rs.map((r) => r.tti_ms), 95).toFixed(1)),
  dcl_ms_median: Number(median(rs.map((r) => r.dcl_ms)).toFixed(1)),
});
const report = {
  path: pagePath,
  runs,
  chromium: (await import('node:child_process')).execFileSync(chromium, ['--version']).toString().trim(),
  cpus: os.cpus().length,
  load_average: { before: loadBefore, after: os.loadavg().map((v) => Number(v.toFixed(2))) },
  uncompressed_asset_bytes: manifest ? manifest.sizes : null,
  cold: summary(cold),
  warm: summary(warm),
};
console.log(JSON.stringify(report, null, 2));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n');
