// The debate and receipt pages in the open development mode (no credential configured: no
// JWT secret, no user): no sign-in, the WebSocket subscribes without a token, the list,
// the form, the live view to the end and the receipt check all work.

import assert from 'node:assert/strict';

import { renderedEvents } from './lib/debate_view.mjs';

export const options = { env: { ARAGORA_JWT_SECRET: null, ARAGORA_DEMO_LATENCY_MS: 50 }, users: false, timeout: 120000 };

export async function startWatchAndVerifyWithoutSigningIn(t) {
  assert.equal((await t.api('/api/v1/health')).body.auth?.mode, 'open');
  await t.goto('/');
  await t.page.waitForSelector('[data-testid=debate-table]');
  await t.page.click('[data-testid=new-debate]');
  await t.page.waitForSelector('[data-testid=debate-form] #task');
  await t.page.type('#task', 'Open mode: should the dev server need a sign-in?');
  await t.page.click('[data-testid=submit]');
  await t.page.waitForSelector('[data-testid=debate-live]');
  await t.page.waitForFunction(() => document.querySelector('[data-testid=debate-live]').dataset.state === 'ended', { timeout: 60000 });
  const id = await t.page.$eval('[data-testid=debate-live]', (el) => el.dataset.debateId);
  const events = (await t.api(`/api/v1/debates/${id}/events?limit=500`)).body.events;
  const seqs = (await renderedEvents(t.page)).map((e) => e.seq);
  assert.deepEqual(seqs, events.map((e) => e.seq));
  assert.equal(await t.page.$eval('[data-testid=cancel]', (el) => el.hidden), true);

  await t.page.click('[data-testid=receipt-link]');
  await t.page.waitForSelector('[data-testid=receipt-view]');
  await t.page.click('[data-testid=verify-server]');
  await t.page.click('[data-testid=verify-browser]');
  await t.page.waitForFunction(() => document.querySelector('[data-testid=server-verify]').dataset.valid !== undefined);
  assert.equal(await t.page.$eval('[data-testid=server-verify]', (el) => el.dataset.valid), 'true');
  // No Ed25519 key here (HMAC only): the browser checks the hash and says it cannot check
  // the HMAC signature, so it does not call the receipt verified.
  await t.page.waitForFunction(() => document.querySelector('[data-testid=browser-verify]').dataset.valid !== undefined);
  await t.waitForText(/Content hash \(SHA-256 of the JCS form\): [0-9a-f]{64}/, { selector: '[data-testid=browser-verify]' });
  await t.waitForText('only the server can check', { selector: '[data-testid=browser-verify]' });
  assert.equal(await t.page.$eval('[data-testid=browser-verify]', (el) => el.dataset.valid), 'false');
}
