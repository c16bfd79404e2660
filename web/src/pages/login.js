// /login: sign in with email and password (POST /api/v1/auth/login through lib/api.js,
// which keeps the tokens and refreshes them). In the open development mode the page says
// that no sign-in is needed (and shows no form: the mode ends with the first user).
// ?next=/path returns there after signing in.

import { login, logout, session } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { href, navigate } from '../lib/router.js';
import { authMode } from './access.js';
import { field, page, statusLine } from './widgets.js';

// Only paths of this console: "/x", never "//host" or "https://…".
function safeNext(value) {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  return value;
}

export default {
  path: '/login',
  title: 'Sign in',
  async render(_params, ctx) {
    const next = safeNext(ctx.query.get('next'));
    const mode = await authMode();
    const user = session.user();
    const parts = [];

    if (mode === 'open') {
      parts.push(
        h(
          'div',
          { class: 'notice notice-warn', role: 'note', 'data-auth-mode': 'open' },
          h('p', {}, h('strong', {}, 'Open development mode. '),
            'This server has no credential configured (no ARAGORA_API_TOKEN, JWT secret or user): ',
            'every page and route works without signing in. Do not expose it beyond this machine.'),
          h('p', {}, h('a', { href: href(next), 'data-link': next }, 'Continue to the console')),
        ),
      );
    }

    if (user) {
      parts.push(
        h('p', { 'data-signed-in': user.email }, `You are signed in as ${user.email} (${user.role}).`),
        h('p', {}, h('button', {
          type: 'button',
          class: 'secondary',
          onclick: async () => {
            await logout();
            navigate('/login', { replace: true });
          },
        }, 'Sign out')),
      );
    }

    const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
    const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { type: 'submit' }, 'Sign in');
    const status = statusLine();
    const form = h(
      'form',
      {
        class: 'form narrow',
        'aria-label': 'Sign in',
        onsubmit: async (event) => {
          event.preventDefault();
          status.show('Signing in…');
          submit.disabled = true;
          try {
            await login(email.value.trim(), password.value);
            password.value = '';
            status.show('');
            await navigate(next, { replace: true });
          } catch (err) {
            let message = err.message || String(err);
            if (err.status === 401) message = 'Wrong email or password.';
            else if (err.status === 429) message = 'Too many attempts: wait a minute and try again.';
            else if (err.status === 503) message = `Sign-in is not available on this server: ${message}`;
            status.show(message, 'error');
            password.value = '';
            password.focus();
          } finally {
            submit.disabled = false;
          }
        },
      },
      field('Email', email),
      field('Password', password),
      h('div', { class: 'actions' }, submit),
      status,
    );

    // In the open mode there is no account to sign in to (adding the first user ends it).
    if (mode !== 'open') parts.push(user ? h('h2', {}, 'Sign in as someone else') : null, form);
    return page('Sign in', ...parts);
  },
};
