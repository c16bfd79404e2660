// The frame of every /admin page: the role gate (403 page for members and viewers, sign-in
// page without a session), the admin sub-navigation, then the page's own panels.

import { h } from '../lib/dom.js';
import { adminGate } from './access.js';
import { subnav } from './widgets.js';

export const ADMIN_NAV = [
  ['/admin', 'Overview'],
  ['/admin/users', 'Users'],
  ['/admin/audit', 'Audit log'],
  ['/admin/backups', 'Backups'],
  ['/admin/security', 'Keys'],
];

// build() → array of elements (panels); runs only when the caller may see admin pages.
export async function adminPage(current, title, build) {
  const denied = await adminGate(title);
  if (denied) return denied;
  return h(
    'div',
    { class: 'page admin' },
    h('h1', {}, title),
    subnav('Admin sections', ADMIN_NAV, current),
    ...(await build()),
  );
}
