// The debate list (`/` and `/debates`): GET /api/v1/debates?status=&limit=&offset=, newest
// first (the server's order), with a status filter, paging and a task search. The list
// API has no search parameter, so the search filters the rows of the page on screen and
// says so. Filter, search and page live in the URL (?status=&q=&page=&size=).

import { api } from '../lib/api.js';
import { clear, h } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { failure, percent, signInGate, statusBadge, timeEl, verdictBadge, yesNo } from './support/format.js';

const FILTERS = [
  ['', 'All'],
  ['active', 'Active (pending or running)'],
  ['pending', 'Pending'],
  ['running', 'Running'],
  ['completed', 'Completed'],
  ['no_consensus', 'Completed without consensus'],
  ['failed', 'Failed'],
  ['cancelled', 'Cancelled'],
];
const SIZES = [10, 20, 50, 100];
const REFRESH_MS = 5000;

function intParam(query, name, fallback, min, max) {
  const n = Number.parseInt(query.get(name) || '', 10);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

const listPage = {
  path: '/',
  title: 'Debates',
  async render(_params, ctx) {
    const state = {
      status: FILTERS.some(([v]) => v === ctx.query.get('status')) ? ctx.query.get('status') : '',
      q: ctx.query.get('q') || '',
      size: intParam(ctx.query, 'size', 20, 1, 100),
      page: intParam(ctx.query, 'page', 1, 1, 1e6),
    };
    let data = null;
    let timer = null;
    let seq = 0; // answers to older requests are dropped

    const statusSel = h('select', { id: 'f-status', name: 'status' }, FILTERS.map(([v, label]) => h('option', { value: v, selected: v === state.status }, label)));
    const search = h('input', { id: 'f-q', name: 'q', type: 'search', value: state.q, placeholder: 'words in the task', autocomplete: 'off', 'aria-describedby': 'f-q-hint' });
    const sizes = SIZES.includes(state.size) ? SIZES : [...SIZES, state.size].sort((a, b) => a - b);
    const sizeSel = h('select', { id: 'f-size', name: 'size' }, sizes.map((n) => h('option', { value: n, selected: n === state.size }, String(n))));
    const message = h('div', { 'data-testid': 'list-message' });
    const tbody = h('tbody', {});
    const table = h(
      'table',
      { 'data-testid': 'debate-table' },
      h('caption', { class: 'visually-hidden' }, 'Debates, newest first'),
      h('thead', {}, h('tr', {}, ['Task', 'Status', 'Agents', 'Consensus', 'Verdict', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody,
    );
    const range = h('p', { class: 'muted', 'data-testid': 'range', 'aria-live': 'polite' });
    const prev = h('button', { type: 'button', class: 'secondary', 'data-testid': 'prev' }, '← Newer');
    const next = h('button', { type: 'button', class: 'secondary', 'data-testid': 'next' }, 'Older →');
    const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');

    function syncUrl() {
      const q = new URLSearchParams();
      if (state.status) q.set('status', state.status);
      if (state.q) q.set('q', state.q);
      if (state.page > 1) q.set('page', String(state.page));
      if (state.size !== 20) q.set('size', String(state.size));
      const s = q.toString();
      history.replaceState(null, '', href(location.pathname.endsWith('/debates') ? '/debates' : '/') + (s ? `?${s}` : ''));
    }

    function rows() {
      const needle = state.q.trim().toLowerCase();
      const items = (data?.debates || data?.items || []).filter((d) => !needle || String(d.task).toLowerCase().includes(needle));
      clear(tbody);
      if (!items.length) {
        tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, needle ? 'No debate on this page matches the search.' : 'No debates.')));
      }
      for (const d of items) {
        tbody.append(
          h(
            'tr',
            { 'data-debate-id': d.id || d.debate_id },
            h('td', {}, h('a', { href: href(`/debates/${d.id || d.debate_id}`), 'data-link': `/debates/${d.id || d.debate_id}` }, d.task || '(no task)')),
            h('td', {}, statusBadge(d.status)),
            h('td', { class: 'small' }, (d.agents || []).join(', ')),
            h('td', {}, d.consensus_reached === null || d.consensus_reached === undefined ? '—' : `${yesNo(d.consensus_reached)} (${percent(d.confidence)})`),
            h('td', {}, verdictBadge(d.verdict)),
            h('td', {}, timeEl(d.created_at)),
          ),
        );
      }
      const total = data?.total ?? 0;
      const first = total ? (state.page - 1) * state.size + 1 : 0;
      const last = (state.page - 1) * state.size + (data?.count ?? (data?.debates || []).length);
      range.textContent = `Showing ${first}–${last} of ${total}${needle ? `; ${items.length} on this page match “${state.q.trim()}”` : ''}.`;
      prev.disabled = state.page <= 1;
      next.disabled = !data?.has_more;
    }

    async function load() {
      const mine = ++seq;
      clearTimeout(timer);
      timer = null;
      const gate = await signInGate('the debates');
      if (gate) {
        clear(message).append(gate);
        return;
      }
      const q = new URLSearchParams({ limit: String(state.size), offset: String((state.page - 1) * state.size) });
      if (state.status) q.set('status', state.status);
      try {
        const answer = await api(`/api/v1/debates?${q}`);
        if (mine !== seq) return;
        data = answer;
        clear(message);
        rows();
        // Refresh while some debate on the page is still moving.
        if ((data.debates || []).some((d) => d.status === 'pending' || d.status === 'running')) {
          timer = setTimeout(load, REFRESH_MS);
        }
      } catch (err) {
        if (mine !== seq) return;
        clear(message).append(failure(err, 'the debates'));
      }
      syncUrl();
    }

    statusSel.addEventListener('change', () => {
      state.status = statusSel.value;
      state.page = 1;
      load();
    });
    sizeSel.addEventListener('change', () => {
      state.size = Number(sizeSel.value);
      state.page = 1;
      load();
    });
    search.addEventListener('input', () => {
      state.q = search.value;
      if (data) rows();
      syncUrl();
    });
    prev.addEventListener('click', () => {
      if (state.page > 1) {
        state.page -= 1;
        load();
      }
    });
    next.addEventListener('click', () => {
      state.page += 1;
      load();
    });
    refresh.addEventListener('click', load);
    ctx.onCleanup = () => {
      seq += 1;
      clearTimeout(timer);
    };

    await load();
    return h(
      'section',
      { class: 'debates', 'data-testid': 'debates-page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Debates'), h('a', { class: 'button', href: href('/debates/new'), 'data-link': '/debates/new', 'data-testid': 'new-debate' }, 'Start a debate')),
      h(
        'form',
        { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
        h('div', { class: 'field' }, h('label', { for: 'f-status' }, 'Status'), statusSel),
        h('div', { class: 'field grow' }, h('label', { for: 'f-q' }, 'Search by task'), search,
          h('p', { id: 'f-q-hint', class: 'hint' }, 'Filters the debates on this page only: the list API has no search parameter.')),
        h('div', { class: 'field' }, h('label', { for: 'f-size' }, 'Per page'), sizeSel),
      ),
      message,
      h('div', { class: 'table-wrap' }, table),
      h('div', { class: 'pager' }, prev, range, next, refresh),
    );
  },
};

export default listPage;
// The same page at /debates.
export const debatesAlias = { ...listPage, path: '/debates' };
