#!/usr/bin/env node
// The live debate view rendering a large debate in headless Chromium (bench/README.md
// "Console live render"): a real `aragora serve` (tests/browser/lib/server.mjs) in the
// open development mode (no sign-in) with demo agents, one debate of 8 agents x 12 rounds
// (the server's maxima are 12 x 12) created from node and `/debates/<id>` opened at once,
// while it runs. A requestAnimationFrame loop, a 'longtask' PerformanceObserver and a
// WebSocket wrapper are injected before the page's own scripts (CDP
// Page.addScriptToEvaluateOnNewDocument, which the console's CSP does not block).
//
// Three phases per run, each in a fresh browser context:
//   baseline  the shell alone, idle (`--baseline-path`, default `/`: the debates list,
//             nothing running) for --baseline-seconds;
//   live      the debate running, from the view's mount to data-state="ended" (the
//             page's boot, navigation start to the mount, is reported apart as `boot`);
//   replay    the finished debate opened afresh (the whole debate replayed at once);
//             frames from the view's mount to "ended", the boot apart again.
// Reported per phase: frame intervals p50/p95/p99/max, frames over 1.5 intervals
// ("janky": at least one frame dropped) and the frames estimated dropped, long tasks
// (count, total, max), main-thread time by kind (DevTools Performance.getMetrics), events
// taken by the view (its data-events count; a page without it: the [data-seq] rows and
// spans in the event list) against the debate's stored event count, the DOM at the end
// (elements in the document, [data-seq] elements, DevTools' node count) and the JS heap;
// for live, the time from the debate_end frame arriving on the WebSocket to
// data-state="ended"; for replay, navigation to "ended". A summary holds the medians over
// the runs. --stream-words N swaps the demo agents for streaming openai-compatible ones
// on a fake provider in this process (token_start/delta/end events; see below).
// --compare-console-dir OLD also serves another build of the console (e.g. main's) from a
// second server on the same binary and alternates the runs (OLD, then --console-dir, per
// run), so that both pages are measured in the same invocation under the same load; the
// report then has `summary` (--console-dir) and `compare_summary` (OLD).
//
//   node bench/console_live_render.mjs [--aragora BIN] [--console-dir DIR] [--runs N]
//        [--agents 8] [--rounds 12] [--latency-ms 50] [--baseline-seconds 5]
//        [--baseline-path /] [--deadline-seconds 600] [--stream-words 0]
//        [--stream-interval-ms 20] [--compare-console-dir OLD] [--json FILE]

import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
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
const compareDir = opt('--compare-console-dir', '') ? path.resolve(opt('--compare-console-dir', '')) : '';
const runs = Number(opt('--runs', '1'));
const agentCount = Number(opt('--agents', '8'));
const rounds = Number(opt('--rounds', '12'));
const latencyMs = Number(opt('--latency-ms', '50'));
const baselineSeconds = Number(opt('--baseline-seconds', '5'));
const baselinePath = opt('--baseline-path', '/');
const endDeadlineMs = Number(opt('--deadline-seconds', '600')) * 1000;
const jsonOut = opt('--json', '');
// 0: demo agents (each reply in one piece). N > 0: the agents are openai-compatible ones
// against a fake provider in this process that streams every reply as N+2 SSE chunks,
// one per --stream-interval-ms, so the view also draws token_start/delta/end events.
const streamWords = Number(opt('--stream-words', '0'));
const streamIntervalMs = Number(opt('--stream-interval-ms', '20'));

const chromium = [process.env.CHROMIUM, '/usr/bin/chromium'].find((c) => c && existsSync(c));
if (!chromium) {
  console.log('SKIP: chromium is not installed');
  process.exit(77);
}
const requireTools = createRequire(path.join(repo, 'tests', 'tools', 'package.json'));
const puppeteer = (await import(pathToFileURL(requireTools.resolve('puppeteer-core')).href)).default;

