// /developer/api: an API explorer generated from GET /api/openapi.json: operations grouped
// by tag, with parameters, request and response schemas, and "try it" for GET operations
// (sent with the signed-in user's token through lib/api.js). The /api/ aliases of the
// /api/v1/ routes are hidden unless asked for.

import { api } from '../lib/api.js';
import { clear, h } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { developerPage } from './developer.js';
import { badge, busy, code, dl, field, fmtNumber, jsonBlock, panel, table, uid } from './widgets.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const MAX_SHOWN_CHARS = 100000;

function operations(doc) {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) ops.push({ path, method, op, tag: op.tags?.[0] || 'other', alias: op['x-alias-of'] || null });
    }
  }
  return ops;
}

function refName(ref) {
  return ref.split('/').pop();
}

// A schema: a $ref opens the component on demand; anything else is shown as JSON.
function schemaView(schema, doc) {
  if (!schema) return h('p', { class: 'muted' }, 'No schema.');
  if (schema.$ref) {
    const name = refName(schema.$ref);
    const body = h('div', {});
    const details = h('details', { class: 'schema' }, h('summary', {}, 'Schema ', code(name)), body);
    details.addEventListener('toggle', () => {
      if (details.open && !body.firstChild) {
        body.append(jsonBlock(doc.components?.schemas?.[name] ?? { note: 'not in the document' }, `Schema ${name}`));
      }
    });
    return details;
  }
  return jsonBlock(schema, 'Schema');
}

function contentSchema(content) {
  const json = content?.['application/json'] || Object.values(content || {})[0];
  return json?.schema;
}

