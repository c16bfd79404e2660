// The debate and receipt pages of the console (web/src/pages/debate*.js, receipt*.js)
// against a real `aragora serve` with demo agents (tests/browser/README.md):
//  - start a debate in the form, watch it live to the end, the rendered events equal the
//    stored ones (GET /events), and a WebSocket drop (SIGUSR1 closes every socket with
//    1012) mid-debate is recovered through replay_from_seq with no duplicate and no gap;
//  - the list: newest first, status filter, task search (this page only), paging;
//  - the form's errors, a viewer's 403, a member's cancel;
//  - the receipt: verified on the server and in the browser (WebCrypto SHA-256 over the
//    JCS form and Ed25519), downloads, and a tampered receipt (served by a test double:
//    request interception) fails the browser check;
//  - the pure parts, in node: the stream's dedupe/gap/backoff/replay logic with a fake
//    socket and clock, and the JCS form equal to the server's canonical export.
// Screenshots of every page at desktop and phone width (t.screenshot) and axe on each.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { DebateStream, EventLog, backoffDelay } from '../../web/src/pages/support/debate-stream.js';
import { renderedEvents } from './lib/debate_view.mjs';
import { canonicalize } from '../../web/src/pages/support/jcs.js';
import { SERVED_ONLY, verifyReceipt } from '../../web/src/pages/support/receipt-verify.js';

// An Ed25519 receipt key, so that the browser has a signature it can check itself (HMAC
// needs the server's secret).
const keyDir = mkdtempSync(path.join(os.tmpdir(), 'aragora-ui-receipt-key-'));
const keyFile = path.join(keyDir, 'receipt-ed25519.pem');
writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

// A fake OpenAI-compatible provider that streams its replies (SSE, a chunk every 20 ms),
// so that the live view gets token_start / token_delta / token_end events: the demo
// agents answer in one piece.
const STREAM_WORDS = 24;
// The replies of a model named gated-<name>-* hold their last chunk until
// releaseGate(name): a debate that stays running, mid-stream, for as long as a test needs.
const gates = new Map();
function gate(name) {
  if (!gates.has(name)) {
    const g = { open: false };
    g.promise = new Promise((resolve) => {
      g.release = () => {
        g.open = true;
        resolve();
      };
    });
    gates.set(name, g);
  }
  return gates.get(name);
}
const releaseGate = (name) => gate(name).release();
// The first streamed reply of a model named cutonce-* stops after 8 chunks without its
// final event (a cut stream: the agent retries and the first attempt's text is void).
const cutOnce = new Set();
const fakeProvider = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    let stream = false;
    let model = '';
    try {
      const request = JSON.parse(body);
      stream = request.stream === true;
      model = String(request.model || '');
    } catch {
      /* not JSON: answer in one piece */
    }
    const words = Array.from({ length: STREAM_WORDS }, (_, i) => `word${i}`);
    const text = `I propose a measured rollout: ${words.join(' ')}.`;
    if (!stream) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: text } }], usage: { prompt_tokens: 5, completion_tokens: 30 } }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const pieces = ['I propose a measured rollout: ', ...words.map((w) => `${w} `), '.'];
    let i = 0;
    const tick = () => {
      const held = /^gated-([a-z]+)-/.exec(model);
      if (i === pieces.length - 1 && held && !gate(held[1]).open) {
        gate(held[1]).promise.then(tick);
        return;
      }
      if (i === 8 && model.startsWith('cutonce-') && !cutOnce.has(model)) {
        cutOnce.add(model);
        res.end();
        return;
      }
      if (i < pieces.length) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: pieces[i] } }] })}\n\n`);
        i += 1;
        setTimeout(tick, 20);
      } else {
        res.end('data: [DONE]\n\n');
      }
    };
    tick();
  });
});
await new Promise((resolve) => fakeProvider.listen(0, '127.0.0.1', resolve));
fakeProvider.unref();

export const options = {
  // 400 ms per demo call: a debate lasts seconds, long enough to watch and to drop.
  env: {
    ARAGORA_DEMO_LATENCY_MS: 400,
    ARAGORA_RECEIPT_ED25519_KEY_FILE: keyFile,
    ARAGORA_OPENAI_COMPATIBLE_BASE_URL: `http://127.0.0.1:${fakeProvider.address().port}`,
    ARAGORA_AGENT_STREAMING: 'true',
  },
  timeout: 180000,
};

// --- helpers ----------------------------------------------------------------------------

const live = (page) => page.$eval('[data-testid=debate-live]', (el) => ({ ...el.dataset }));

async function createDebate(t, body, as = 'member') {
  const res = await t.api('/api/v1/debates', { method: 'POST', body, as });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.debate_id;
}

async function storedEvents(t, id) {
  const events = [];
  let since = 0;
  for (let i = 0; i < 100; i += 1) {
    const res = await t.api(`/api/v1/debates/${id}/events?since=${since}&limit=500`, { as: 'member' });
    assert.equal(res.status, 200);
    events.push(...res.body.events);
    since = res.body.next_seq;
    if (!res.body.has_more) break;
  }
  return events;
}

// Opens a debate's live view and waits for its end (debate_end delivered).
async function watchToEnd(t, id, timeout = 120000) {
  await t.goto(`/debates/${id}`);
  await t.page.waitForSelector('[data-testid=debate-live]');
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]')?.dataset.state === 'ended', { timeout });
}