function percentile(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const round1 = (x) => (x === null || x === undefined ? null : Number(x.toFixed(1)));

// Runs in the page before its scripts: frame timestamps, long tasks, the arrival of the
// debate_end frame on any WebSocket, and the moment the live view's data-state turns
// "ended". Everything is kept in window.__bench; recording stops at __bench.stop().
const RECORDER = () => {
  const b = (window.__bench = { frames: [], longtasks: [], endFrameAt: null, mountedAt: null, endedAt: null, recording: true });
  const loop = (t) => {
    if (!b.recording) return;
    b.frames.push(t);
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    b.longtasksUnsupported = true;
  }
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (m) => {
        if (b.endFrameAt === null && typeof m.data === 'string' && m.data.includes('"debate_end"')) {
          b.endFrameAt = performance.now();
        }
      });
    }
  };
  const watch = () => {
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid=debate-live]');
      if (b.mountedAt === null && el) b.mountedAt = performance.now();
      if (b.endedAt === null && el && el.dataset.state === 'ended') b.endedAt = performance.now();
    }).observe(document.documentElement, { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true });
  };
  if (document.documentElement) watch();
  else document.addEventListener('readystatechange', watch, { once: true });
  b.stop = () => {
    b.recording = false;
    return b;
  };
};

function frameStats(frames, longtasks, from, to) {
  const ts = frames.filter((t) => t >= from && t <= to);
  const dts = [];
  for (let i = 1; i < ts.length; i++) dts.push(ts[i] - ts[i - 1]);
  // The display interval: the smallest common interval in the window (60 Hz: 16.7 ms).
  const interval = percentile(dts, 10) || 16.7;
  const janky = dts.filter((d) => d > 1.5 * interval);
  const dropped = janky.reduce((n, d) => n + Math.round(d / interval) - 1, 0);
  const lts = longtasks.filter((l) => l.start >= from && l.start <= to);
  return {
    window_ms: round1(to - from),
    frames: ts.length,
    interval_ms: round1(interval),
    frame_ms_p50: round1(percentile(dts, 50)),
    frame_ms_p95: round1(percentile(dts, 95)),
    frame_ms_p99: round1(percentile(dts, 99)),
    frame_ms_max: round1(dts.length ? Math.max(...dts) : null),
    janky_frames: janky.length,
    dropped_frames_est: dropped,
    dropped_pct: dts.length ? round1((100 * dropped) / (dts.length + dropped)) : null,
    longtasks: lts.length,
    longtask_ms_total: round1(lts.reduce((s, l) => s + l.duration, 0)),
    longtask_ms_max: round1(lts.length ? Math.max(...lts.map((l) => l.duration)) : 0),
  };
}

async function newPage(browser) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 800, deviceScaleFactor: 1 });
  await page.evaluateOnNewDocument(RECORDER);
  return { context, page };
}

async function rendered(page) {
  return page.evaluate(() => {
    const el = document.querySelector('[data-testid=debate-live]');
    const seqs = document.querySelectorAll('#event-list [data-seq]').length;
    return {
      rows: document.querySelectorAll('#event-list > li').length,
      seqs,
      events: el?.dataset.events !== undefined ? Number(el.dataset.events) : seqs,
      elements: document.getElementsByTagName('*').length,
      last_seq: Number(el?.dataset.lastSeq || 0),
      state: el?.dataset.state || null,
      duplicates: Number(el?.dataset.duplicates || 0),
    };
  });
}

// Main-thread time by kind (DevTools Performance.getMetrics, cumulative seconds), as a
// difference between two samples, in ms: where the frames' time went.
const METRICS = ['TaskDuration', 'ScriptDuration', 'LayoutDuration', 'RecalcStyleDuration'];
const sample = async (page) => page.metrics();
function mainThread(a, b) {
  const out = {};
  for (const k of METRICS) out[k.replace('Duration', '_ms').toLowerCase()] = round1((b[k] - a[k]) * 1000);
  out.layouts = b.LayoutCount - a.LayoutCount;
  out.nodes = b.Nodes;
  out.js_heap_used_mb = round1(b.JSHeapUsedSize / 1048576);
  return out;
}

async function waitEnded(page) {
  await page.waitForFunction(() => window.__bench && window.__bench.endedAt !== null, {
    timeout: endDeadlineMs,
    polling: 200,
  });
}

async function api(server, p, init = {}) {
  const res = await fetch(server.baseUrl + p, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers || {}) },
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${init.method || 'GET'} ${p}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function storedEventCount(server, id) {
  let since = 0;
  let count = 0;
  for (let i = 0; i < 100; i++) {
    const page = await api(server, `/api/v1/debates/${id}/events?since=${since}&limit=500`);
    const events = page.events || [];
    count += events.length;
    if (!events.length || page.has_more === false || events.length < 500) break;
    since = events[events.length - 1].seq;
  }
  return count;
}

const PERSONAS = ['analyst', 'critic', 'moderator', 'contrarian'];

