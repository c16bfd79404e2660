// History-API router. Pages register { path: '/debates/:id', title, render(params, ctx) }
// where render returns (or resolves to) an Element; links with data-link navigate
// without a reload. Paths are relative to basePath().

import { basePath } from './api.js';
import { clear, h, notice } from './dom.js';

const routes = [];
let outlet = null;
let current = null;  // { page, cleanup }

export function register(page) {
  const names = [];
  const pattern = page.path.replace(/:([a-zA-Z_]+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  });
  routes.push({ page, regex: new RegExp(`^${pattern}/?$`), names });
}

export function href(path) {
  return basePath() + path;
}

export function navigate(path, { replace = false } = {}) {
  const url = href(path);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  return render();
}

function match(pathname) {
  const local = pathname.startsWith(basePath()) ? pathname.slice(basePath().length) || '/' : pathname;
  for (const route of routes) {
    const m = route.regex.exec(local);
    if (m) {
      const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      return { page: route.page, params };
    }
  }
  return null;
}

export async function render() {
  if (current?.cleanup) current.cleanup();
  current = null;
  const found = match(location.pathname);
  clear(outlet);
  if (!found) {
    outlet.append(h('h1', {}, 'Not found'), notice(`No page at ${location.pathname}.`, 'error'));
    document.title = 'Not found · Aragora';
    return;
  }
  const ctx = { query: new URLSearchParams(location.search), onCleanup: null };
  document.title = `${found.page.title} · Aragora`;
  try {
    const el = await found.page.render(found.params, ctx);
    clear(outlet);
    outlet.append(el);
    current = { page: found.page, cleanup: ctx.onCleanup };
  } catch (err) {
    clear(outlet);
    outlet.append(h('h1', {}, found.page.title), notice(err.message || String(err), 'error'));
  }
  outlet.focus({ preventScroll: true });
}

export function start(el) {
  outlet = el;
  window.addEventListener('popstate', render);
  document.addEventListener('click', (event) => {
    const a = event.target.closest('a[data-link]');
    if (!a || event.metaKey || event.ctrlKey || event.shiftKey || a.target) return;
    event.preventDefault();
    navigate(a.getAttribute('data-link'));
  });
  return render();
}