function sha256Hex(text) {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// --- the live view ----------------------------------------------------------------------

export async function liveDebateFromTheFormEqualsStoredEventsAcrossADrop(t) {
  await t.login('member', '/debates/new');
  await t.page.waitForSelector('[data-testid=debate-form] #task');
  await t.screenshot('debate-new');
  await t.axe('debate-new');

  await t.page.type('#task', 'Should the console ship without a bundler at run time?');
  await t.page.$eval('#rounds', (el) => {
    el.value = '5';
  });
  await t.page.select('#consensus', 'majority');
  await t.page.click('[data-testid=submit]');
  await t.page.waitForSelector('[data-testid=debate-live]');
  const id = await t.page.$eval('[data-testid=debate-live]', (el) => el.dataset.debateId);
  assert.match(new URL(t.page.url()).pathname, new RegExp(`/debates/${id}$`));

  // Mid-debate: once round 1 has started (seq 2), every socket is closed by the server.
  await t.page.waitForFunction(() => Number(document.querySelector('[data-testid=debate-live]').dataset.lastSeq) >= 2);
  const atDrop = await live(t.page);
  assert.notEqual(atDrop.state, 'ended', 'the debate ended before the drop: nothing would be tested');
  assert.equal(atDrop.connects, '1');
  t.server.signal('SIGUSR1');

  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 150000 });
  const end = await live(t.page);
  assert.ok(Number(end.connects) >= 2, `no reconnect after the drop: ${JSON.stringify(end)}`);
  assert.ok(Number(end.replayFrom) >= Number(atDrop.lastSeq), `reconnected with replay_from_seq ${end.replayFrom}, had seen ${atDrop.lastSeq}`);

  // The finished rounds are collapsed, their rows out of the DOM (the last one stays open);
  // the keyboard opens one and its rows are built.
  // (A demo debate may converge and stop before its 5th round.)
  const opened = await t.page.$$eval('#event-list details.round', (ds) => ds.map((d) => d.open));
  assert.ok(opened.length >= 2, `${opened.length} round(s)`);
  assert.deepEqual(opened, opened.map((_, i) => i === opened.length - 1));
  assert.equal(await t.page.$$eval('#event-list details.round:not([open]) [data-seq]', (els) => els.length), 0);
  await t.page.focus('#event-list details.round > summary');
  await t.page.keyboard.press('Enter');
  await t.page.waitForFunction(() => document.querySelector('#event-list details.round')?.querySelectorAll('li[data-type=agent_message]').length > 0);
  await t.screenshot('debate-live-round-open');
  await t.axe('debate-live-round-open');

  // The page's events are exactly the stored ones: same seqs (no duplicate, no gap), same
  // types and agents, same proposal texts.
  const stored = await storedEvents(t, id);
  const rendered = await renderedEvents(t.page);
  assert.ok(stored.length > 10, `only ${stored.length} events stored`);
  assert.deepEqual(rendered.map((r) => r.seq), stored.map((e) => e.seq));
  assert.deepEqual(stored.map((e) => e.seq), stored.map((_, i) => i + 1));
  for (let i = 0; i < stored.length; i += 1) {
    const e = stored[i];
    const r = rendered[i];
    assert.equal(r.type, e.type, `seq ${e.seq}`);
    assert.equal(r.agent, e.agent || e.data.agent || '', `seq ${e.seq}`);
    if (e.type === 'agent_message') assert.equal(r.content, e.data.content, `seq ${e.seq}`);
    if (e.type === 'vote') assert.equal(r.content, e.data.reasoning, `seq ${e.seq}`);
    if (e.type === 'token_delta') assert.equal(r.content, e.data.delta, `seq ${e.seq}`);
  }
  const last = stored[stored.length - 1];
  assert.equal(last.type, 'debate_end');

  // The end: status, consensus and dissent, the receipt link.
  const debate = (await t.api(`/api/v1/debates/${id}`, { as: 'member' })).body;
  assert.equal(debate.status, 'completed');
  await t.waitForText(debate.status, { selector: '[data-testid=status]' });
  await t.waitForText(debate.consensus_reached ? 'Consensus reached' : 'No consensus', { selector: '[data-testid=consensus]' });
  const dissent = await t.page.$eval('[data-testid=dissent]', (el) => el.textContent);
  for (const agent of debate.dissenting_agents) assert.ok(dissent.includes(agent), dissent);
  const link = await t.page.$eval('[data-testid=receipt-link]', (el) => el.getAttribute('href'));
  assert.ok(link.endsWith(`/receipts/${debate.receipt_id}`), link);
  await t.page.$eval('#follow', (el) => {
    el.checked = false;
  });
  await t.page.evaluate(() => window.scrollTo(0, 0));
  await t.screenshot('debate-live');
  await t.axe('debate-live');
}

export async function liveViewOfAFinishedDebateReplaysEverythingOnce(t) {
  const id = await createDebate(t, { task: 'Replay check: adopt trunk-based development?', rounds: 1 });
  await t.login('viewer', `/debates/${id}`);
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]')?.dataset.state === 'ended', { timeout: 60000 });
  // Reload while finished: the whole debate comes from the replay, once.
  await t.page.reload({ waitUntil: 'load' });
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]')?.dataset.state === 'ended', { timeout: 60000 });
  const stored = await storedEvents(t, id);
  const rendered = await renderedEvents(t.page);
  assert.deepEqual(rendered.map((r) => r.seq), stored.map((e) => e.seq));
  // A viewer may not cancel, and a finished debate has nothing to cancel.
  assert.equal(await t.page.$eval('[data-testid=cancel]', (el) => el.hidden), true);
}

