// The live debate view (`/debates/:id`): the debate's events over the WebSocket, rendered
// as they arrive (rounds, proposals, critiques, votes, streamed tokens, consensus and
// dissent), with reconnect-and-replay after a drop (support/debate-stream.js) and a
// cancel button for those allowed.
//
// Rendering stays cheap for large debates (12 rounds x 8 agents, ~10,000 events with
// token deltas; support/event-list.js): events are queued and drawn in one
// requestAnimationFrame callback per frame; a streamed reply is one Text node that each
// frame appends its deltas to; finished rounds collapse and leave the DOM (built again when
// opened); nothing in the frame reads layout. Following the newest events scrolls only while
// the reader stays at the bottom (decided by the reader's scrolling alone, never by growth),
// with one scrollTop write from a ResizeObserver callback, where layout is already done.

import { ApiError, api, basePath, session } from '../lib/api.js';
import { append, clear, h, notice } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { DebateStream } from './support/debate-stream.js';
import { EventListView } from './support/event-list.js';
import { download } from './support/download.js';
import { TERMINAL, failure, percent, signInGate, show, statusBadge, timeEl } from './support/format.js';

function wsUrl(debateId, fromSeq) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const q = new URLSearchParams({ debate_id: debateId });
  if (fromSeq > 0) q.set('replay_from_seq', String(fromSeq));
  return `${scheme}://${location.host}${basePath()}/ws?${q}`;
}

// Who may see the cancel button: with no signed-in user (open development mode or a
// service token) the server decides; viewers may not cancel; members may cancel their
// own debates (the server answers 403 for others'), admins and owners anyone's.
function mayCancel() {
  const user = session.user();
  return !user || user.role !== 'viewer';
}

