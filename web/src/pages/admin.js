// /admin: health and readiness (GET /api/v1/health, /readyz), circuit breakers with reset
// (GET /api/v1/system/circuit-breakers, POST /api/v1/agents/{name}/reset-circuit), rate
// limits (GET /api/v1/system/rate-limits) and recent errors (GET /api/v1/system/errors).

import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { adminPage } from './admin_shell.js';
import {
  badge, busy, code, dl, field, fmtDuration, fmtNumber, fmtTime, panel, statusLine, table,
} from './widgets.js';

// Health answers 503 with its document when unhealthy, /readyz 503 while not ready: both
// bodies are wanted, so read them raw.
async function jsonOf(path) {
  const res = await api(path, { raw: true });
  const body = await res.json().catch(() => null);
  if (!body) throw Object.assign(new Error(`${path}: ${res.status} ${res.statusText}`), { status: res.status });
  return { status: res.status, body };
}

function healthPanel() {
  return panel(
    'Health and readiness',
    async () => {
      const [health, ready] = await Promise.all([jsonOf('/api/v1/health'), jsonOf('/readyz')]);
      return { health: health.body, ready: ready.body };
    },
    ({ health, ready }) => {
      const c = health.checks || {};
      const cb = c.circuit_breakers || {};
      const readyChecks = ready.checks
        ? Object.entries(ready.checks).map(([k, v]) => `${k}: ${v}`).join(', ')
        : ready.reason;
      return h(
        'div',
        { class: 'cards' },
        h('div', { class: 'card' }, h('h3', {}, 'Service'), dl([
          ['Status', badge(health.status)],
          ['Readiness', [badge(ready.status), ' ', readyChecks || '']],
          ['Version', health.version],
          ['Uptime', fmtDuration(health.uptime_seconds)],
          ['Auth', badge(health.auth?.mode === 'open' ? 'open mode' : health.auth?.mode || 'unknown')],
          ['Checked', fmtTime(health.timestamp)],
        ])),
        h('div', { class: 'card' }, h('h3', {}, 'Dependencies'), dl([
          ['Database', c.database && [badge(c.database.status), ` ${c.database.backend || ''} ${c.database.latency_ms ?? '—'} ms`]],
          ['Redis', c.redis && [badge(c.redis.status), c.redis.latency_ms != null ? ` ${c.redis.latency_ms} ms` : '']],
          ['WebSocket', c.websocket && `${fmtNumber(c.websocket.connections)} of ${fmtNumber(c.websocket.max_connections)} connections`],
        ])),
        h('div', { class: 'card' }, h('h3', {}, 'Load'), dl([
          ['Debates running', fmtNumber(c.active_debates)],
          ['Debates queued', fmtNumber(c.queued_debates)],
          ['Memory', c.memory_mb != null ? `${c.memory_mb} MB` : null],
          ['Breakers', `${fmtNumber(cb.open)} open, ${fmtNumber(cb.half_open)} half-open, ${fmtNumber(cb.closed)} closed`],
        ])),
        health.warning ? h('p', { class: 'notice notice-warn' }, health.warning) : null,
      );
    },
    { id: 'health' },
  );
}