export async function streamedTokensAppearAsTheyArriveAndEqualTheStoredDeltas(t) {
  const id = await createDebate(t, {
    task: 'Streaming check: how should we roll out the new API?',
    agents: ['openai-compatible:fake-a', 'openai-compatible:fake-b'],
    rounds: 1,
  });
  await t.login('member', `/debates/${id}`);
  // Text shows while the agent is still streaming (its row is marked as such).
  await t.page.waitForFunction(
    () => [...document.querySelectorAll('li.streaming .stream-text')].some((el) => el.textContent.length > 0),
    { timeout: 60000 },
  );
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 120000 });
  const stored = await storedEvents(t, id);
  const rendered = await renderedEvents(t.page);
  assert.deepEqual(rendered.map((r) => r.seq), stored.map((e) => e.seq));
  const deltas = stored.filter((e) => e.type === 'token_delta');
  assert.ok(deltas.length >= 2, `only ${deltas.length} token_delta events`);
  for (const e of deltas) assert.equal(rendered.find((r) => r.seq === e.seq).content, e.data.delta);
  // Each stream's text, joined, is the reply the agent then sent in full.
  const streams = await t.page.$$eval('li.ev-token_start', (rows) => rows.map((r) => r.querySelector('.stream-text').textContent.replace(/ \(done\)$/, '')));
  assert.ok(streams.some((text) => text.includes('word0') && text.includes(`word${STREAM_WORDS - 1}`)), JSON.stringify(streams));
  assert.equal(await t.page.$$eval('li.streaming', (rows) => rows.length), 0, 'a stream still marked as streaming after its token_end');
}

export async function liveViewDropsTheTextOfARestartedStream(t) {
  const id = await createDebate(t, {
    task: 'Restart check: does a cut stream restart visibly?',
    agents: ['openai-compatible:cutonce-a', 'openai-compatible:fake-b'],
    rounds: 1,
  });
  await t.login('member', `/debates/${id}`);
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 120000 });
  const stored = await storedEvents(t, id);
  const restarts = stored.filter((e) => (e.type === 'agent_retry' || e.type === 'agent_fallback') && e.data.restart === true);
  assert.equal(restarts.length, 1, JSON.stringify(stored.filter((e) => e.type.startsWith('agent_'))));
  // Every event still accounted for, the void attempt's deltas included.
  const rendered = await renderedEvents(t.page);
  assert.deepEqual(rendered.map((r) => r.seq), stored.map((e) => e.seq));
  for (const e of stored.filter((x) => x.type === 'token_delta')) assert.equal(rendered.find((r) => r.seq === e.seq).content, e.data.delta);
  // The void attempt's row says so and shows no text; the new attempt has the whole reply.
  const rows = await t.page.$$eval('li.ev-token_start', (els) =>
    els.map((r) => ({ agent: r.dataset.agent, void: r.classList.contains('void'), shown: r.querySelector('.stream-text').offsetHeight > 0, text: r.querySelector('.stream-text').textContent })),
  );
  const voids = rows.filter((r) => r.void);
  assert.equal(voids.length, 1, JSON.stringify(rows));
  assert.equal(voids[0].shown, false);
  assert.ok(rows.some((r) => !r.void && r.agent === voids[0].agent && r.text.includes(`word${STREAM_WORDS - 1}`)), JSON.stringify(rows));
  assert.equal(await t.page.$$eval('li.streaming', (els) => els.length), 0);
}

export async function liveViewFollowsTheNewestUntilTheReaderScrollsUp(t) {
  const id = await createDebate(t, {
    task: 'Follow check: should the live view chase new events?',
    agents: ['openai-compatible:gated-follow-a', 'openai-compatible:gated-follow-b'],
    rounds: 1,
  });
  await t.page.setViewport({ width: 390, height: 500 }); // the page is taller than this
  await t.login('member', `/debates/${id}`);
  // Both replies stream (held before their last chunk) and the page keeps its end in view.
  await t.page.waitForFunction(
    () => [...document.querySelectorAll('li.streaming .stream-text')].filter((el) => el.textContent.length > 0).length === 2,
    { timeout: 60000 },
  );
  await t.page.waitForFunction(
    () => {
      const s = document.scrollingElement;
      return s.scrollTop > 0 && s.scrollTop + innerHeight >= s.scrollHeight - 2;
    },
    { timeout: 60000 },
  );
  // The reader scrolls up: the view stops following and stays where they are while the
  // debate goes on to its end.
  await t.page.evaluate(() => window.scrollTo(0, 0));
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.atBottom === 'false', {
    timeout: 60000,
  });
  const before = Number((await live(t.page)).lastSeq);
  releaseGate('follow');
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 60000 });
  assert.ok(Number((await live(t.page)).lastSeq) > before + 5, 'no events after the reader scrolled up');
  assert.equal(await t.page.evaluate(() => window.scrollY), 0, 'the view scrolled a reader who had scrolled up');
}

