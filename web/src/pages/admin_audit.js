// /admin/audit: the audit log, newest first, with the server's hash-chain check (GET
// /api/v1/audit?limit=&since=). Actor and target ids are shown with the user's email when
// the user list (GET /api/v1/admin/users) knows them.

import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { adminPage } from './admin_shell.js';
import { badge, code, field, fmtTime, panel, table } from './widgets.js';

function who(id, emails) {
  if (!id) return '—';
  const email = emails.get(id);
  return email ? h('span', { title: id }, email) : code(id);
}

function details(value) {
  if (!value || (typeof value === 'object' && !Object.keys(value).length)) return '';
  return code(JSON.stringify(value));
}

function auditPanel() {
  let limit = 100;
  let since = '';
  const limitSelect = h('select', {}, [50, 100, 500, 1000].map((n) => h('option', { value: n, selected: n === limit }, String(n))));
  const sinceInput = h('input', { type: 'datetime-local', step: '1' });
  const apply = h('button', { type: 'submit', class: 'secondary' }, 'Apply');
  const tools = h('form', {
    class: 'toolbar',
    'aria-label': 'Audit log filter',
    onsubmit: (event) => {
      event.preventDefault();
      limit = Number(limitSelect.value);
      since = sinceInput.value ? new Date(sinceInput.value).toISOString() : '';
      section.reload();
    },
  }, field('Entries', limitSelect), field('Since (your local time)', sinceInput), h('div', { class: 'actions' }, apply));

  const section = panel(
    'Audit log',
    async () => {
      const q = new URLSearchParams({ limit: String(limit) });
      if (since) q.set('since', since);
      const [log, users] = await Promise.all([
        api(`/api/v1/audit?${q}`),
        api('/api/v1/admin/users').catch(() => ({ users: [] })),
      ]);
      return { log, emails: new Map((users.users || []).map((u) => [u.id, u.email])) };
    },
    ({ log, emails }) => {
      const chain = log.chain || {};
      return h(
        'div',
        {},
        h('p', { 'data-chain': chain.ok ? 'ok' : 'broken' },
          'Hash chain: ', chain.ok ? badge('intact', 'ok') : badge(`broken at entry ${chain.first_bad_seq}`, 'bad'),
          ` (${chain.rows ?? '—'} entries checked). Each entry's hash covers the previous one, so an edited or removed entry breaks the chain.`),
        table('Audit log', [
          { label: '#', cell: (e) => String(e.seq) },
          { label: 'Time', cell: (e) => fmtTime(e.timestamp) },
          { label: 'Actor', cell: (e) => who(e.actor, emails) },
          { label: 'Action', cell: (e) => code(e.action) },
          { label: 'Target', cell: (e) => who(e.target, emails) },
          { label: 'Details', cell: (e) => details(e.details) },
          { label: 'IP', cell: (e) => e.ip || '—' },
          { label: 'Correlation id', cell: (e) => (e.correlation_id ? code(e.correlation_id) : '—') },
        ], log.entries || [], { empty: 'No audit entry in this range.' }),
      );
    },
    { id: 'audit', tools },
  );
  return section;
}

export default {
  path: '/admin/audit',
  title: 'Audit log',
  render() {
    return adminPage('/admin/audit', 'Audit log', async () => [auditPanel()]);
  },
};
