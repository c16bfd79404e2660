// The receipt list (`/receipts`): GET /api/v2/receipts?debate_id=&limit=&offset=, newest
// first, with paging and a filter by debate id (a parameter of the API). Page and filter
// live in the URL (?debate_id=&page=).

import { api } from '../lib/api.js';
import { clear, h } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { failure, percent, signInGate, timeEl, verdictBadge } from './support/format.js';

const PAGE_SIZE = 20;

export default {
  path: '/receipts',
  title: 'Receipts',
  async render(_params, ctx) {
    const state = {
      debateId: ctx.query.get('debate_id') || '',
      page: Math.max(1, Number.parseInt(ctx.query.get('page') || '1', 10) || 1),
    };
    let seq = 0;
    const debateInput = h('input', { id: 'r-debate', name: 'debate_id', type: 'search', value: state.debateId, placeholder: 'd_…', autocomplete: 'off', pattern: '[A-Za-z0-9_-]{1,128}' });
    const message = h('div', { 'data-testid': 'list-message' });
    const tbody = h('tbody', {});
    const range = h('p', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'range' });
    const prev = h('button', { type: 'button', class: 'secondary' }, '← Newer');
    const next = h('button', { type: 'button', class: 'secondary' }, 'Older →');

    function syncUrl() {
      const q = new URLSearchParams();
      if (state.debateId) q.set('debate_id', state.debateId);
      if (state.page > 1) q.set('page', String(state.page));
      const s = q.toString();
      history.replaceState(null, '', href('/receipts') + (s ? `?${s}` : ''));
    }

    async function load() {
      const mine = ++seq;
      const gate = await signInGate('the receipts');
      if (gate) {
        clear(message).append(gate);
        return;
      }
      const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((state.page - 1) * PAGE_SIZE) });
      if (state.debateId) q.set('debate_id', state.debateId);
      try {
        const body = await api(`/api/v2/receipts?${q}`);
        if (mine !== seq) return;
        clear(message);
        clear(tbody);
        const items = body.receipts || [];
        if (!items.length) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No receipts.')));
        for (const r of items) {
          const algorithms = (r.signatures || []).map((s) => s.algorithm).join(', ');
          tbody.append(
            h(
              'tr',
              { 'data-receipt-id': r.receipt_id },
              h('td', {}, h('a', { href: href(`/receipts/${r.receipt_id}`), 'data-link': `/receipts/${r.receipt_id}`, class: 'mono' }, r.receipt_id)),
              h('td', {}, h('a', { href: href(`/debates/${r.debate_id}`), 'data-link': `/debates/${r.debate_id}` }, r.question || r.input_summary || r.debate_id)),
              h('td', {}, verdictBadge(r.verdict)),
              h('td', {}, percent(r.confidence)),
              h('td', { class: 'small' }, algorithms || 'unsigned'),
              h('td', {}, timeEl(r.created_at || r.timestamp)),
            ),
          );
        }
        const p = body.pagination || {};
        const total = p.total ?? items.length;
        const first = items.length ? (state.page - 1) * PAGE_SIZE + 1 : 0;
        range.textContent = `Showing ${first}–${first ? first + items.length - 1 : 0} of ${total}.`;
        prev.disabled = state.page <= 1;
        next.disabled = !p.has_more;
      } catch (err) {
        if (mine !== seq) return;
        clear(message).append(failure(err, 'the receipts'));
      }
      syncUrl();
    }

    const form = h(
      'form',
      {
        class: 'filters',
        role: 'search',
        onsubmit: (e) => {
          e.preventDefault();
          state.debateId = debateInput.value.trim();
          state.page = 1;
          load();
        },
      },
      h('div', { class: 'field grow' }, h('label', { for: 'r-debate' }, 'Debate id'), debateInput),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')),
    );
    prev.addEventListener('click', () => {
      state.page = Math.max(1, state.page - 1);
      load();
    });
    next.addEventListener('click', () => {
      state.page += 1;
      load();
    });
    ctx.onCleanup = () => {
      seq += 1;
    };
    await load();
    return h(
      'section',
      { class: 'receipts', 'data-testid': 'receipts-page' },
      h('h1', {}, 'Receipts'),
      form,
      message,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { 'data-testid': 'receipt-table' },
          h('caption', { class: 'visually-hidden' }, 'Decision receipts, newest first'),
          h('thead', {}, h('tr', {}, ['Receipt', 'Debate', 'Verdict', 'Confidence', 'Signatures', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
          tbody,
        ),
      ),
      h('div', { class: 'pager' }, prev, range, next),
    );
  },
};