export async function liveViewCancelledMidStreamKeepsTheTextAndEveryEvent(t) {
  const id = await createDebate(t, {
    task: 'Cut check: cancel while the replies stream?',
    agents: ['openai-compatible:gated-cut-a', 'openai-compatible:gated-cut-b'],
    rounds: 2,
  });
  await t.login('member', `/debates/${id}`);
  await t.page.waitForFunction(
    () => [...document.querySelectorAll('li.streaming .stream-text')].filter((el) => el.textContent.length > 0).length === 2,
    { timeout: 60000 },
  );
  await t.page.click('[data-testid=cancel]');
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 60000 });
  releaseGate('cut');
  // The replies keep the text that came and no longer show as streaming.
  assert.equal(await t.page.$$eval('li.streaming, [aria-busy=true]', (els) => els.length), 0);
  assert.ok((await t.page.$$eval('li.ev-token_start .stream-text', (els) => els.map((e) => e.textContent))).every((text) => text.includes('word0')));
  assert.deepEqual((await renderedEvents(t.page)).map((r) => r.seq), (await storedEvents(t, id)).map((e) => e.seq));
}

export async function memberCancelsARunningDebateViewerCannot(t) {
  // Both signed in before the debate starts: a sign-in can take seconds on a loaded machine
  // and a demo debate may converge and end within a few.
  const viewerPage = await t.newPage();
  await t.login(viewerPage, 'viewer', '/');
  await t.login('member', '/');
  const id = await createDebate(t, { task: 'Cancel check: rewrite the billing service?', rounds: 12 });
  await viewerPage.bringToFront(); // a page in the background gets no animation frames
  await t.goto(`/debates/${id}`, viewerPage);
  await viewerPage.waitForFunction(() => Number(document.querySelector('[data-testid=debate-live]')?.dataset.lastSeq) >= 1);
  assert.equal(await viewerPage.$eval('[data-testid=cancel]', (el) => el.hidden), true, 'a viewer sees the cancel button');

  await t.page.bringToFront();
  await t.goto(`/debates/${id}`);
  await t.page.waitForFunction(() => Number(document.querySelector('[data-testid=debate-live]')?.dataset.lastSeq) >= 1);
  assert.equal(await t.page.$eval('[data-testid=cancel]', (el) => el.hidden), false);
  await t.page.click('[data-testid=cancel]');
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 60000 });
  await t.waitForText('cancelled', { selector: '[data-testid=status]' });
  assert.equal((await t.api(`/api/v1/debates/${id}`, { as: 'member' })).body.status, 'cancelled');
  const rendered = await renderedEvents(t.page);
  assert.equal(rendered[rendered.length - 1].type, 'debate_end');
  assert.deepEqual(rendered.map((r) => r.seq), (await storedEvents(t, id)).map((e) => e.seq));
}

// --- signed out -------------------------------------------------------------------------

export async function signedOutVisitorIsAskedToSignInWithoutFailedRequests(t) {
  // Any failed request would be a console error, which fails the test.
  for (const [p, what] of [['/', 'the debates'], ['/debates/new', 'the debate form'], ['/receipts', 'the receipts'], ['/debates/d_x', 'this debate'], ['/receipts/r_x', 'this receipt']]) {
    await t.goto(p);
    await t.waitForText(`Sign in to see ${what}`, { selector: 'main' });
    assert.equal(await t.page.$eval('main a[href$="/login"]', (a) => a.textContent), 'sign in');
  }
}

// --- the form ---------------------------------------------------------------------------

export async function startFormShowsErrorsNextToTheFields(t) {
  t.allowConsoleErrors(/status of 400|status of 403/);
  await t.login('member', '/debates/new');
  await t.page.waitForSelector('[data-testid=debate-form]');
  // Checked in the page: no task.
  await t.page.click('[data-testid=submit]');
  await t.waitForText('Enter the task', { selector: '[data-testid=error-task]' });
  assert.equal(await t.page.$eval('#task', (el) => el.getAttribute('aria-invalid')), 'true');

  // Checked by the server: a provider without its API key.
  await t.page.type('#task', 'Which cloud region should we use?');
  await t.page.type('#agents-extra', 'openai:gpt-4o');
  await t.page.click('[data-testid=submit]');
  await t.waitForText('OPENAI_API_KEY', { selector: '[data-testid=error-agents]' });
  await t.waitForText('did not accept', { selector: '[data-testid=form-error]' });
  await t.screenshot('debate-new-errors');

  // A viewer is told before and refused by the server (403) next to the form.
  await t.login('viewer', '/debates/new');
  await t.waitForText('may not start debates', { selector: 'main' });
  await t.page.type('#task', 'A viewer tries');
  await t.page.click('[data-testid=submit]');
  await t.waitForText('may not start debates', { selector: '[data-testid=form-error]' });
}

// --- the list ---------------------------------------------------------------------------

