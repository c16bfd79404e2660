// The live view's event list (pages/debate-live.js): a model of the debate's events and a
// DOM that stays small and cheap to update while tokens stream.
//
//  - add(event) only updates the model (no DOM); sync() then does the DOM work for what
//    changed since the last sync, once per animation frame (the caller's flush).
//  - A streamed reply (token_start, token_delta..., token_end) is one row whose text is a
//    single Text node: every frame appends the frame's deltas to it with one appendData.
//    Which characters came from which delta stays readable for tests and tools:
//    the text element carries data-token-seqs (the deltas' seqs, in order) and
//    data-token-ends (the text length after each delta), so the k-th delta's text is
//    text.slice(ends[k-1] ?? 0, ends[k]). The token_end is a small marker element.
//  - Every round is a group (<details>, its summary the round's title): the current round
//    is open; when the next round starts, the finished ones collapse and their rows are
//    dropped from the DOM (a round a person opened stays open). A collapsed round's rows
//    are built again from the model when it is opened (keyboard or mouse), so the DOM
//    holds about one round however long the debate.
//  - An agent_retry / agent_fallback with restart: true voids the stream its agent was
//    streaming (round, agent, phase): the row says so and hides the text (kept in the
//    node for the seq accounting); the next token_start opens a new row.
//  - Every drawn event carries data-seq (and data-type, data-agent), except the token
//    deltas (above); the round group's <li> is the round_start's row.

import { h } from '../../lib/dom.js';
import { href } from '../../lib/router.js';
import { percent } from './format.js';

const ROLE_LABEL = { proposer: 'proposal', reviser: 'revision', critic: 'critique', voter: 'vote', judge: 'judgement' };

function agentTag(name) {
  return h('span', { class: 'agent' }, name || 'system');
}

function list(items, cls) {
  if (!Array.isArray(items) || !items.length) return null;
  return h('ul', { class: cls }, items.map((x) => h('li', {}, String(x))));
}

function agentOf(e) {
  return e.agent || e.data?.agent || '';
}

function attrsOf(e) {
  return { 'data-seq': e.seq, 'data-type': e.type, 'data-agent': agentOf(e), class: `ev ev-${e.type}` };
}

