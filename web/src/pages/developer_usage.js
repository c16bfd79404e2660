// /developer/usage: debates, agent calls and tokens by provider (GET
// /api/v1/billing/usage?period=). Admins see everyone's usage, by user and organisation;
// others their own.

import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { developerPage } from './developer.js';
import { code, field, fmtNumber, fmtTime, panel, table } from './widgets.js';

const PERIODS = [['day', 'Last 24 hours'], ['week', 'Last 7 days'], ['month', 'Last 30 days'], ['year', 'Last 365 days'], ['all', 'All time']];

function tallyTable(caption, firstLabel, entries) {
  return table(caption, [
    { label: firstLabel, cell: ([k]) => code(k) },
    { label: 'Debates', cell: ([, t]) => (t.debates !== undefined ? fmtNumber(t.debates) : '—') },
    { label: 'Calls', cell: ([, t]) => fmtNumber(t.agent_calls ?? t.calls) },
    { label: 'Input tokens', cell: ([, t]) => fmtNumber(t.input_tokens) },
    { label: 'Output tokens', cell: ([, t]) => fmtNumber(t.output_tokens) },
    { label: 'Total tokens', cell: ([, t]) => fmtNumber(t.total_tokens) },
  ], entries, { empty: 'No usage in this period.' });
}

function usagePanel() {
  let period = 'month';
  const select = h('select', {
    onchange: () => {
      period = select.value;
      section.reload();
    },
  }, PERIODS.map(([v, text]) => h('option', { value: v, selected: v === period }, text)));
  const section = panel(
    'Usage',
    () => api(`/api/v1/billing/usage?period=${encodeURIComponent(period)}`),
    (u) => h(
      'div',
      {},
      h('p', {}, u.scope === 'all' ? 'Everyone\'s usage (you are an administrator).' : 'Your own usage.',
        ' From ', u.since ? fmtTime(u.since) : 'the beginning', ' to ', fmtTime(u.until), '.'),
      h('div', { class: 'stats', 'data-usage': 'totals' },
        [['Debates', u.debates], ['Agent calls', u.agent_calls], ['Input tokens', u.input_tokens], ['Output tokens', u.output_tokens], ['Total tokens', u.total_tokens]]
          .map(([k, v]) => h('div', { class: 'stat' }, h('span', { class: 'stat-value' }, fmtNumber(v)), h('span', { class: 'stat-label' }, k)))),
      h('h3', {}, 'By provider'),
      tallyTable('Usage by provider', 'Provider', Object.entries(u.tokens_by_provider || {})),
      u.scope === 'all' ? [h('h3', {}, 'By user'), tallyTable('Usage by user', 'User', Object.entries(u.by_user || {})),
        h('h3', {}, 'By organisation'), tallyTable('Usage by organisation', 'Organisation', Object.entries(u.by_org || {}))] : null,
      u.truncated ? h('p', { class: 'notice notice-warn' }, 'Only the newest 100,000 debates are counted.') : null,
    ),
    { id: 'usage', tools: h('div', { class: 'toolbar' }, field('Period', select)) },
  );
  return section;
}

export default {
  path: '/developer/usage',
  title: 'Usage',
  render() {
    return developerPage('/developer/usage', 'Usage', async () => [usagePanel()]);
  },
};