export async function debateListIsNewestFirstFiltersSearchesAndPages(t) {
  const tasks = ['List alpha: move to Postgres?', 'List bravo: adopt Rust?', 'List charlie: four-day week?'];
  const ids = [];
  for (const task of tasks) ids.push(await createDebate(t, { task, rounds: 1 }));
  const cancelled = await createDebate(t, { task: 'List delta: to be cancelled', rounds: 12 });
  assert.equal((await t.api(`/api/v1/debates/${cancelled}/cancel`, { method: 'POST', as: 'member' })).status, 200);

  await t.login('viewer', '/');
  await t.page.waitForSelector('[data-testid=debate-table] tbody tr[data-debate-id]');
  const order = await t.page.$$eval('tbody tr[data-debate-id]', (rows) => rows.map((r) => r.dataset.debateId));
  assert.deepEqual(order.slice(0, 4), [cancelled, ...ids.slice().reverse()]);
  await t.screenshot('debates');
  await t.axe('debates');

  // Search (this page only, and the page says so).
  await t.page.type('#f-q', 'bravo');
  await t.page.waitForFunction(() => document.querySelectorAll('tbody tr[data-debate-id]').length === 1);
  assert.equal(await t.page.$eval('tbody tr[data-debate-id]', (r) => r.dataset.debateId), ids[1]);
  await t.waitForText('this page only', { selector: '#f-q-hint' });
  assert.match(new URL(t.page.url()).search, /q=bravo/);
  await t.page.$eval('#f-q', (el) => {
    el.value = '';
    el.dispatchEvent(new Event('input'));
  });

  // Status filter: the API's.
  await t.page.select('#f-status', 'cancelled');
  await t.page.waitForFunction(
    (id) => {
      const rows = [...document.querySelectorAll('tbody tr[data-debate-id]')];
      return rows.length === 1 && rows[0].dataset.debateId === id;
    },
    {},
    cancelled,
  );
  assert.match(new URL(t.page.url()).search, /status=cancelled/);

  // Paging: two per page, newest first across pages.
  await t.goto('/?size=2');
  await t.page.waitForFunction(() => document.querySelectorAll('tbody tr[data-debate-id]').length === 2);
  assert.deepEqual(await t.page.$$eval('tbody tr[data-debate-id]', (rows) => rows.map((r) => r.dataset.debateId)), [cancelled, ids[2]]);
  await t.page.click('[data-testid=next]');
  await t.page.waitForFunction((id) => document.querySelector('tbody tr[data-debate-id]')?.dataset.debateId === id, {}, ids[1]);
  await t.waitForText('Showing 3–4 of 4', { selector: '[data-testid=range]' });
  assert.equal(await t.page.$eval('[data-testid=next]', (b) => b.disabled), true);
  await t.page.click('[data-testid=prev]');
  await t.page.waitForFunction((id) => document.querySelector('tbody tr[data-debate-id]')?.dataset.debateId === id, {}, cancelled);

  // A row opens its debate.
  await t.page.click(`tr[data-debate-id="${ids[2]}"] a`);
  await t.page.waitForSelector(`[data-testid=debate-live][data-debate-id="${ids[2]}"]`);
}

// --- receipts ---------------------------------------------------------------------------

async function finishedDebateWithReceipt(t, task = 'Receipt check: publish the quarterly plan?') {
  const id = await createDebate(t, { task, rounds: 1 });
  await t.login('member', `/debates/${id}`);
  await t.page.waitForSelector('[data-testid=receipt-link]', { timeout: 60000 });
  const debate = (await t.api(`/api/v1/debates/${id}`, { as: 'member' })).body;
  assert.ok(debate.receipt_id);
  return debate;
}

async function verifyBoth(page) {
  await page.click('[data-testid=verify-server]');
  await page.click('[data-testid=verify-browser]');
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid=server-verify]').dataset.valid;
    const b = document.querySelector('[data-testid=browser-verify]').dataset.valid;
    return s !== undefined && b !== undefined;
  });
  return page.evaluate(() => ({
    server: document.querySelector('[data-testid=server-verify]').dataset.valid,
    browser: document.querySelector('[data-testid=browser-verify]').dataset.valid,
    text: document.querySelector('[data-testid=browser-verify]').innerText,
  }));
}

export async function receiptVerifiesOnTheServerAndInTheBrowser(t) {
  const debate = await finishedDebateWithReceipt(t);
  await t.page.click('[data-testid=receipt-link]');
  await t.page.waitForSelector(`[data-testid=receipt-view][data-receipt-id="${debate.receipt_id}"]`);
  const served = (await t.api(`/api/v2/receipts/${debate.receipt_id}`, { as: 'member' })).body;
  await t.waitForText(served.content_hash, { selector: 'main' });
  await t.waitForText(served.verdict.replaceAll('_', ' '), { selector: '[data-testid=verdict]' });

  const v = await verifyBoth(t.page);
  assert.equal(v.server, 'true', v.text);
  assert.equal(v.browser, 'true', v.text);
  assert.match(v.text, /Content hash \(SHA-256 of the JCS form\): [0-9a-f]{64}/);
  assert.match(v.text, /Ed25519 [0-9a-f]{16}: valid/);
  assert.match(v.text, /HMAC-SHA256 [0-9a-f]{16}: unverifiable/);

  // Against a trusted key: the receipt's own key passes, another one does not.
  const ed = served.signatures.find((s) => s.algorithm === 'Ed25519');
  await t.page.type('#trusted-key', ed.key_id);
  await t.page.click('[data-testid=verify-browser]');
  await t.waitForText('a trusted key', { selector: '[data-testid=browser-verify]' });
  assert.equal(await t.page.$eval('[data-testid=browser-verify]', (el) => el.dataset.valid), 'true');
  await t.page.$eval('#trusted-key', (el) => {
    el.value = '0123456789abcdef';
  });
  await t.page.click('[data-testid=verify-browser]');
  await t.waitForText('not one of the trusted keys', { selector: '[data-testid=browser-verify]' });
  assert.equal(await t.page.$eval('[data-testid=browser-verify]', (el) => el.dataset.valid), 'false');
  await t.page.$eval('#trusted-key', (el) => {
    el.value = '';
  });
  await t.page.click('[data-testid=verify-browser]');
  await t.waitForText('Verified in this browser', { selector: '[data-testid=browser-verify]' });

  // Downloads through the server's export (fetched with the token, saved as a blob).
  for (const fmt of ['json', 'md', 'html']) {
    await t.page.click(`[data-testid=download-${fmt}]`);
    await t.waitForText(`Downloaded ${debate.receipt_id}.${fmt}`, { selector: '[data-testid=receipt-view]' });
  }
  await t.screenshot('receipt');
  await t.axe('receipt');

  // The list shows it and links to it.
  await t.goto('/receipts');
  await t.page.waitForSelector(`tr[data-receipt-id="${debate.receipt_id}"]`);
  await t.screenshot('receipts');
  await t.axe('receipts');
  // Found and clicked in one step: the list may render again between two steps.
  await t.page.waitForFunction(
    (sel) => {
      const a = document.querySelector(sel);
      if (!a) return false;
      a.click();
      return true;
    },
    { timeout: 60000 },
    `tr[data-receipt-id="${debate.receipt_id}"] a`,
  );
  await t.page.waitForSelector(`[data-testid=receipt-view][data-receipt-id="${debate.receipt_id}"]`);
}