// One row per event (not token_* nor round_start: streams and groups below).
export function eventRow(e) {
  const d = e.data || {};
  const attrs = attrsOf(e);
  switch (e.type) {
    case 'debate_start':
      return h(
        'li',
        attrs,
        h('p', { class: 'ev-line' }, `Debate started: ${(d.agents || []).length} agents, ${d.total_rounds} round(s), ${d.consensus_method} consensus.`),
      );
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

// Streams are told apart by round, agent and phase (the events carry no stream id). The
// critique phase can run two streams of one agent at once: deltas go to the newest open
// stream of the key, a token_end closes the oldest.
function streamKey(e) {
  const d = e.data || {};
  return `${d.round_number ?? e.round}|${agentOf(e)}|${d.phase || ''}`;
}

// A streamed reply: the model (its text and per-delta boundaries) and, while its row is in
// the DOM, the row's nodes.
class Stream {
  constructor(start, orphan) {
    this.start = start; // the token_start event (for an orphan, the first event seen)
    this.orphan = orphan; // no token_start was seen: the row has no data-seq
    this.agent = agentOf(start);
    this.phase = start.data?.phase || 'reply';
    this.text = '';
    this.seqs = [];
    this.ends = [];
    this.end = null; // the token_end event
    this.cut = false; // the debate ended before the token_end
    this.void = null; // the agent_retry/agent_fallback that made this attempt's text void
    this.row = null; // the <li> while in the DOM
    this.textEl = null;
    this.node = null; // the Text node
    this.shownDeltas = 0; // deltas already in node / attributes
    this.endShown = false;
  }

  buildRow() {
    const attrs = this.orphan
      ? { 'data-type': 'token_start', 'data-agent': this.agent, class: 'ev ev-token_start' }
      : { ...attrsOf(this.start), class: 'ev ev-token_start' };
    this.node = document.createTextNode('');
    this.textEl = h('p', { class: 'content stream-text' }, this.node);
    this.row = h(
      'li',
      attrs,
      h('div', { class: 'ev-head' }, agentTag(this.agent), h('span', { class: 'tag' }, `${this.phase} (streaming)`)),
      this.textEl,
    );
    this.shownDeltas = 0;
    this.endShown = false;
    if (!this.end && !this.cut && !this.void) {
      this.row.classList.add('streaming');
      this.row.setAttribute('aria-busy', 'true');
    }
    this.sync();
    return this.row;
  }

  dropRow() {
    this.row = this.textEl = this.node = null;
  }

  // Brings the row up to date: one appendData and two attribute writes for all the deltas
  // since the last sync, and the end marker.
  sync() {
    if (!this.node) return;
    if (this.shownDeltas < this.seqs.length) {
      const from = this.shownDeltas ? this.ends[this.shownDeltas - 1] : 0;
      this.node.appendData(this.text.slice(from));
      this.shownDeltas = this.seqs.length;
      this.textEl.dataset.tokenSeqs = this.seqs.join(' ');
      this.textEl.dataset.tokenEnds = this.ends.join(' ');
    }
    if (this.end && !this.endShown) {
      this.endShown = true;
      this.textEl.append(h('span', { class: 'stream-end muted', 'data-seq': this.end.seq, 'data-type': 'token_end', 'data-agent': agentOf(this.end) }, ' (done)'));
    }
    if (this.void && !this.row.classList.contains('void')) {
      // The attempt's text is dropped from view (docs/engine.md "A restarted stream"); it
      // stays in the node, hidden, so that every delta's seq is still accounted for.
      this.row.classList.add('void');
      this.row.querySelector('.tag').textContent = `${this.phase} (attempt discarded: ${this.void.data?.fault || 'retried'})`;
    }
    if (this.end || this.cut || this.void) {
      this.row.classList.remove('streaming');
      this.row.removeAttribute('aria-busy');
    }
  }
}

const COUNTED = { agent_message: 'message', critique: 'critique', vote: 'vote', agent_error: 'error' };

// A container of rows: the list's top level or one round. `items` are events, streams and
// (top level only) rounds, in order; `shown` of them have rows in `body` (when it exists).
class Container {
  constructor() {
    this.items = [];
    this.shown = 0;
    this.body = null;
  }
}

class Round extends Container {
  constructor(view, start) {
    super();
    this.view = view;
    this.start = start;
    this.number = Number(start.data?.round_number) || Number(start.round) || 0;
    this.counts = {};
    this.userOpened = false; // opened or kept open by a person: never collapsed for them
    this.counter = h('span', { class: 'muted small round-counts' });
    this.details = h(
      'details',
      { class: 'round', open: true },
      h('summary', {}, h('h2', { class: 'round-title', id: `round-${this.number}` }, `Round ${this.number} of ${start.data?.total_rounds ?? '?'}`), ' ', this.counter),
    );
    this.row = h('li', { ...attrsOf(start), class: 'ev ev-round_start round-group' }, this.details);
    this.details.addEventListener('click', (ev) => {
      if (ev.target.closest('summary')?.parentElement === this.details) this.userOpened = !this.details.open;
    });
    // Opening (any way: mouse, keyboard, find-in-page, a script) builds the rows;
    // closing drops them.
    this.details.addEventListener('toggle', () => {
      if (this.details.open && !this.body) this.build();
      else if (!this.details.open && this.body) this.drop();
    });
    this.build();
  }

  count(e) {
    const k = COUNTED[e.type];
    if (k) this.counts[k] = (this.counts[k] || 0) + 1;
  }

  showCounts() {
    const parts = Object.entries(this.counts).map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`);
    this.counter.textContent = parts.length ? `(${parts.join(', ')})` : '';
  }

  build() {
    this.body = h('ol', { class: 'events round-events' });
    this.shown = 0;
    this.details.append(this.body);
    this.view.syncContainer(this);
  }

  drop() {
    for (const it of this.items) if (it instanceof Stream) it.dropRow();
    this.body.remove();
    this.body = null;
    this.shown = 0;
  }

  collapse() {
    this.showCounts();
    if (this.userOpened || !this.details.open) return;
    this.details.open = false;
    if (this.body) this.drop();
  }
}

export class EventListView {
  constructor(listEl) {
    this.top = new Container();
    this.top.body = listEl;
    this.rounds = [];
    this.current = null; // the round events are added to
    this.open = new Map(); // streamKey → open streams, oldest first
    this.dirty = new Set(); // containers with items not yet drawn
    this.dirtyStreams = new Set();
    this.count = 0; // events taken
  }

  add(e) {
    this.count += 1;
    const target = this.current || this.top;
    switch (e.type) {
      case 'round_start': {
        for (const r of this.rounds) r.collapse();
        const round = new Round(this, e);
        this.rounds.push(round);
        this.current = round;
        this.push(this.top, round);
        return;
      }
      case 'debate_start':
      case 'consensus':
      case 'debate_end':
        if (e.type !== 'debate_start') this.current?.showCounts();
        if (e.type === 'debate_end') this.cutOpenStreams();
        this.push(this.top, e);
        return;
      case 'token_start': {
        const s = new Stream(e, false);
        this.openStreams(e).push(s);
        this.push(target, s);
        return;
      }
      case 'token_delta':
      case 'token_end': {
        const streams = this.openStreams(e);
        let s = e.type === 'token_delta' ? streams[streams.length - 1] : streams[0];
        if (!s) {
          // A delta or end without its start (cannot happen with a gap-free stream): a row of
          // its own so that nothing is lost.
          s = new Stream(e, true);
          streams.push(s);
          this.push(target, s);
        }
        if (e.type === 'token_delta') {
          s.text += e.data?.delta || '';
          s.seqs.push(e.seq);
          s.ends.push(s.text.length);
        } else {
          s.end = e;
          streams.splice(streams.indexOf(s), 1);
        }
        if (s.node) this.dirtyStreams.add(s);
        return;
      }
      case 'agent_retry':
      case 'agent_fallback':
        // restart: the agent's attempt that was streaming is void and the next token_start
        // of the key opens the stream anew; no token_end closes the void one.
        if (e.data?.restart === true) {
          const streams = this.openStreams(e);
          const s = streams.pop();
          if (s) {
            s.void = e;
            if (s.node) this.dirtyStreams.add(s);
          }
        }
        if (target instanceof Round) target.count(e);
        this.push(target, e);
        return;
      default:
        if (target instanceof Round) target.count(e);
        this.push(target, e);
    }
  }

  // A debate that ends (cancelled, failed) with replies still streaming: they stop
  // showing as streaming; their text stays as far as it came.
  cutOpenStreams() {
    for (const streams of this.open.values()) {
      for (const s of streams) {
        s.cut = true;
        if (s.node) this.dirtyStreams.add(s);
      }
    }
    this.open.clear();
  }

  openStreams(e) {
    const key = streamKey(e);
    let streams = this.open.get(key);
    if (!streams) this.open.set(key, (streams = []));
    return streams;
  }

  push(container, item) {
    container.items.push(item);
    if (container.body) this.dirty.add(container);
  }

  // Draws the rows not yet in a container's body.
  syncContainer(c) {
    if (!c.body || c.shown === c.items.length) return;
    const rows = document.createDocumentFragment();
    for (; c.shown < c.items.length; c.shown += 1) {
      const it = c.items[c.shown];
      if (it instanceof Round) rows.append(it.row);
      else if (it instanceof Stream) rows.append(it.buildRow());
      else rows.append(eventRow(it));
    }
    c.body.append(rows);
  }

  // The DOM work for everything added since the last sync.
  sync() {
    for (const c of this.dirty) this.syncContainer(c);
    this.dirty.clear();
    for (const s of this.dirtyStreams) s.sync();
    this.dirtyStreams.clear();
  }
}
