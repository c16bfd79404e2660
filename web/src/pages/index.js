// Every page of the console, in the order the router tries them. Add one import and one
// entry per page module (each module's default export: { path, title, render }).

import debateLive from './debate-live.js';
import debateNew from './debate-new.js';
import debates, { debatesAlias } from './debates.js';
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
];