export async function receiptChainLinksToThePreviousReceipt(t) {
  const first = await finishedDebateWithReceipt(t, 'Chain check one: hire in Q1?');
  const second = await finishedDebateWithReceipt(t, 'Chain check two: hire in Q2?');
  const one = (await t.api(`/api/v2/receipts/${first.receipt_id}`, { as: 'member' })).body;
  const two = (await t.api(`/api/v2/receipts/${second.receipt_id}`, { as: 'member' })).body;
  assert.equal(two.previous_hash, one.content_hash);
  await t.goto(`/receipts/${second.receipt_id}`);
  await t.page.waitForSelector('[data-testid=chain-link] button');
  await t.page.click('[data-testid=chain-link] button');
  await t.page.waitForSelector('[data-testid=chain-link] a');
  assert.ok((await t.page.$eval('[data-testid=chain-link] a', (a) => a.getAttribute('href'))).endsWith(`/receipts/${first.receipt_id}`));
  await t.page.click('[data-testid=chain-link] a');
  await t.page.waitForSelector(`[data-testid=receipt-view][data-receipt-id="${first.receipt_id}"]`);
}

// The browser check uses the installation's published keys (GET
// /.well-known/aragora/receipt-keys.json, docs/receipts.md) when the OpenAPI document lists
// the route. A server without it gets a test double (the documented shape); with it, the
// real route serves the positive case.
export async function receiptIsCheckedAgainstThePublishedKeys(t) {
  const KEYS = '/.well-known/aragora/receipt-keys.json';
  const debate = await finishedDebateWithReceipt(t, 'Published keys check: open a new office?');
  const served = (await t.api(`/api/v2/receipts/${debate.receipt_id}`, { as: 'member' })).body;
  const ed = served.signatures.find((s) => s.algorithm === 'Ed25519');
  const openapi = (await t.api('/api/openapi.json')).body;
  const real = Boolean(openapi.paths[KEYS]?.get);
  let keysDoc = real ? null : { keys: [{ key_id: ed.key_id, algorithm: 'Ed25519', state: 'current', public_key: ed.public_key }] };
  await t.page.setRequestInterception(true);
  t.page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.pathname === '/api/openapi.json' && !real) {
      req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify({ ...openapi, paths: { ...openapi.paths, [KEYS]: { get: {} } } }) });
    } else if (u.pathname === KEYS && keysDoc) {
      req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(keysDoc) });
    } else {
      req.continue();
    }
  });
  await t.goto(`/receipts/${debate.receipt_id}`);
  await t.page.waitForSelector('[data-testid=receipt-view]');
  await t.page.click('[data-testid=verify-browser]');
  await t.waitForText('published keys', { selector: '[data-testid=trust-source]' });
  assert.equal(await t.page.$eval('[data-testid=browser-verify]', (el) => el.dataset.valid), 'true');
  await t.waitForText('under the trusted (published) key', { selector: '[data-testid=browser-verify]' });

  // A published key that differs from the one the receipt carries for the same key_id.
  const { publicKey } = generateKeyPairSync('ed25519');
  const other = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64');
  keysDoc = { keys: [{ key_id: ed.key_id, algorithm: 'Ed25519', state: 'current', public_key: other }] };
  await t.goto(`/receipts/${debate.receipt_id}`);
  await t.page.waitForSelector('[data-testid=receipt-view]');
  await t.page.click('[data-testid=verify-browser]');
  await t.waitForText('differs from the trusted key', { selector: '[data-testid=browser-verify]' });
  assert.equal(await t.page.$eval('[data-testid=browser-verify]', (el) => el.dataset.valid), 'false');
}

