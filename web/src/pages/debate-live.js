// The live debate view (`/debates/:id`): the debate's events over the WebSocket, rendered
// as they arrive (rounds, proposals, critiques, votes, streamed tokens, consensus and
// dissent), with reconnect-and-replay after a drop (support/debate-stream.js) and a
// cancel button for those allowed.
//
// Rendering stays cheap for large debates (12 rounds x 8 agents, ~900 events plus token
// deltas): events are queued and drawn once per animation frame, each event appends one
// element and nothing already drawn is rebuilt. Every drawn event carries data-seq (and
// data-type, data-agent), so tests can read the rendered list.

import { ApiError, api, basePath, session } from '../lib/api.js';
import { append, clear, h, notice } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { DebateStream } from './support/debate-stream.js';
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

const ROLE_LABEL = { proposer: 'proposal', reviser: 'revision', critic: 'critique', voter: 'vote', judge: 'judgement' };

function agentTag(name) {
  return h('span', { class: 'agent' }, name || 'system');
}

function list(items, cls) {
  if (!Array.isArray(items) || !items.length) return null;
  return h('ul', { class: cls }, items.map((x) => h('li', {}, String(x))));
}

// One row per event; `ctx` gives access to the view's state for the few types that
// update other parts of the page.
function eventRow(e) {
  const d = e.data || {};
  const attrs = { 'data-seq': e.seq, 'data-type': e.type, 'data-agent': e.agent || d.agent || '', class: `ev ev-${e.type}` };
  switch (e.type) {
    case 'debate_start':
      return h(
        'li',
        attrs,
        h('p', { class: 'ev-line' }, `Debate started: ${(d.agents || []).length} agents, ${d.total_rounds} round(s), ${d.consensus_method} consensus.`),
      );
    case 'round_start':
      return h('li', attrs, h('h2', { class: 'round-title', id: `round-${d.round_number}` }, `Round ${d.round_number} of ${d.total_rounds}`));
    case 'round_end':
      return h('li', attrs, h('p', { class: 'ev-line muted' }, `Round ${d.round_number} ended.`));
    case 'agent_message':
      return h(
        'li',
        attrs,
        h('div', { class: 'ev-head' }, agentTag(d.agent || e.agent), h('span', { class: 'tag' }, ROLE_LABEL[d.role] || d.role || 'message'),
          d.confidence !== undefined ? h('span', { class: 'muted' }, `confidence ${percent(d.confidence)}`) : null),
        h('p', { class: 'content' }, d.content || ''),
      );
    case 'critique':
      return h(
        'li',
        attrs,
        h('div', { class: 'ev-head' }, agentTag(d.critic || d.agent || e.agent), h('span', { class: 'tag' }, 'critique of'), agentTag(d.target_agent || d.target),
          h('span', { class: 'muted' }, `severity ${d.severity ?? '?'}/10`),
          h('meter', { min: 0, max: 10, value: Number(d.severity) || 0, 'aria-label': 'severity' })),
        list(d.issues, 'issues'),
        d.suggestions?.length ? h('p', { class: 'muted small' }, 'Suggestions:') : null,
        list(d.suggestions, 'suggestions'),
      );
    case 'vote':
      return h(
        'li',
        attrs,
        h('div', { class: 'ev-head' }, agentTag(d.agent || e.agent), h('span', { class: 'tag' }, 'votes for'), agentTag(d.choice),
          h('span', { class: 'muted' }, `confidence ${percent(d.confidence)}`)),
        d.reasoning ? h('p', { class: 'content' }, d.reasoning) : null,
      );
    case 'convergence':
      return h('li', attrs, h('p', { class: 'ev-line muted' }, `Convergence: ${d.status} (similarity ${percent(d.similarity)}).`));
    case 'hollow_consensus':
    case 'trickster_intervention':
      return h(
        'li',
        attrs,
        h('p', { class: 'ev-line warn' }, e.type === 'hollow_consensus' ? `Hollow consensus: evidence quality ${percent(d.evidence_quality)}.` : 'Trickster challenge injected into the next round:'),
        e.type === 'trickster_intervention' && d.challenge ? h('p', { class: 'content' }, d.challenge) : null,
      );
    case 'agent_error':
      return h('li', attrs, h('p', { class: 'ev-line bad' }, `${d.agent || e.agent} failed in ${d.phase}: ${d.code} — ${d.message}`));
    case 'consensus':
      return h(
        'li',
        attrs,
        h('div', { class: 'ev-head' }, h('strong', {}, d.reached ? 'Consensus reached' : 'No consensus'),
          h('span', { class: 'muted' }, `${d.method}, confidence ${percent(d.confidence)}`)),
        d.result ? h('p', { class: 'content' }, d.result) : null,
        h('p', { class: 'small' }, `Supporting: ${(d.supporting_agents || []).join(', ') || '—'}; dissenting: ${(d.dissenting_agents || []).join(', ') || '—'}`),
      );
    case 'token_start':
      return h(
        'li',
        { ...attrs, class: 'ev ev-token_start streaming' },
        h('div', { class: 'ev-head' }, agentTag(d.agent || e.agent), h('span', { class: 'tag' }, `${d.phase || 'reply'} (streaming)`)),
        h('p', { class: 'content stream-text' }),
      );
    case 'debate_end':
      return h(
        'li',
        attrs,
        h('p', { class: 'ev-line' }, `Debate ${d.status}${d.duration_seconds !== undefined ? ` after ${Number(d.duration_seconds).toFixed(1)} s` : ''}.`,
          d.receipt_id ? [' ', h('a', { href: href(`/receipts/${d.receipt_id}`), 'data-link': `/receipts/${d.receipt_id}` }, 'Open the receipt')] : null),
      );
    default:
      return h('li', attrs, h('p', { class: 'ev-line muted' }, `${e.type}${e.agent ? ` (${e.agent})` : ''}`));
  }
}

