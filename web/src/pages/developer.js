// /developer: the caller's account (GET /api/v1/auth/me) and API keys: list (GET
// /api/v1/auth/api-keys), create (POST, the secret shown once with a copy button and a
// curl example), revoke (DELETE /api/v1/auth/api-keys/{id}).

import { api } from '../lib/api.js';
import { clear, h } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { userGate } from './access.js';
import { badge, busy, code, dl, field, fmtTime, panel, statusLine, subnav, table } from './widgets.js';

export const DEVELOPER_NAV = [
  ['/developer', 'API keys'],
  ['/developer/usage', 'Usage'],
  ['/developer/api', 'API explorer'],
];

export async function developerPage(current, title, build) {
  const denied = await userGate(title);
  if (denied) return denied;
  return h('div', { class: 'page developer' }, h('h1', {}, title),
    subnav('Developer sections', DEVELOPER_NAV, current), ...(await build()));
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission, insecure origin): select the text instead.
    input.focus();
    input.select();
    return false;
  }
}

function accountPanel() {
  return panel(
    'Your account',
    () => api('/api/v1/auth/me'),
    (me) => dl([
      ['Email', me.email],
      ['Role', badge(me.role, 'info')],
      ['Signed in with', me.auth_method === 'anonymous' ? 'nothing (open development mode)' : me.auth_method],
      ['Organisation', me.org_id],
      ['Permissions', (me.permissions || []).map((p) => [code(p), ' '])],
    ]),
    { id: 'account' },
  );
}

function secretBox(created) {
  const key = created.api_key || created.key;
  const input = h('input', { type: 'text', readonly: true, value: key, class: 'secret', spellcheck: 'false', autocomplete: 'off', 'data-secret': 'api-key' });
  const copied = h('span', { class: 'copied', role: 'status' });
  const copy = h('button', {
    type: 'button',
    onclick: async () => {
      const ok = await copyText(key, input);
      copied.textContent = ok ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C (⌘C) to copy.';
    },
  }, 'Copy');
  return h(
    'div',
    { class: 'secret-box', 'aria-labelledby': 'secret-title', role: 'region' },
    h('h3', { id: 'secret-title', tabindex: '-1' }, `New key "${created.name}" (${created.prefix || created.id})`),
    h('p', { class: 'notice notice-warn' }, 'Copy this key now: it is shown only once. The server keeps only its hash.'),
    h('div', { class: 'inline' }, field('API key', input), copy),
    copied,
    h('p', {}, 'Use it as a bearer token, for example:'),
    h('pre', { class: 'json', tabindex: '0', 'aria-label': 'Example request' },
      `curl -H "Authorization: Bearer ${key}" ${location.origin}${href('/api/v1/auth/me')}`),
    created.expires_at ? h('p', {}, 'Expires ', fmtTime(created.expires_at), '.') : h('p', {}, 'It does not expire; revoke it when no longer needed.'),
  );
}

function keysPanel() {
  const status = statusLine();
  const secret = h('div', { class: 'secret-slot' });

  const name = h('input', { type: 'text', name: 'key-name', maxlength: '100', autocomplete: 'off', placeholder: 'ci-pipeline' });
  const days = h('input', { type: 'number', name: 'expires-days', min: '1', max: '3650', inputmode: 'numeric' });
  const submit = h('button', { type: 'submit' }, 'Create key');

  let section;
  const form = h('form', {
    class: 'form grid-form',
    'aria-label': 'Create an API key',
    onsubmit: (event) => {
      event.preventDefault();
      busy(submit, async () => {
        const body = {};
        if (name.value.trim()) body.name = name.value.trim();
        if (days.value) body.expires_in_days = Number(days.value);
        try {
          const created = await api('/api/v1/auth/api-keys', { method: 'POST', body });
          clear(secret).append(secretBox(created));
          status.show('');
          name.value = '';
          days.value = '';
          await section.reload();
          secret.querySelector('h3').focus();
        } catch (err) {
          status.show(`Creating the key failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
          status.focus();
        }
      });
    },
  }, field('Name', name, 'What the key is for.'), field('Expires after (days, optional)', days, 'Empty: never expires.'),
  h('div', { class: 'actions' }, submit));

  section = panel(
    'API keys',
    () => api('/api/v1/auth/api-keys'),
    (data, reload) => {
      const revoke = (button, k) => busy(button, async () => {
        if (!window.confirm(`Revoke the key "${k.name}" (${k.prefix})? Requests using it will fail at once.`)) return;
        try {
          await api(`/api/v1/auth/api-keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
          status.show(`Key ${k.prefix} revoked.`, 'ok');
          clear(secret);
          await reload();
        } catch (err) {
          status.show(`Revoking ${k.prefix} failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
        }
        status.focus();
      });
      return h('div', {},
        table('Your API keys', [
          { label: 'Name', cell: (k) => k.name },
          { label: 'Prefix', cell: (k) => code(k.prefix) },
          { label: 'Created', cell: (k) => fmtTime(k.created_at) },
          { label: 'Expires', cell: (k) => (k.expires_at ? fmtTime(k.expires_at) : 'never') },
          { label: 'Last used', cell: (k) => (k.last_used_at ? fmtTime(k.last_used_at) : 'never') },
          {
            label: 'Action',
            cell: (k) => {
              const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke key ${k.name} (${k.prefix})`, 'data-key': k.prefix, onclick: () => revoke(button, k) }, 'Revoke');
              return button;
            },
          },
        ], data.keys || [], { empty: 'You have no API key yet.' }));
    },
    { id: 'keys', tools: h('div', {}, secret, h('h3', {}, 'Create a key'), form, status) },
  );
  return section;
}

export default {
  path: '/developer',
  title: 'Developer portal',
  render() {
    return developerPage('/developer', 'Developer portal', async () => [accountPanel(), keysPanel()]);
  },
};