export async function tamperedReceiptFailsBrowserVerification(t) {
  const debate = await finishedDebateWithReceipt(t);
  const served = (await t.api(`/api/v2/receipts/${debate.receipt_id}`, { as: 'member' })).body;

  // The test double: the receipt GET answers a changed copy; everything else is real.
  let tampered = null;
  await t.page.setRequestInterception(true);
  t.page.on('request', (req) => {
    const u = new URL(req.url());
    if (tampered && req.method() === 'GET' && u.pathname === `/api/v2/receipts/${debate.receipt_id}`) {
      req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(tampered) });
    } else {
      req.continue();
    }
  });

  // 1. A changed verdict: the content hash no longer matches.
  tampered = { ...served, verdict: served.verdict === 'approved' ? 'rejected' : 'approved' };
  await t.goto(`/receipts/${debate.receipt_id}`);
  await t.page.waitForSelector('[data-testid=receipt-view]');
  let v = await verifyBoth(t.page);
  assert.equal(v.browser, 'false', v.text);
  assert.match(v.text, /content hash mismatch/);
  assert.equal(v.server, 'true', 'the server checks its own stored copy');
  await t.screenshot('receipt-tampered');

  // 2. A changed verdict with the content hash recomputed: the signature fails.
  const own = Object.fromEntries(Object.entries(tampered).filter(([k]) => !SERVED_ONLY.includes(k) && k !== 'content_hash' && k !== 'signatures'));
  tampered = { ...tampered, content_hash: sha256Hex(canonicalize(own)), checksum: sha256Hex(canonicalize(own)) };
  await t.goto(`/receipts/${debate.receipt_id}`);
  await t.page.waitForSelector('[data-testid=receipt-view]');
  v = await verifyBoth(t.page);
  assert.equal(v.browser, 'false', v.text);
  assert.match(v.text, /bad signature/);
  assert.match(v.text, /Ed25519 [0-9a-f]{16}: invalid/);

  // 3. A served-only member is outside the signed bytes (API.md): changing it changes
  // nothing that the page shows from the signed receipt, and the check still passes.
  tampered = { ...served, risk_level: 'low' };
  await t.goto(`/receipts/${debate.receipt_id}`);
  await t.page.waitForSelector('[data-testid=receipt-view]');
  v = await verifyBoth(t.page);
  assert.equal(v.browser, 'true', v.text);
}

// --- the pure parts, in node -----------------------------------------------------------

export async function unitJcsEqualsTheServersCanonicalForm(t) {
  // RFC 8785's rules on the awkward cases.
  assert.equal(
    canonicalize({ b: 1, a: [1.5, 1e21, 0.000001, 1e-7, -0, 100, 333333333.33333329], '\u00e9': '\u2028\u0007"\\', '\ud83d\ude00': 'x', 'a\u0000': null, '\u20ac': true }),
    '{"a":[1.5,1e+21,0.000001,1e-7,0,100,333333333.3333333],"a\\u0000":null,"b":1,"é":"\u2028\\u0007\\"\\\\","€":true,"😀":"x"}',
  );
  // And byte for byte what the server signs: its JSON export is its canonical text.
  const debate = await finishedDebateWithReceipt(t, 'JCS check: Ünïcødé, "quotes", emoji 😀, \\ and\ttabs');
  const raw = await fetch(t.url(`/api/v2/receipts/${debate.receipt_id}/export?format=json`), {
    headers: { Authorization: await loginHeader(t) },
  });
  assert.equal(raw.status, 200);
  const canonicalText = await raw.text();
  assert.ok(canonicalText.includes('emoji 😀'), canonicalText.slice(0, 200));
  assert.equal(canonicalize(JSON.parse(canonicalText)), canonicalText);
  // The browser module verifies the served receipt in node's WebCrypto too.
  const served = (await t.api(`/api/v2/receipts/${debate.receipt_id}`, { as: 'member' })).body;
  const v = await verifyReceipt(served);
  assert.equal(v.integrity.valid, true, JSON.stringify(v));
  assert.equal(v.valid, true, JSON.stringify(v));
}

async function loginHeader(t) {
  const res = await fetch(t.url('/api/v1/auth/login'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: t.users.member.email, password: t.users.member.password }),
  });
  const body = await res.json();
  return `Bearer ${(body.tokens || body).access_token}`;
}

class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.closedBy = null;
    FakeSocket.all.push(this);
  }
  close(code) {
    if (this.closedBy) return;
    this.closedBy = `client ${code}`;
    this.onclose?.({ code });
  }
  // What the server does.
  open() {
    this.onopen?.();
  }
  send(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1012) {
    this.closedBy = `server ${code}`;
    this.onclose?.({ code });
  }
}

function manualClock() {
  let now = 0;
  let next = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms) {
      timers.set(++next, { at: now + ms, fn });
      return next;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    advance(ms) {
      now += ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, x]) => x.at <= now).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) return;
        timers.delete(due[0]);
        due[1].fn();
      }
    },
    count: () => timers.size,
  };
}

const ev = (seq, type = 'agent_message') => ({ type, seq, debate_id: 'd1', loop_id: 'd1', round: 1, agent: 'a', data: { debate_id: 'd1' } });

