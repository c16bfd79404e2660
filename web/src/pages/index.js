// Every page of the console, in the order the router tries them. Add one import and one
// entry per page module (each module's default export: { path, title, render }).

import admin from './admin.js';
import adminAudit from './admin_audit.js';
import adminBackups from './admin_backups.js';
import adminSecurity from './admin_security.js';
import adminUsers from './admin_users.js';
import debateLive from './debate-live.js';
import debateNew from './debate-new.js';
import debates, { debatesAlias } from './debates.js';
import developer from './developer.js';
import developerApi from './developer_api.js';
import developerUsage from './developer_usage.js';
import login from './login.js';
import receiptView from './receipt-view.js';
import receipts from './receipts.js';

export const pages = [
  // Debates and receipts (/debates/new before /debates/:id, which would match "new").
  debates,
  debatesAlias,
  debateNew,
  debateLive,
  receipts,
  receiptView,
  // Sign-in, admin and developer portal.
  login,
  admin,
  adminUsers,
  adminAudit,
  adminBackups,
  adminSecurity,
  developer,
  developerUsage,
  developerApi,
];
