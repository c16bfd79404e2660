// Every page of the console, in the order the router tries them. Add one import and one
// entry per page module (each module's default export: { path, title, render }).

import admin from './admin.js';
import adminAudit from './admin_audit.js';
import adminBackups from './admin_backups.js';
import adminSecurity from './admin_security.js';
import adminUsers from './admin_users.js';
import developer from './developer.js';
import developerApi from './developer_api.js';
import developerUsage from './developer_usage.js';
import login from './login.js';

export const pages = [
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