export async function unitStreamReplaysFromLastSeqWithoutDuplicateOrGap() {
  FakeSocket.all = [];
  const clock = manualClock();
  const delivered = [];
  const states = [];
  const polls = [];
  const pollAnswers = [];
  const stream = new DebateStream({
    debateId: 'd1',
    url: (from) => `ws://x/ws?debate_id=d1&replay_from_seq=${from}`,
    WebSocketImpl: FakeSocket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 0,
    onEvents: (events) => delivered.push(...events.map((e) => e.seq)),
    onState: (s) => states.push(s),
    fetchSince: async (seq) => {
      polls.push(seq);
      return pollAnswers.shift() || { events: [], has_more: false };
    },
  });
  stream.start();
  let ws = FakeSocket.all[0];
  assert.equal(ws.url, 'ws://x/ws?debate_id=d1&replay_from_seq=0');
  ws.open();
  ws.send({ type: 'connection_info', data: { client_id: 'c', authenticated: true } });
  ws.send({ type: 'replay_start', debate_id: 'd1', data: { from_seq: 0, event_count: 3 } });
  for (const s of [1, 2, 3]) ws.send(ev(s));
  ws.send({ type: 'replay_end', debate_id: 'd1', data: { replayed_count: 3, latest_seq: 3 } });
  ws.send(ev(4));
  ws.send({ ...ev(5), debate_id: 'other' }); // another debate's event is not ours
  ws.send(ev(5));
  assert.deepEqual(delivered, [1, 2, 3, 4, 5]);

  // The drop: reconnect after the backoff with replay_from_seq = 5; no poll for one drop.
  ws.drop(1012);
  assert.equal(states.at(-1), 'reconnecting');
  assert.equal(FakeSocket.all.length, 1);
  clock.advance(249);
  assert.equal(FakeSocket.all.length, 1);
  clock.advance(1);
  ws = FakeSocket.all[1];
  assert.equal(ws.url, 'ws://x/ws?debate_id=d1&replay_from_seq=5');
  assert.deepEqual(polls, []);
  ws.open();
  ws.send({ type: 'replay_start', debate_id: 'd1', data: { from_seq: 5, event_count: 3 } });
  ws.send(ev(4)); // a server that replays too much: dropped
  ws.send(ev(5));
  ws.send(ev(6));
  ws.send(ev(8)); // ahead of a gap: held
  assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6]);
  ws.send(ev(7));
  assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6, 7, 8]);
  ws.send({ type: 'replay_end', debate_id: 'd1', data: { replayed_count: 4, latest_seq: 8 } });
  assert.equal(stream.log.duplicates, 2);

  // A gap the socket never fills is filled from the polling API after gapWaitMs.
  ws.send(ev(10));
  pollAnswers.push({ events: [ev(9), ev(10)], has_more: false });
  clock.advance(1000);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(polls, [8]);
  assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

  // debate_end: delivered once, the client closes, nothing is left scheduled.
  ws.send(ev(11, 'debate_end'));
  ws.send(ev(11, 'debate_end'));
  assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(ws.closedBy, 'client 1000');
  assert.equal(states.at(-1), 'ended');
  clock.advance(60000);
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(clock.count(), 0);
}

export async function unitStreamBacksOffPollsWhenDownAndStopsOnError() {
  FakeSocket.all = [];
  const clock = manualClock();
  const polls = [];
  const states = [];
  const stream = new DebateStream({
    debateId: 'd1',
    url: (from) => `ws://x/ws?debate_id=d1&replay_from_seq=${from}`,
    WebSocketImpl: FakeSocket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 1,
    idleMs: 45000,
    onEvents: () => {},
    onState: (s, d) => states.push([s, d]),
    fetchSince: async (seq) => {
      polls.push(seq);
      return { events: [], has_more: false };
    },
  });
  stream.start();
  // Never opens: each failure waits twice as long (random 1 = the ceiling), up to 30 s.
  const delays = [];
  for (let i = 0; i < 8; i += 1) {
    FakeSocket.all.at(-1).drop(1006);
    const [, detail] = states.filter(([s]) => s === 'reconnecting').at(-1);
    delays.push(detail.delayMs);
    await new Promise((r) => setImmediate(r)); // the poll's answer
    clock.advance(detail.delayMs);
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoffDelay(0, { random: () => 0 }), 250);
  assert.equal(backoffDelay(20, { random: () => 0 }), 15000);
  assert.equal(backoffDelay(20, { random: () => 1 }), 30000);
  assert.ok(polls.length >= 6, `polled ${polls.length} times while down`);

  // A silent connection (no frame for idleMs) is dropped and retried.
  const ws = FakeSocket.all.at(-1);
  ws.open();
  ws.send({ type: 'replay_start', debate_id: 'd1', data: {} });
  ws.send({ type: 'replay_end', debate_id: 'd1', data: { latest_seq: 0 } });
  const before = FakeSocket.all.length;
  clock.advance(45000);
  assert.equal(ws.closedBy, 'client 4000');
  clock.advance(500);
  assert.equal(FakeSocket.all.length, before + 1);

  // An error frame ends the subscription: no reconnect.
  const last = FakeSocket.all.at(-1);
  last.open();
  last.send({ type: 'error', debate_id: 'd1', data: { code: 'not_found', message: 'no such debate' } });
  await new Promise((r) => setImmediate(r));
  assert.equal(states.at(-1)[0], 'failed');
  const count = FakeSocket.all.length;
  clock.advance(120000);
  assert.equal(FakeSocket.all.length, count);
  stream.stop();
  assert.equal(clock.count(), 0);

  // EventLog alone.
  const log = new EventLog();
  assert.deepEqual(log.accept(ev(2)), []);
  assert.equal(log.hasGap(), true);
  assert.deepEqual(log.accept(ev(1)).map((e) => e.seq), [1, 2]);
  assert.deepEqual(log.accept(ev(2)), []);
  assert.deepEqual(log.accept({ seq: 'x' }), []);
  assert.equal(log.duplicates, 1);
}