export default {
  path: '/debates/:id',
  title: 'Debate',
  async render({ id }, ctx) {
    const gate = await signInGate('this debate');
    if (gate) return h('section', {}, h('h1', {}, 'Debate'), gate);
    let debate;
    try {
      debate = await api(`/api/v1/debates/${encodeURIComponent(id)}`);
    } catch (err) {
      return h('section', {}, h('h1', {}, 'Debate'), failure(err, 'this debate'));
    }

    const root = h('article', { class: 'debate-live', 'data-testid': 'debate-live', 'data-debate-id': id, 'data-last-seq': '0', 'data-state': 'connecting' });
    const statusSlot = h('span', {}, statusBadge(debate.status));
    const progress = h('progress', { max: debate.rounds || 1, value: 0, 'aria-label': 'Rounds completed' });
    const progressText = h('span', { class: 'muted' }, `0 of ${debate.rounds || '?'} rounds`);
    const conn = h('p', { class: 'conn', role: 'status', 'data-testid': 'ws-state' }, 'Connecting…');
    const actionError = h('div', { 'data-testid': 'action-error' });
    const cancelBtn = h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel' }, 'Cancel debate');
    const follow = h('input', { type: 'checkbox', id: 'follow', checked: !TERMINAL.has(debate.status) });
    const outcome = h('section', { class: 'outcome', 'data-testid': 'outcome', 'aria-labelledby': 'outcome-title', hidden: true });
    const eventList = h('ol', { class: 'events', id: 'event-list', 'data-testid': 'event-list' });

    show(cancelBtn, mayCancel() && !TERMINAL.has(debate.status));

    const exportBtn = (fmt, label) =>
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: async () => {
          clear(actionError);
          try {
            await download(`/api/v1/debates/${encodeURIComponent(id)}/export?format=${fmt}`, `${id}.${fmt}`);
          } catch (err) {
            actionError.append(notice(`Download failed: ${err.message}`, 'error'));
          }
        },
      }, label);

    root.append(
      h('p', { class: 'crumbs' }, h('a', { href: href('/'), 'data-link': '/' }, 'Debates'), ' / ', h('span', { class: 'mono' }, id)),
      h('h1', {}, 'Debate'),
      h('p', { class: 'task', 'data-testid': 'task' }, debate.task),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, statusSlot),
        h('dt', {}, 'Agents'), h('dd', {}, (debate.agents || []).join(', ')),
        h('dt', {}, 'Rounds'), h('dd', {}, progress, ' ', progressText),
        h('dt', {}, 'Consensus'), h('dd', {}, debate.consensus_method || '—'),
        h('dt', {}, 'Created'), h('dd', {}, timeEl(debate.created_at)),
      ),
      h('div', { class: 'actions' }, cancelBtn, exportBtn('md', 'Transcript (Markdown)'), exportBtn('json', 'Transcript (JSON)'),
        h('label', { class: 'inline', for: 'follow' }, follow, ' Follow new events')),
      actionError,
      conn,
      outcome,
      h('h2', { class: 'visually-hidden' }, 'Events'),
      eventList,
    );

    // --- state and the per-frame renderer -------------------------------------------------
    let status = debate.status;
    let queue = [];
    let head = 0; // queue[head..] waits to be drawn
    let frame = 0; // a pending requestAnimationFrame id, or a timer id when frameIsTimer
    let frameIsTimer = false;
    let endedPending = false;
    const view = new EventListView(eventList);
    let lastSeq = 0;
    let roundsDone = 0;
    let shownRounds = -1;

    function setStatus(next) {
      if (!next || next === status) return;
      status = next;
      clear(statusSlot).append(statusBadge(status));
      show(cancelBtn, mayCancel() && !TERMINAL.has(status));
    }

    function renderOutcome(consensus, end) {
      clear(outcome);
      const dissents = consensus?.dissenting_agents || [];
      append(outcome, [
        h('h2', { id: 'outcome-title' }, 'Outcome'),
        consensus
          ? [
              h('p', { 'data-testid': 'consensus' }, h('strong', {}, consensus.reached ? 'Consensus reached' : 'No consensus'),
                ` (${consensus.method}, confidence ${percent(consensus.confidence)}).`),
              consensus.result ? h('p', { class: 'content' }, consensus.result) : null,
              h('p', {}, `Supporting: ${(consensus.supporting_agents || []).join(', ') || '—'}`),
              h('p', { 'data-testid': 'dissent' }, `Dissenting: ${dissents.join(', ') || 'none'}`),
              dissents.length
                ? h('ul', { class: 'dissent-reasons' }, dissents.map((a) => h('li', {}, h('strong', {}, a), votes.has(a) ? `: voted for ${votes.get(a).choice} — ${votes.get(a).reasoning || ''}` : '')))
                : null,
            ]
          : null,
        end
          ? h('p', {}, `Debate ${end.status}.`, end.receipt_id
              ? [' ', h('a', { href: href(`/receipts/${end.receipt_id}`), 'data-link': `/receipts/${end.receipt_id}`, 'data-testid': 'receipt-link' }, 'Open the receipt')]
              : null)
          : null,
      ]);
      show(outcome, true);
    }

    let lastConsensus = null;
    const votes = new Map(); // agent → its vote's data (the dissent's reasons at the end)

    // One flush per frame: the queued events go into the model within a time budget (the
    // rest waits for the next frame, so a replay of a whole large debate never blocks the
    // page for long), then one DOM sync. Nothing here reads layout.
    const FRAME_BUDGET_MS = 6;
    const CHUNK = 64;
    function flush() {
      frame = 0;
      const started = performance.now();
      do {
        const stop = Math.min(queue.length, head + CHUNK);
        for (; head < stop; head += 1) take(queue[head]);
      } while (head < queue.length && performance.now() - started < FRAME_BUDGET_MS);
      if (head === queue.length) {
        queue = [];
        head = 0;
      }
      view.sync();
      if (roundsDone !== shownRounds) {
        shownRounds = roundsDone;
        progress.value = Math.min(roundsDone, Number(progress.max));
        progressText.textContent = `${roundsDone} of ${debate.rounds || '?'} rounds`;
      }
      root.dataset.lastSeq = String(lastSeq);
      root.dataset.events = String(view.count);
      root.dataset.duplicates = String(stream.log.duplicates);
      if (queue.length) schedule();
      else if (endedPending) {
        endedPending = false;
        root.dataset.state = 'ended';
      }
    }

    function take(e) {
      const d = e.data || {};
      lastSeq = e.seq;
      view.add(e);
      if (e.type === 'debate_start') setStatus('running');
      else if (e.type === 'round_end') roundsDone = Math.max(roundsDone, Number(d.round_number) || 0);
      else if (e.type === 'vote') votes.set(d.agent || e.agent, d);
      else if (e.type === 'consensus') {
        lastConsensus = d;
        renderOutcome(d, null);
      } else if (e.type === 'debate_end') {
        roundsDone = Math.max(roundsDone, Number(d.total_rounds) || 0);
        setStatus(d.status);
        renderOutcome(lastConsensus, d);
      }
    }

    function schedule() {
      if (frame) return;
      // Hidden tabs get no animation frames; a timer keeps the list current there.
      frameIsTimer = document.hidden;
      frame = frameIsTimer ? setTimeout(flush, 250) : requestAnimationFrame(flush);
    }

    function enqueue(events) {
      for (const e of events) queue.push(e);
      schedule();
    }

    // Following: `atBottom` says whether the reader is at (or within NEAR_BOTTOM_PX of) the
    // page's end, and only the reader's scrolling changes it: a scroll event (ours, after a
    // growth, lands at the end and keeps it true; a reader scrolling up sets it false, back
    // down true again). Growth never turns following off, even when the page's head alone is
    // taller than the viewport. The ResizeObserver runs after the frame's layout and before
    // paint and keeps the reader at the end with one scrollTop write. The scroll handler's
    // read comes at the start of a frame (scroll steps run before the frame's DOM work), at
    // most once per frame, and only when the page scrolled.
    const NEAR_BOTTOM_PX = 160;
    let atBottom = true;
    root.dataset.atBottom = 'true';
    const onScroll = () => {
      const scroller = document.scrollingElement;
      if (!scroller) return;
      atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - NEAR_BOTTOM_PX;
      root.dataset.atBottom = String(atBottom);
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    const growthWatch = new ResizeObserver(() => {
      if (!follow.checked || !atBottom) return;
      const scroller = document.scrollingElement;
      if (scroller) scroller.scrollTop = scroller.scrollHeight;
    });
    growthWatch.observe(eventList);
    growthWatch.observe(outcome);

    const STATE_TEXT = {
      connecting: (x) => `Connecting (from seq ${x.fromSeq})…`,
      open: () => 'Connected, replaying…',
      replaying: (x) => `Replaying ${x.count ?? ''} event(s)…`,
      live: (x) => `Live (seq ${x.lastSeq}).`,
      disconnected: (x) => `Connection lost${x.code ? ` (${x.code})` : ''}.`,
      reconnecting: (x) => `Reconnecting in ${(x.delayMs / 1000).toFixed(1)} s (attempt ${x.attempt})…`,
      'idle-timeout': () => 'No heartbeat: reconnecting…',
      ended: () => 'The debate has ended.',
      failed: (x) => `Stream closed: ${x.message}`,
      warning: (x) => `Server warning: ${x.message}`,
      'poll-failed': (x) => `Polling failed: ${x.message}`,
    };

    const stream = new DebateStream({
      debateId: id,
      url: (from) => wsUrl(id, from),
      protocols: () => {
        const token = session.accessToken();
        return token ? [`access_token.${token}`] : [];
      },
      onEvents: enqueue,
      onState: (name, detail) => {
        // 'ended' shows once every event is drawn (tests wait for it, then read the list).
        endedPending = name === 'ended' && queue.length > head;
        if (!endedPending) root.dataset.state = name;
        root.dataset.connects = String(stream.connects);
        root.dataset.replayFrom = String(stream.lastFromSeq ?? 0);
        const text = STATE_TEXT[name]?.(detail);
        if (text) conn.textContent = text;
        conn.className = `conn conn-${name}`;
      },
      fetchSince: (seq) => api(`/api/v1/debates/${encodeURIComponent(id)}/events?since=${seq}&limit=500`),
      refreshAuth: async () => {
        const before = session.accessToken();
        try {
          await api('/api/v1/auth/me');
        } catch {
          return false;
        }
        return session.accessToken() !== before;
      },
    });

    cancelBtn.addEventListener('click', async () => {
      clear(actionError);
      cancelBtn.disabled = true;
      try {
        const res = await api(`/api/v1/debates/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
        setStatus(res.status || 'cancelled');
        actionError.append(notice(res.message || 'Debate cancelled.', 'ok'));
      } catch (err) {
        const why = err instanceof ApiError && err.status === 403 ? 'You may not cancel this debate.' : err.message;
        actionError.append(notice(`Cancel failed: ${why}`, 'error'));
      } finally {
        cancelBtn.disabled = false;
      }
    });

    ctx.onCleanup = () => {
      stream.stop();
      window.removeEventListener('scroll', onScroll);
      growthWatch.disconnect();
      if (frame && frameIsTimer) clearTimeout(frame);
      else if (frame) cancelAnimationFrame(frame);
      frame = 0;
    };
    stream.start();
    return root;
  },
};
