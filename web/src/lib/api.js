// The console's only way to the server: same-origin fetch with the signed-in user's
// bearer token, one refresh on 401, errors as ApiError with the server's message.

const STORE_KEY = 'aragora.session';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// The path prefix the console is served under ('' at the root; '/console' behind a
// proxy that mounts it there). Derived from <base href>, set by the server.
export function basePath() {
  const base = new URL(document.baseURI);
  return base.pathname.replace(/\/$/, '');
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY)) || null;
  } catch {
    return null;
  }
}

export const session = {
  get() {
    return load();
  },
  set(value) {
    if (value) sessionStorage.setItem(STORE_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(STORE_KEY);
    window.dispatchEvent(new CustomEvent('aragora:session'));
  },
  accessToken() {
    return load()?.access_token || '';
  },
  user() {
    return load()?.user || null;
  },
};

// One refresh at a time: the server rotates refresh tokens and treats a second use of the
// old one as theft (it revokes the whole session), so requests that fail together with
// 401 share one refresh.
let refreshing = null;

function refresh() {
  if (!refreshing) refreshing = doRefresh().finally(() => { refreshing = null; });
  return refreshing;
}

async function doRefresh() {
  const current = load();
  if (!current?.refresh_token) return false;
  const res = await fetch(basePath() + '/api/v1/auth/refresh', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: current.refresh_token }),
  });
  if (!res.ok) {
    session.set(null);
    return false;
  }
  const body = await res.json();
  const tokens = body.tokens || body;
  session.set({ ...current, access_token: tokens.access_token, refresh_token: tokens.refresh_token });
  return true;
}

// api('/api/v1/debates?limit=20') → parsed JSON (or text for non-JSON bodies).
// Options: method, body (object → JSON), headers, raw (return the Response).
export async function api(path, { method = 'GET', body, headers = {}, raw = false, retry = true } = {}) {
  const init = { method, headers: { ...headers } };
  const token = session.accessToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(basePath() + path, init);
  // A refresh that finished while this request was out: retry with its token.
  if (res.status === 401 && retry && token && (session.accessToken() !== token || (await refresh()))) {
    return api(path, { method, body, headers, raw, retry: false });
  }
  if (raw) return res;
  const type = res.headers.get('Content-Type') || '';
  const parsed = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const message =
      (parsed && typeof parsed === 'object' && (parsed.error?.message || parsed.message || parsed.error)) ||
      `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, String(message), parsed);
  }
  return parsed;
}

export async function login(email, password) {
  const body = await api('/api/v1/auth/login', { method: 'POST', body: { email, password }, retry: false });
  const tokens = body.tokens || body;
  session.set({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: body.user });
  return body.user;
}

// Ends the session on the server (POST /api/v1/auth/logout revokes the user's refresh
// tokens) and here. The local session ends even when the server cannot be reached.
export async function logout() {
  const current = load();
  try {
    if (current?.refresh_token) {
      await api('/api/v1/auth/logout', { method: 'POST', body: { refresh_token: current.refresh_token } });
    }
  } catch {
    // Signed out locally all the same; the refresh token then expires on its own.
  } finally {
    session.set(null);
  }
}