// The streaming fake provider (an OpenAI-compatible chat completions endpoint).
function startFakeProvider() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let stream = false;
      try {
        stream = JSON.parse(body).stream === true;
      } catch {
        /* answer in one piece */
      }
      const words = Array.from({ length: streamWords }, (_, i) => `word${i}`);
      const pieces = ['I propose a measured rollout: ', ...words.map((w) => `${w} `), '.'];
      if (!stream) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: pieces.join('') } }], usage: { prompt_tokens: 5, completion_tokens: pieces.length } }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      let i = 0;
      const tick = () => {
        if (i < pieces.length) {
          res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: pieces[i] } }] })}\n\n`);
          i += 1;
          setTimeout(tick, streamIntervalMs);
        } else {
          res.end('data: [DONE]\n\n');
        }
      };
      tick();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function oneRun(browser, server) {
  // --- baseline: the shell alone ---------------------------------------------------------
  let { context, page } = await newPage(browser);
  await page.goto(server.baseUrl + baselinePath, { waitUntil: 'load' });
  await page.waitForSelector('#site-header nav');
  const bStart = await page.evaluate(() => performance.now());
  const b0 = await sample(page);
  await new Promise((r) => setTimeout(r, baselineSeconds * 1000));
  const b1 = await sample(page);
  const bb = await page.evaluate(() => window.__bench.stop());
  const baseline = { ...frameStats(bb.frames, bb.longtasks, bStart, bb.frames[bb.frames.length - 1]), main_thread: mainThread(b0, b1) };
  await context.close();

  // --- live: the page opened while the debate runs ---------------------------------------
  ({ context, page } = await newPage(browser));
  const agents = Array.from({ length: agentCount }, (_, i) =>
    streamWords > 0
      ? { provider: 'openai-compatible', model: `bench-${i + 1}`, name: `agent-${i + 1}` }
      : { provider: 'demo', persona: PERSONAS[i % PERSONAS.length], name: `agent-${i + 1}` },
  );
  const created = await api(server, '/api/v1/debates', {
    method: 'POST',
    body: JSON.stringify({ task: 'Bench: should the platform team adopt a service mesh this quarter?', agents, rounds }),
  });
  const id = created.debate_id;
  const createdAt = Date.now();
  await page.goto(`${server.baseUrl}/debates/${id}`, { waitUntil: 'load' });
  const openedAfterMs = Date.now() - createdAt;
  await page.waitForSelector('[data-testid=debate-live]');
  const m0 = await sample(page);
  const atOpen = await api(server, `/api/v1/debates/${id}`);
  await waitEnded(page);
  const m1 = await sample(page);
  await new Promise((r) => setTimeout(r, 300));
  const lb = await page.evaluate(() => window.__bench.stop());
  const liveRendered = await rendered(page);
  const live = {
    opened_after_create_ms: openedAfterMs,
    status_when_view_mounted: atOpen.status,
    ...frameStats(lb.frames, lb.longtasks, lb.mountedAt, lb.endedAt),
    boot: frameStats(lb.frames, lb.longtasks, 0, lb.mountedAt),
    main_thread: mainThread(m0, m1),
    end_frame_to_ended_ms: lb.endFrameAt === null ? null : round1(lb.endedAt - lb.endFrameAt),
    rendered: liveRendered,
  };
  await context.close();
  const stored = await storedEventCount(server, id);
  const debate = await api(server, `/api/v1/debates/${id}`);

  // --- replay: the finished debate opened afresh -----------------------------------------
  ({ context, page } = await newPage(browser));
  const r0 = await sample(page);
  await page.goto(`${server.baseUrl}/debates/${id}`, { waitUntil: 'load' });
  await waitEnded(page);
  const r1 = await sample(page);
  await new Promise((r) => setTimeout(r, 300));
  const rb = await page.evaluate(() => window.__bench.stop());
  // performance.now()'s origin is the navigation start.
  const replay = {
    nav_to_mounted_ms: round1(rb.mountedAt),
    nav_to_ended_ms: round1(rb.endedAt),
    ...frameStats(rb.frames, rb.longtasks, rb.mountedAt, rb.endedAt),
    boot: frameStats(rb.frames, rb.longtasks, 0, rb.mountedAt),
    main_thread: mainThread(r0, r1), // navigation included
    rendered: await rendered(page),
  };
  await context.close();

  return {
    debate: { id, status: debate.status, agents: agentCount, rounds, stored_events: stored, run_seconds: debate.duration_seconds ?? null },
    baseline,
    live,
    replay,
    ratio_p95_live_over_baseline: baseline.frame_ms_p95 ? Number((live.frame_ms_p95 / baseline.frame_ms_p95).toFixed(2)) : null,
    ratio_p99_live_over_baseline: baseline.frame_ms_p99 ? Number((live.frame_ms_p99 / baseline.frame_ms_p99).toFixed(2)) : null,
  };
}

const fake = streamWords > 0 ? await startFakeProvider() : null;
const startOne = (dir) => startServer({
  binary,
  consoleDir: dir,
  env: {
    ARAGORA_JWT_SECRET: null,
    ARAGORA_DEMO_LATENCY_MS: String(latencyMs),
    ARAGORA_LOG_LEVEL: 'INFO',
    ...(fake
      ? { ARAGORA_OPENAI_COMPATIBLE_BASE_URL: `http://127.0.0.1:${fake.address().port}`, ARAGORA_AGENT_STREAMING: 'true' }
      : {}),
  },
  users: false,
});
// The page under test last in each run's pair, so that neither page always goes first.
const targets = [];
if (compareDir) targets.push({ label: 'compare', dir: compareDir, server: await startOne(compareDir), results: [] });
targets.push({ label: 'main', dir: consoleDir, server: await startOne(consoleDir), results: [] });
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
});
try {
  for (let i = 0; i < runs; i++) for (const t of targets) t.results.push(await oneRun(browser, t.server));
} finally {
  await browser.close();
  for (const t of targets) await t.server.stop();
  fake?.close();
}

