// /admin/backups: disaster-recovery readiness (GET /api/v2/dr/status), backup counts (GET
// /api/v2/backups/stats), the backups (GET /api/v2/backups), "back up now" (POST
// /api/v2/backups) and verify one (POST /api/v2/backups/{id}/verify).

import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { adminPage } from './admin_shell.js';
import { badge, busy, code, dl, fmtBytes, fmtNumber, fmtTime, panel, statusLine, table } from './widgets.js';

function drPanel() {
  return panel(
    'Disaster-recovery readiness',
    () => api('/api/v2/dr/status'),
    (dr) => {
      const b = dr.backup_status || {};
      const rpo = dr.rpo_status || {};
      const sched = dr.scheduler || {};
      const list = (items) => (items?.length ? h('ul', {}, items.map((i) => h('li', {}, i))) : h('p', { class: 'muted' }, 'None.'));
      return h(
        'div',
        { class: 'cards' },
        h('div', { class: 'card' }, h('h3', {}, 'Readiness'), dl([
          ['Status', badge(dr.status)],
          ['Score', `${dr.readiness_score ?? '—'} / 100`],
          ['Backups', `${fmtNumber(b.total_backups)} (${fmtNumber(b.verified_backups)} verified, ${fmtNumber(b.failed_backups)} failed)`],
          ['Since last backup', b.hours_since_backup != null ? `${b.hours_since_backup} h` : 'never'],
          ['RPO', [badge(rpo.compliant ? 'met' : 'missed', rpo.compliant ? 'ok' : 'bad'), ` target ${rpo.target_hours} h`]],
          ['Last drill', dr.last_drill ? [badge(dr.last_drill.status), ' ', fmtTime(dr.last_drill.completed_at || dr.last_drill.started_at)] : 'never'],
        ])),
        h('div', { class: 'card' }, h('h3', {}, 'Schedule'), dl([
          ['Scheduled backups', badge(sched.enabled ? 'on' : 'off', sched.enabled ? 'ok' : 'warn')],
          ['Next backup', sched.next_backup_at ? fmtTime(sched.next_backup_at) : '—'],
          ['Next drill', sched.next_drill_at ? fmtTime(sched.next_drill_at) : '—'],
          ['Backup directory', dr.backup_dir ? code(dr.backup_dir) : '—'],
        ])),
        h('div', { class: 'card' }, h('h3', {}, 'Issues'), list(dr.issues), h('h3', {}, 'Recommendations'), list(dr.recommendations)),
      );
    },
    { id: 'dr' },
  );
}

function statsPanel() {
  return panel(
    'Backup statistics',
    () => api('/api/v2/backups/stats'),
    (data) => {
      const s = data.stats || data;
      const r = s.retention_policy || {};
      return dl([
        ['Total size', fmtBytes(s.total_size_bytes)],
        ['Latest backup', s.latest_backup ? [code(s.latest_backup.id), ' ', fmtTime(s.latest_backup.created_at)] : 'none'],
        ['Retention', `${r.keep_daily ?? '—'} daily, ${r.keep_weekly ?? '—'} weekly, ${r.keep_monthly ?? '—'} monthly (at least ${r.min_backups ?? '—'})`],
      ]);
    },
    { id: 'backup-stats' },
  );
}

function backupsPanel(status, refreshAll) {
  return panel(
    'Backups',
    () => api('/api/v2/backups?limit=50'),
    (data, reload) => {
      const verify = (button, b) => busy(button, async () => {
        try {
          const r = await api(`/api/v2/backups/${encodeURIComponent(b.id)}/verify`, { method: 'POST' });
          const ok = r.verified ?? r.success ?? r.valid;
          const problems = [...(r.errors || []), ...(r.failures || [])].map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
          status.show(`Backup ${b.id}: ${ok ? 'verified' : 'verification failed'}${problems.length ? ` — ${problems.join('; ')}` : ''}.`, ok ? 'ok' : 'error');
          await reload();
        } catch (err) {
          status.show(`Verifying ${b.id} failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
        }
        status.focus();
      });
      const total = data.pagination?.total ?? (data.backups || []).length;
      return h(
        'div',
        {},
        h('p', {}, `${fmtNumber(total)} backup(s), newest first.`),
        table('Backups', [
          { label: 'Id', cell: (b) => code(b.id) },
          { label: 'Created', cell: (b) => fmtTime(b.created_at) },
          { label: 'Type', cell: (b) => b.backup_type },
          { label: 'Status', cell: (b) => badge(b.status) },
          { label: 'Size', cell: (b) => `${fmtBytes(b.compressed_size_bytes ?? b.size_bytes)}` },
          { label: 'Verified', cell: (b) => (b.verified_at ? fmtTime(b.verified_at) : 'no') },
          { label: 'Storage', cell: (b) => b.storage_backend || '—' },
          {
            label: 'Action',
            cell: (b) => {
              const button = h('button', { type: 'button', class: 'secondary', 'aria-label': `Verify backup ${b.id}`, 'data-backup': b.id, onclick: () => verify(button, b) }, 'Verify');
              return button;
            },
          },
        ], data.backups || [], { empty: 'No backup yet.' }),
        h('div', { class: 'actions' }, (() => {
          const button = h('button', {
            type: 'button',
            'data-action': 'backup-now',
            onclick: () => busy(button, async () => {
              status.show('Backing up the database…');
              try {
                const r = await api('/api/v2/backups', { method: 'POST', body: {} });
                const b = r.backup || r;
                status.show(`Backup ${b.id} created (${b.status}).`, 'ok');
                await refreshAll();
              } catch (err) {
                status.show(`Backup failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
              }
              status.focus();
            }),
          }, 'Back up now');
          return button;
        })()),
      );
    },
    { id: 'backups' },
  );
}

export default {
  path: '/admin/backups',
  title: 'Backups',
  render() {
    return adminPage('/admin/backups', 'Backups', async () => {
      const status = statusLine();
      const dr = drPanel();
      const stats = statsPanel();
      const list = backupsPanel(status, () => Promise.all([dr.reload(), stats.reload(), list.reload()]));
      return [status, dr, stats, list];
    });
  },
};