function tryIt(entry) {
  const params = entry.op.parameters || [];
  const inputs = params.map((p) => {
    const input = h('input', {
      type: 'text',
      name: p.name,
      required: p.in === 'path' ? true : null,
      placeholder: p.schema?.default !== undefined ? String(p.schema.default) : '',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    return { p, input };
  });
  // Query parameters the document does not list (free text, e.g. "limit=5&since=…").
  const extra = h('input', { type: 'text', name: 'extra-query', autocomplete: 'off', spellcheck: 'false', placeholder: 'limit=5' });
  const result = h('div', { class: 'try-result', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit' }, 'Send request');
  const urlOf = () => {
    let url = entry.path;
    const query = new URLSearchParams();
    for (const { p, input } of inputs) {
      const value = input.value.trim();
      if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(value));
      else if (p.in === 'query' && value) query.set(p.name, value);
    }
    for (const [k, v] of new URLSearchParams(extra.value.trim().replace(/^\?/, ''))) query.append(k, v);
    const qs = query.toString();
    return qs ? `${url}?${qs}` : url;
  };
  const form = h('form', {
    class: 'form try-it',
    'aria-label': `Try GET ${entry.path}`,
    onsubmit: (event) => {
      event.preventDefault();
      busy(send, async () => {
        const url = urlOf();
        const started = performance.now();
        clear(result).append(h('p', {}, `GET ${url} …`));
        try {
          const res = await api(url, { raw: true });
          const ms = Math.round(performance.now() - started);
          const type = res.headers.get('Content-Type') || '';
          let text = await res.text();
          if (type.includes('json')) {
            try {
              text = JSON.stringify(JSON.parse(text), null, 2);
            } catch {
              // not JSON after all: shown as sent
            }
          }
          const cut = text.length > MAX_SHOWN_CHARS;
          clear(result).append(
            h('p', { 'data-status': String(res.status) }, badge(`${res.status} ${res.statusText}`, res.ok ? 'ok' : 'bad'),
              ` ${ms} ms · ${type || 'no content type'} · ${fmtNumber(text.length)} characters`),
            jsonBlock(cut ? `${text.slice(0, MAX_SHOWN_CHARS)}\n… (cut at ${fmtNumber(MAX_SHOWN_CHARS)} characters)` : text, `Response of GET ${url}`),
          );
        } catch (err) {
          clear(result).append(h('p', { class: 'notice notice-error', role: 'alert' }, `Request failed: ${err.message}`));
        }
      });
    },
  },
  inputs.map(({ p, input }) => field(`${p.name} (${p.in}${p.required ? ', required' : ''})`, input, p.description)),
  field('More query parameters', extra, 'Sent as written after "?", for parameters the document does not list.'),
  h('div', { class: 'actions' }, send),
  h('p', { class: 'hint' }, 'Sent with your session\'s token (or none in the open development mode). From a shell: ',
    code(`curl -H "Authorization: Bearer $ARAGORA_API_KEY" ${location.origin}${href(entry.path)}`)));
  return h('div', { class: 'try' }, h('h4', {}, 'Try it'), form, result);
}

function operationBody(entry, doc) {
  const { op } = entry;
  const params = op.parameters || [];
  const parts = [
    op.description ? h('p', {}, op.description) : null,
    dl([
      ['Operation', code(op.operationId)],
      ['Access', [badge(op['x-auth-level'] || 'user', 'info'), op['x-permission'] ? [' permission ', code(op['x-permission'])] : '']],
      ['Rate class', op['x-rate-class']],
      entry.alias ? ['Alias of', code(entry.alias)] : null,
    ]),
  ];
  if (params.length) {
    parts.push(h('h4', {}, 'Parameters'), table(`Parameters of ${entry.method.toUpperCase()} ${entry.path}`, [
      { label: 'Name', cell: (p) => code(p.name) },
      { label: 'In', cell: (p) => p.in },
      { label: 'Required', cell: (p) => (p.required ? 'yes' : 'no') },
      { label: 'Type', cell: (p) => [p.schema?.type || '', p.schema?.minimum !== undefined ? ` ≥ ${p.schema.minimum}` : '', p.schema?.maximum !== undefined ? ` ≤ ${p.schema.maximum}` : ''] },
      { label: 'Description', cell: (p) => p.description || '' },
    ], params));
  }
  if (op.requestBody) {
    parts.push(h('h4', {}, `Request body${op.requestBody.required ? ' (required)' : ''}`), schemaView(contentSchema(op.requestBody.content), doc));
  }
  parts.push(h('h4', {}, 'Responses'), h('ul', { class: 'responses' }, Object.entries(op.responses || {}).map(([status, r]) =>
    h('li', {}, code(status), ` ${r.description || ''} `, contentSchema(r.content) ? schemaView(contentSchema(r.content), doc) : null))));
  if (entry.method === 'get') parts.push(tryIt(entry));
  else parts.push(h('p', { class: 'hint' }, 'Only GET operations can be tried here (no change is made from the explorer).'));
  return parts;
}

function operationView(entry, doc) {
  const body = h('div', { class: 'op-body' });
  const details = h('details', { class: 'op', 'data-op': `${entry.method.toUpperCase()} ${entry.path}` },
    h('summary', {}, h('span', { class: `method method-${entry.method}` }, entry.method.toUpperCase()), ' ',
      h('code', { class: 'op-path' }, entry.path), ' ', h('span', { class: 'op-summary' }, entry.op.summary || '')),
    body);
  details.addEventListener('toggle', () => {
    if (details.open && !body.firstChild) body.append(...operationBody(entry, doc).filter(Boolean));
  });
  return details;
}

function explorer(doc) {
  const all = operations(doc);
  const search = h('input', { type: 'search', name: 'filter', autocomplete: 'off', spellcheck: 'false' });
  const aliases = h('input', { type: 'checkbox', name: 'aliases' });
  const aliasesId = uid('aliases');
  aliases.id = aliasesId;
  const count = h('p', { role: 'status', class: 'muted' });
  const list = h('div', { class: 'ops' });

  const tagOrder = (doc.tags || []).map((t) => t.name);
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = all.filter((e) => (aliases.checked || !e.alias) &&
      (!q || `${e.method} ${e.path} ${e.op.summary || ''} ${e.tag}`.toLowerCase().includes(q)));
    const groups = new Map();
    for (const e of shown) {
      if (!groups.has(e.tag)) groups.set(e.tag, []);
      groups.get(e.tag).push(e);
    }
    const tags = [...groups.keys()].sort((a, b) => (tagOrder.indexOf(a) + 1 || 999) - (tagOrder.indexOf(b) + 1 || 999));
    clear(list).append(...tags.map((tag) => {
      const id = uid('tag');
      return h('section', { class: 'tag-group', 'aria-labelledby': id, 'data-tag': tag },
        h('h3', { id }, tag, h('span', { class: 'muted' }, ` (${groups.get(tag).length})`)),
        groups.get(tag).map((e) => operationView(e, doc)));
    }));
    count.textContent = `${shown.length} of ${all.length} operations shown.`;
  };
  search.addEventListener('input', draw);
  aliases.addEventListener('change', draw);
  draw();
  return h('div', {},
    h('p', {}, `${doc.info?.title || 'API'} ${doc.info?.version || ''}. ${doc.info?.description || ''} `,
      'The document itself: ', h('a', { href: href('/api/openapi.json') }, '/api/openapi.json'), '.'),
    h('div', { class: 'toolbar' }, field('Filter operations', search, 'Matches method, path, summary and tag.'),
      h('div', { class: 'check' }, aliases, h('label', { for: aliasesId }, 'Show the /api/ aliases of /api/v1/ routes'))),
    count, list);
}

export default {
  path: '/developer/api',
  title: 'API explorer',
  render() {
    return developerPage('/developer/api', 'API explorer', async () => [
      panel('Operations', () => api('/api/openapi.json'), (doc) => explorer(doc), { id: 'explorer' }),
    ]);
  },
};