function streamKey(e) {
  const d = e.data || {};
  return `${d.round_number ?? e.round}|${d.agent || e.agent}|${d.phase || ''}`;
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
    let frame = 0; // a pending requestAnimationFrame id, or a timer id when frameIsTimer
    let frameIsTimer = false;
    let endedPending = false;
    const streams = new Map(); // streamKey → the stream's text element
    let lastSeq = 0;
    let roundsDone = 0;

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

    // Draws queued events within a time budget per frame; the rest waits for the next
    // frame, so a replay of a whole large debate never blocks the page for long.
    const FRAME_BUDGET_MS = 8;
    const CHUNK = 25;
    function flush() {
      frame = 0;
      const started = performance.now();
      let taken = 0;
      while (taken < queue.length && (taken === 0 || performance.now() - started < FRAME_BUDGET_MS)) {
        draw(queue.slice(taken, taken + CHUNK));
        taken += CHUNK;
      }
      queue = queue.slice(taken);
      if (queue.length) schedule();
      else if (endedPending) {
        endedPending = false;
        root.dataset.state = 'ended';
      }
      if (follow.checked) eventList.lastElementChild?.scrollIntoView({ block: 'end' });
    }

    function draw(batch) {
      const rows = document.createDocumentFragment();
      const deltas = new Map(); // stream element → fragment of delta spans
      for (const e of batch) {
        const d = e.data || {};
        lastSeq = e.seq;
        if (e.type === 'token_delta' || e.type === 'token_end') {
          let target = streams.get(streamKey(e));
          if (!target) {
            // A delta without its start (cannot happen with a gap-free stream): give it
            // a row of its own so nothing is lost.
            const row = eventRow({ ...e, type: 'token_start' });
            row.removeAttribute('data-seq');
            rows.append(row);
            target = row.querySelector('.stream-text');
            streams.set(streamKey(e), target);
          }
          let frag = deltas.get(target);
          if (!frag) deltas.set(target, (frag = document.createDocumentFragment()));
          if (e.type === 'token_delta') {
            frag.append(h('span', { 'data-seq': e.seq, 'data-type': e.type, 'data-agent': e.agent || d.agent || '' }, d.delta || ''));
          } else {
            frag.append(h('span', { class: 'stream-end muted', 'data-seq': e.seq, 'data-type': e.type, 'data-agent': e.agent || d.agent || '' }, ' (done)'));
            streams.delete(streamKey(e));
            target.closest('li')?.classList.remove('streaming');
          }
          continue;
        }
        const row = eventRow(e);
        rows.append(row);
        if (e.type === 'token_start') streams.set(streamKey(e), row.querySelector('.stream-text'));
        if (e.type === 'debate_start') setStatus('running');
        if (e.type === 'round_end') roundsDone = Math.max(roundsDone, Number(d.round_number) || 0);
        if (e.type === 'vote') votes.set(d.agent || e.agent, d);
        if (e.type === 'consensus') {
          lastConsensus = d;
          renderOutcome(d, null);
        }
        if (e.type === 'debate_end') {
          roundsDone = Math.max(roundsDone, Number(d.total_rounds) || 0);
          setStatus(d.status);
          renderOutcome(lastConsensus, d);
        }
      }
      for (const [target, frag] of deltas) target.append(frag);
      eventList.append(rows);
      progress.value = Math.min(roundsDone, Number(progress.max));
      progressText.textContent = `${roundsDone} of ${debate.rounds || '?'} rounds`;
      root.dataset.lastSeq = String(lastSeq);
      root.dataset.duplicates = String(stream.log.duplicates);
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
        endedPending = name === 'ended' && queue.length > 0;
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
      if (frame && frameIsTimer) clearTimeout(frame);
      else if (frame) cancelAnimationFrame(frame);
      frame = 0;
    };
    stream.start();
    return root;
  },
};