function breakersPanel() {
  const status = statusLine();
  return panel(
    'Circuit breakers',
    () => api('/api/v1/system/circuit-breakers'),
    (data, reload) => {
      const s = data.summary || {};
      const reset = async (button, name) => {
        await busy(button, async () => {
          try {
            const r = await api(`/api/v1/agents/${encodeURIComponent(name)}/reset-circuit`, { method: 'POST' });
            status.show(`${name}: ${r.message || 'reset'} (${(r.reset || []).length} breaker(s) closed).`, 'ok');
            await reload();
            status.focus();
          } catch (err) {
            status.show(`Reset of ${name} failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
          }
        });
      };
      return h(
        'div',
        {},
        h('p', {}, `${fmtNumber(s.total)} breaker(s): ${fmtNumber(s.open)} open, ${fmtNumber(s.half_open)} half-open, ${fmtNumber(s.closed)} closed. `,
          'A breaker opens after repeated failures of one provider model and closes by itself after its cooldown; reset closes it now.'),
        table('Circuit breakers', [
          { label: 'Agent', cell: (b) => code(b.name) },
          { label: 'State', cell: (b) => badge(b.state) },
          { label: 'Failures', cell: (b) => `${fmtNumber(b.consecutive_failures)} / ${fmtNumber(b.failure_threshold)}` },
          { label: 'Opened', cell: (b) => fmtTime(b.opened_at) },
          { label: 'Cooldown', cell: (b) => `${b.cooldown_seconds ?? '—'} s` },
          {
            label: 'Action',
            cell: (b) => {
              const button = h('button', {
                type: 'button',
                class: b.state === 'closed' ? 'secondary' : '',
                'aria-label': `Reset breaker ${b.name}`,
                'data-breaker': b.name,
                onclick: () => reset(button, b.name),
              }, 'Reset');
              return button;
            },
          },
        ], data.breakers || [], { empty: 'No breaker yet: breakers appear once a provider agent has been called (demo agents have none).' }),
        status,
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', 'data-action': 'refresh', onclick: () => reload() }, 'Refresh')),
      );
    },
    { id: 'breakers' },
  );
}

function rateLimitsPanel() {
  return panel(
    'Rate limits',
    () => api('/api/v1/system/rate-limits'),
    (data) => {
      const limiters = Object.entries(data.limiters || {});
      const cfg = data.config || {};
      return h(
        'div',
        {},
        dl([
          ['Enabled', data.enabled ? badge('on', 'ok') : badge('off (ARAGORA_RATE_LIMIT_DISABLED)', 'warn')],
          ['Backend', data.backend],
          ['Algorithm', cfg.algorithm && `${cfg.algorithm}, ${cfg.window_seconds} s window`],
          ['Whitelist', cfg.whitelist || 'none'],
          ['Trusted proxies', cfg.trusted_proxies || 'none'],
        ]),
        table('Rate limiters', [
          { label: 'Limiter', cell: ([name]) => name },
          { label: 'Limit / min', cell: ([, l]) => (l.limit_per_minute ? fmtNumber(l.limit_per_minute) : 'off') },
          { label: 'Tracked keys', cell: ([, l]) => `${fmtNumber(l.tracked_keys)} of ${fmtNumber(l.max_keys)}` },
          { label: 'Allowed', cell: ([, l]) => fmtNumber(l.allowed_total) },
          { label: 'Limited', cell: ([, l]) => fmtNumber(l.limited_total) },
          { label: 'Evicted', cell: ([, l]) => fmtNumber(l.evicted_total) },
        ], limiters, { empty: 'Rate limiting is not configured.' }),
      );
    },
    { id: 'rate-limits' },
  );
}

function errorsPanel() {
  let limit = 20;
  const select = h('select', {
    onchange: () => {
      limit = Number(select.value);
      section.reload();
    },
  }, [10, 20, 50, 200].map((n) => h('option', { value: n, selected: n === limit }, String(n))));
  const section = panel(
    'Recent errors',
    () => api(`/api/v1/system/errors?limit=${limit}`),
    (data) => h(
      'div',
      {},
      h('p', {}, `${fmtNumber(data.total)} errors since start (the last ${fmtNumber(data.capacity)} are kept).`),
      table('Recent errors', [
        { label: 'Time', cell: (e) => fmtTime(e.timestamp) },
        { label: 'Status', cell: (e) => badge(String(e.status), 'bad') },
        { label: 'Code', cell: (e) => code(e.code) },
        { label: 'Request', cell: (e) => `${e.method} ${e.route}` },
        { label: 'Message', cell: (e) => e.message },
        { label: 'Correlation id', cell: (e) => code(e.correlation_id) },
      ], data.errors || [], { empty: 'No server error recorded.' }),
    ),
    { id: 'errors', tools: h('div', { class: 'toolbar' }, field('Errors to show', select)) },
  );
  return section;
}

export default {
  path: '/admin',
  title: 'Admin',
  render() {
    return adminPage('/admin', 'Admin', async () => [healthPanel(), breakersPanel(), rateLimitsPanel(), errorsPanel()]);
  },
};
