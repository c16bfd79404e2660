// Building blocks of the admin and developer pages: sub-navigation, panels that load
// their own data, tables, definition lists, badges, formatting. Everything through h().

import { clear, h, notice } from '../lib/dom.js';
import { href } from '../lib/router.js';

let nextId = 0;
export function uid(prefix = 'id') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// A second navigation level: [[path, label], ...]; the current page gets aria-current.
export function subnav(label, items, current) {
  return h(
    'nav',
    { class: 'subnav', 'aria-label': label },
    h(
      'ul',
      {},
      items.map(([path, text]) =>
        h(
          'li',
          {},
          h('a', { href: href(path), 'data-link': path, 'aria-current': path === current ? 'page' : null }, text),
        ),
      ),
    ),
  );
}

// A titled section whose body comes from load() and draw(data, reload). While loading the
// body is aria-busy; an error shows in place (the other panels still work).
// data-state on the section: loading | ready | error (for tests and styles).
// tools: controls kept across reloads (filters), shown between the title and the body.
export function panel(title, load, draw, { id, tools } = {}) {
  const headingId = uid('panel');
  const body = h('div', { class: 'panel-body' });
  const el = h('section', { class: 'panel', 'aria-labelledby': headingId, id, 'data-state': 'loading' },
    h('h2', { id: headingId }, title), tools || null, body);
  const reload = async () => {
    el.dataset.state = 'loading';
    body.setAttribute('aria-busy', 'true');
    if (!body.firstChild) body.append(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const data = await load();
      clear(body).append(draw(data, reload));
      el.dataset.state = 'ready';
    } catch (err) {
      clear(body).append(errorNotice(err));
      el.dataset.state = 'error';
    } finally {
      body.removeAttribute('aria-busy');
    }
  };
  el.reload = reload;
  el.ready = reload();
  return el;
}

export function errorNotice(err, what) {
  const status = err?.status ? ` (${err.status})` : '';
  let text = err?.message || String(err);
  if (err?.status === 403) text = `Forbidden${status}: ${text}`;
  else if (err?.status === 401) text = `Sign in required${status}: ${text}`;
  else if (err?.status) text = `${text}${status}`;
  return notice(what ? `${what}: ${text}` : text, 'error');
}

// columns: [{ label, cell(row) → node | string, class? }]; rows: array.
export function table(caption, columns, rows, { empty = 'Nothing to show.' } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h(
    'div',
    // Focusable so that a table wider than a phone screen scrolls from the keyboard.
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `${caption} table` },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((row) => h('tr', {}, columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(row) ?? '')))),
      ),
    ),
  );
}

// [[term, value], ...] → <dl>; null/undefined values show as "—".
export function dl(pairs) {
  return h(
    'dl',
    { class: 'kv' },
    pairs.filter(Boolean).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]),
  );
}

const BADGE_KINDS = {
  ok: ['ok', 'healthy', 'ready', 'closed', 'verified', 'completed', 'true', 'passed', 'credentials'],
  warn: ['degraded', 'half-open', 'half_open', 'warning', 'pending', 'in_progress', 'open mode', 'not_configured'],
  bad: ['unhealthy', 'not_ready', 'open', 'failed', 'critical', 'error', 'false', 'broken', 'expired'],
};
export function badge(text, kind) {
  const value = String(text);
  const k = kind || Object.keys(BADGE_KINDS).find((name) => BADGE_KINDS[name].includes(value.toLowerCase())) || 'info';
  return h('span', { class: `badge badge-${k}` }, value);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return h('time', { datetime: iso }, d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

export function fmtNumber(n) {
  if (n === null || n === undefined) return '—';
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n);
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const parts = [];
  if (d) parts.push(`${d}d`);
  if (d || hh) parts.push(`${hh}h`);
  if (d || hh || mm) parts.push(`${mm}m`);
  parts.push(`${s % 60}s`);
  return parts.join(' ');
}

export function code(text) {
  return h('code', {}, String(text ?? ''));
}

export function jsonBlock(value, label) {
  return h('pre', { class: 'json', tabindex: '0', 'aria-label': label || 'JSON' },
    typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

// A labelled form control: field('Email', h('input', {...})) sets the id/for pair.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
}

// A status line that a later message replaces (role=status; errors role=alert).
export function statusLine() {
  const el = h('div', { class: 'status-line', tabindex: '-1' });
  el.show = (message, kind = 'info') => {
    clear(el);
    if (message) el.append(notice(message, kind));
  };
  return el;
}

// Runs an async action from a button: disables it meanwhile, reports the outcome.
export async function busy(button, action) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export function page(title, ...children) {
  return h('div', { class: 'page' }, h('h1', {}, title), ...children);
}
