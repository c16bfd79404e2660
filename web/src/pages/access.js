// Who may see what: the server's auth mode (the open development mode answers every route
// without a sign-in), the current user and role, and the pages shown instead of a page
// the caller may not see (401: sign in; 403: the role does not allow it).

import { api, session } from '../lib/api.js';
import { h, notice } from '../lib/dom.js';
import { href } from '../lib/router.js';

const ADMIN_ROLES = new Set(['admin', 'owner']);
const MODE_TTL_MS = 30000;
let modeCache = null; // { at, promise }

// 'open' (no credential configured: every route answers without one), 'credentials' or
// 'unknown' (the health document did not say). From GET /api/v1/health → auth.mode.
export function authMode() {
  const now = Date.now();
  if (!modeCache || now - modeCache.at > MODE_TTL_MS) {
    const promise = api('/api/v1/health', { raw: true, retry: false })
      .then((res) => res.json())
      .then((body) => body?.auth?.mode || 'unknown')
      .catch(() => 'unknown');
    modeCache = { at: now, promise };
  }
  return modeCache.promise;
}

export function isAdminRole(role) {
  return ADMIN_ROLES.has(role);
}

// The signed-in user, or in the open mode the server's anonymous principal (role owner).
// { email, role, open } or null when nobody is signed in and credentials are required.
export async function currentUser() {
  const user = session.user();
  if (user) return { ...user, open: false };
  if ((await authMode()) === 'open') return { email: 'local development', role: 'owner', open: true };
  return null;
}

// Brings the stored user (role, email) up to date with GET /api/v1/auth/me: an admin may
// have changed the role since sign-in. Drops a session the server no longer accepts.
export async function syncSession() {
  const current = session.get();
  if (!current?.access_token) return;
  try {
    const me = await api('/api/v1/auth/me');
    const user = me.user || me;
    const old = current.user || {};
    if (user.role !== old.role || user.email !== old.email || user.id !== old.id) {
      session.set({ ...session.get(), user: { ...old, ...user } });
    }
  } catch (err) {
    if (err.status === 401) session.set(null);
  }
}

function loginHref() {
  const next = location.pathname.slice(href('').length) || '/';
  return `/login?next=${encodeURIComponent(next + location.search)}`;
}

// The page shown to a caller who is not signed in (401).
export function signInRequired(title) {
  const target = loginHref();
  return h(
    'div',
    { class: 'denied', 'data-denied': '401' },
    h('h1', {}, title),
    notice('Sign in required (401): this page needs a signed-in user.', 'error'),
    h('p', {}, h('a', { href: href(target), 'data-link': target }, 'Sign in'), ' to continue.'),
  );
}

// The page shown to a caller whose role does not allow the page (403).
export function forbidden(title, need = 'admin or owner') {
  const user = session.user();
  return h(
    'div',
    { class: 'denied', 'data-denied': '403' },
    h('h1', {}, title),
    notice(`Forbidden (403): this page needs the ${need} role.`, 'error'),
    h(
      'p',
      {},
      user ? `You are signed in as ${user.email} with the role ${user.role}. ` : '',
      'Ask an administrator for access, or go back to the ',
      h('a', { href: href('/'), 'data-link': '/' }, 'debates'),
      '.',
    ),
  );
}

// The denied page for an API error (401 or 403), or null for any other error.
export function deniedFor(err, title, need) {
  if (err?.status === 401) return signInRequired(title);
  if (err?.status === 403) return forbidden(title, need);
  return null;
}

// Null when the caller may see an admin page, else the page to show instead. Decided from
// the role first, then from the server itself (a cheap admin route: the role in a token may
// be older than the one the server holds).
export async function adminGate(title) {
  const user = await currentUser();
  if (!user) return signInRequired(title);
  if (!user.open && !isAdminRole(user.role)) return forbidden(title);
  try {
    await api('/api/v1/system/errors?limit=1');
  } catch (err) {
    const denied = deniedFor(err, title);
    if (denied) return denied;
  }
  return null;
}

// Null when someone is signed in (or the server is open), else the sign-in page.
export async function userGate(title) {
  return (await currentUser()) ? null : signInRequired(title);
}
