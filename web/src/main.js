// Entry point of the console: the shell (header, navigation, sign-in state) and the
// router over the pages listed in pages/index.js.

import { logout, session } from './lib/api.js';
import { clear, h } from './lib/dom.js';
import { href, navigate, register, start } from './lib/router.js';
import { authMode, syncSession } from './pages/access.js';
import { pages } from './pages/index.js';

function nav(mode) {
  const user = session.user();
  const open = !user && mode === 'open';
  const admin = open || (user && (user.role === 'admin' || user.role === 'owner'));
  const links = [
    ['/', 'Debates'],
    ['/receipts', 'Receipts'],
    admin && ['/admin', 'Admin'],
    ['/developer', 'Developer'],
  ].filter(Boolean);
  return h(
    'nav',
    { 'aria-label': 'Main' },
    h('a', { href: href('/'), 'data-link': '/', class: 'brand' }, 'Aragora'),
    h('ul', {}, links.map(([path, label]) => h('li', {}, h('a', { href: href(path), 'data-link': path }, label)))),
    user
      ? h(
          'div',
          { class: 'who' },
          h('span', {}, `${user.email} (${user.role})`),
          h('button', { type: 'button', onclick: async () => { await logout(); navigate('/login'); } }, 'Sign out'),
        )
      : open
        ? h('div', { class: 'who' }, h('span', { class: 'badge badge-warn', 'data-auth-mode': 'open' }, 'Open development mode: no sign-in'))
        : h('a', { href: href('/login'), 'data-link': '/login' }, 'Sign in'),
  );
}

async function renderHeader() {
  const mode = await authMode();
  const header = document.getElementById('site-header');
  clear(header).append(nav(mode));
}

for (const page of pages) register(page);
window.addEventListener('aragora:session', renderHeader);
renderHeader();
syncSession();
start(document.getElementById('main'));
