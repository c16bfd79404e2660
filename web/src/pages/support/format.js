// Small display helpers shared by the debate and receipt pages (no DOM state of their own).

import { api, session } from '../../lib/api.js';
import { h, notice } from '../../lib/dom.js';
import { href } from '../../lib/router.js';

export const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'];
export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

// '2026-12-07T03:46:10.486Z' → the reader's local date and time; '' for null.
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: iso }, formatTime(iso));
}

export function percent(x) {
  if (x === null || x === undefined || Number.isNaN(Number(x))) return '—';
  return `${Math.round(Number(x) * 100)}%`;
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${status || 'unknown'}`, 'data-testid': 'status' }, status || 'unknown');
}

export function verdictBadge(verdict) {
  if (!verdict) return h('span', { class: 'muted' }, '—');
  return h('span', { class: `badge verdict-${verdict}` }, verdict.replaceAll('_', ' '));
}

export function yesNo(value) {
  if (value === null || value === undefined) return '—';
  return value ? 'yes' : 'no';
}

// A long hash or id that stays selectable and wraps on a phone.
export function code(text) {
  return h('code', { class: 'hash' }, text ?? '—');
}

// Shows or hides an element with the `hidden` attribute (no style attributes: CSP).
export function show(el, visible) {
  el.hidden = !visible;
  return el;
}

// The notice for a failed API call: a 401 says to sign in (with a link to the sign-in
// page), a 403 that the role does not allow it; anything else the server's message.
export function failure(err, what) {
  if (err?.status === 401) {
    return h('p', { class: 'notice notice-error', role: 'alert' }, `Sign in to see ${what}: `, h('a', { href: href('/login'), 'data-link': '/login' }, 'sign in'), '.');
  }
  if (err?.status === 403) return notice(`Your role may not see ${what}.`, 'error');
  return notice(`Could not load ${what}: ${err?.message || err}`, 'error');
}

// The server's auth mode from the public health document (auth.mode: 'open' when no
// credential is configured, else 'credentials'), cached for 30 s. Pages ask it before
// calling the API signed out, so that a signed-out visit shows the sign-in notice
// instead of a failed request (which the browser also reports as a console error).
let modeCache = null;
export function authMode() {
  if (!modeCache || Date.now() - modeCache.at > 30000) {
    const promise = api('/api/v1/health', { raw: true, retry: false })
      .then((res) => res.json())
      .then((body) => body?.auth?.mode || 'unknown')
      .catch(() => 'unknown');
    modeCache = { at: Date.now(), promise };
  }
  return modeCache.promise;
}

// The sign-in notice when nobody is signed in and the server wants credentials, else null.
export async function signInGate(what) {
  if (session.accessToken()) return null;
  return (await authMode()) === 'credentials' ? failure({ status: 401 }, what) : null;
}
