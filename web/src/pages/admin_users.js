// /admin/users: every user and role (GET /api/v1/admin/users), change a role (PATCH
// /api/v1/admin/users/{id} {"role"}), add (POST /api/v1/admin/users) and remove (DELETE
// /api/v1/admin/users/{id}) a user. The server decides who may assign which role (an admin
// cannot make an owner); its refusal shows next to the row.

import { api, session } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { adminPage } from './admin_shell.js';
import { badge, busy, code, field, fmtTime, panel, statusLine, table } from './widgets.js';

const ROLES = ['owner', 'admin', 'member', 'viewer'];

function roleSelect(current, label) {
  return h('select', { 'aria-label': label }, ROLES.map((r) => h('option', { value: r, selected: r === current }, r)));
}

function usersPanel(status) {
  return panel(
    'Users and roles',
    () => api('/api/v1/admin/users'),
    (data, reload) => {
      const me = session.user();
      const rows = data.users || [];
      return h(
        'div',
        {},
        h('p', {}, `${rows.length} user(s). A role change takes effect at once for API keys and at the next sign-in or token refresh for sessions.`),
        table('Users', [
          { label: 'Email', cell: (u) => [u.email, me && me.id === u.id ? ' (you)' : ''] },
          { label: 'Name', cell: (u) => u.name },
          { label: 'Role', cell: (u) => badge(u.role, 'info') },
          {
            label: 'Change role',
            cell: (u) => {
              const select = roleSelect(u.role, `New role for ${u.email}`);
              const button = h('button', {
                type: 'button',
                'data-user': u.email,
                onclick: () => busy(button, async () => {
                  if (select.value === u.role) {
                    status.show(`${u.email} already has the role ${u.role}.`);
                    return;
                  }
                  try {
                    const r = await api(`/api/v1/admin/users/${encodeURIComponent(u.id)}`, { method: 'PATCH', body: { role: select.value } });
                    status.show(`${u.email} is now ${r.role || select.value}.`, 'ok');
                    await reload();
                  } catch (err) {
                    status.show(`Role change of ${u.email} refused: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
                  }
                  status.focus();
                }),
              }, 'Save role');
              return h('div', { class: 'inline' }, select, button);
            },
          },
          { label: 'Created', cell: (u) => fmtTime(u.created_at) },
          { label: 'Status', cell: (u) => (u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')) },
          { label: 'Id', cell: (u) => code(u.id) },
          {
            label: 'Remove',
            cell: (u) => {
              if (me && me.id === u.id) return '';
              const button = h('button', {
                type: 'button',
                class: 'danger',
                'aria-label': `Remove ${u.email}`,
                onclick: () => busy(button, async () => {
                  if (!window.confirm(`Remove ${u.email}? Their API keys and sessions end.`)) return;
                  try {
                    await api(`/api/v1/admin/users/${encodeURIComponent(u.id)}`, { method: 'DELETE' });
                    status.show(`${u.email} removed.`, 'ok');
                    await reload();
                  } catch (err) {
                    status.show(`Removing ${u.email} failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
                  }
                  status.focus();
                }),
              }, 'Remove');
              return button;
            },
          },
        ], rows, { empty: 'No user yet.' }),
      );
    },
    { id: 'users' },
  );
}

function addUserForm(status, users) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off', spellcheck: 'false' });
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', required: true, minlength: '8', autocomplete: 'new-password' });
  const role = roleSelect('member');
  role.removeAttribute('aria-label');
  const submit = h('button', { type: 'submit' }, 'Add user');
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'add-user-title' },
    h('h2', { id: 'add-user-title' }, 'Add a user'),
    h('form', {
      class: 'form grid-form',
      onsubmit: (event) => {
        event.preventDefault();
        busy(submit, async () => {
          try {
            const r = await api('/api/v1/admin/users', {
              method: 'POST',
              body: { email: email.value.trim(), name: name.value.trim() || undefined, password: password.value, role: role.value },
            });
            status.show(`${r.email} added with the role ${r.role}.`, 'ok');
            email.value = '';
            name.value = '';
            password.value = '';
            await users.reload();
          } catch (err) {
            status.show(`Adding the user failed: ${err.message}${err.status ? ` (${err.status})` : ''}`, 'error');
          }
          status.focus();
        });
      },
    },
    field('Email', email),
    field('Name (optional)', name),
    field('Password', password, 'At least 8 characters; the user can change it later.'),
    field('Role', role),
    h('div', { class: 'actions' }, submit)),
  );
}

export default {
  path: '/admin/users',
  title: 'Users',
  render() {
    return adminPage('/admin/users', 'Users', async () => {
      const status = statusLine();
      const users = usersPanel(status);
      return [status, users, addUserForm(status, users)];
    });
  },
};