// Medians over the runs of the headline figures.
const summarise = (results) => {
  const med = (f) => round1(percentile(results.map(f).filter((x) => x !== null && x !== undefined), 50));
  return {
    baseline_frame_ms_p50_p95_p99: [med((r) => r.baseline.frame_ms_p50), med((r) => r.baseline.frame_ms_p95), med((r) => r.baseline.frame_ms_p99)],
    live_frame_ms_p50_p95_p99: [med((r) => r.live.frame_ms_p50), med((r) => r.live.frame_ms_p95), med((r) => r.live.frame_ms_p99)],
    replay_frame_ms_p50_p95_p99: [med((r) => r.replay.frame_ms_p50), med((r) => r.replay.frame_ms_p95), med((r) => r.replay.frame_ms_p99)],
    dropped_pct_baseline_live_replay: [med((r) => r.baseline.dropped_pct), med((r) => r.live.dropped_pct), med((r) => r.replay.dropped_pct)],
    longtasks_baseline_live_replay: [med((r) => r.baseline.longtasks), med((r) => r.live.longtasks), med((r) => r.replay.longtasks)],
    ratio_p95_live_over_baseline: med((r) => r.ratio_p95_live_over_baseline),
    ratio_p99_live_over_baseline: med((r) => r.ratio_p99_live_over_baseline),
    end_frame_to_ended_ms: med((r) => r.live.end_frame_to_ended_ms),
    replay_nav_to_ended_ms: med((r) => r.replay.nav_to_ended_ms),
    events_rendered_live_replay_stored: [med((r) => r.live.rendered.events), med((r) => r.replay.rendered.events), med((r) => r.debate.stored_events)],
    dom_nodes_live_replay_at_end: [med((r) => r.live.main_thread.nodes), med((r) => r.replay.main_thread.nodes)],
    dom_elements_live_replay_at_end: [med((r) => r.live.rendered.elements), med((r) => r.replay.rendered.elements)],
    js_heap_used_mb_live_replay_at_end: [med((r) => r.live.main_thread.js_heap_used_mb), med((r) => r.replay.main_thread.js_heap_used_mb)],
    main_thread_task_layout_ms_live: [med((r) => r.live.main_thread.task_ms), med((r) => r.live.main_thread.layout_ms)],
  };
};
const main = targets[targets.length - 1];
const compare = compareDir ? targets[0] : null;
const summary = summarise(main.results);

const report = {
  binary,
  chromium: execFileSync(chromium, ['--version']).toString().trim(),
  agents: streamWords > 0 ? `openai-compatible (fake, ${streamWords + 2} chunks per reply, ${streamIntervalMs} ms apart)` : 'demo',
  demo_latency_ms: latencyMs,
  loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
  cpus: os.cpus().length,
  console_dir: main.dir,
  summary,
  ...(compare ? { compare_console_dir: compare.dir, compare_summary: summarise(compare.results) } : {}),
  runs: main.results,
  ...(compare ? { compare_runs: compare.results } : {}),
};
console.log(JSON.stringify(report, null, 2));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n');
