// /admin/security: encryption and key status (GET /api/v1/admin/security/status and
// /keys, issue 23). A build without those routes answers 404 or 501: the page says "not
// available" instead of failing. The documents are shown generically (scalars as a list,
// arrays of objects as tables), so new fields appear without a console change.

import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { adminPage } from './admin_shell.js';
import { badge, code, dl, fmtTime, jsonBlock, panel, table } from './widgets.js';

const NOT_AVAILABLE = new Set([404, 405, 501]);

async function optional(path) {
  try {
    return { available: true, body: await api(path) };
  } catch (err) {
    if (NOT_AVAILABLE.has(err.status)) return { available: false, status: err.status };
    throw err;
  }
}

function label(key) {
  return key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

function scalar(key, value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return badge(value ? 'yes' : 'no', value ? 'ok' : 'warn');
  if (typeof value === 'string' && /(_at|time|date)$/.test(key) && /^\d{4}-\d\d-\d\dT/.test(value)) return fmtTime(value);
  if (typeof value === 'string' && /(status|state)$/.test(key)) return badge(value);
  if (typeof value === 'string' && /(id|hash|fingerprint)$/.test(key)) return code(value);
  return String(value);
}

// Any JSON document as lists and tables.
function view(doc, caption) {
  if (Array.isArray(doc)) {
    if (doc.length && doc.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const keys = [...new Set(doc.flatMap((x) => Object.keys(x)))].filter((k) => doc.some((x) => typeof x[k] !== 'object' || x[k] === null));
      return table(caption, keys.map((k) => ({ label: label(k), cell: (x) => scalar(k, x[k]) })), doc);
    }
    return doc.length ? h('ul', {}, doc.map((x) => h('li', {}, typeof x === 'object' ? jsonBlock(x) : String(x)))) : h('p', { class: 'muted' }, 'None.');
  }
  if (!doc || typeof doc !== 'object') return h('p', {}, String(doc));
  const pairs = [];
  const nested = [];
  for (const [k, v] of Object.entries(doc)) {
    if (v && typeof v === 'object') nested.push([k, v]);
    else pairs.push([label(k), scalar(k, v)]);
  }
  return h('div', {}, pairs.length ? dl(pairs) : null,
    nested.map(([k, v]) => h('div', { class: 'nested' }, h('h3', {}, label(k)), view(v, label(k)))));
}

function securityPanel(title, path, id) {
  return panel(
    title,
    () => optional(path),
    (r) => {
      if (!r.available) {
        return h('p', { class: 'notice', 'data-available': 'false' },
          `Not available: this server does not serve ${path} (answered ${r.status}). Key status arrives with encryption at rest (issue 23).`);
      }
      return view(r.body, title);
    },
    { id },
  );
}

export default {
  path: '/admin/security',
  title: 'Keys and encryption',
  render() {
    return adminPage('/admin/security', 'Keys and encryption', async () => [
      securityPanel('Encryption status', '/api/v1/admin/security/status', 'security-status'),
      securityPanel('Keys', '/api/v1/admin/security/keys', 'security-keys'),
    ]);
  },
};
