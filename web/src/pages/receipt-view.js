// One receipt (`/receipts/:id`; the id may also be `debate-<debate id>` or the debate id):
// GET /api/v2/receipts/{id}. Shows the verdict, dissent, hashes, signatures and the chain
// link (previous_hash); verifies on the server (POST /api/v2/receipts/{id}/verify) and in
// the browser (support/receipt-verify.js: SHA-256 over the JCS form and Ed25519 with
// WebCrypto); downloads JSON / Markdown / HTML from /api/v2/receipts/{id}/export.

import { api } from '../lib/api.js';
import { append, clear, h, notice } from '../lib/dom.js';
import { href } from '../lib/router.js';
import { download } from './support/download.js';
import { code, failure, percent, signInGate, timeEl, verdictBadge, yesNo } from './support/format.js';
import { verifyReceipt } from './support/receipt-verify.js';

// The installation's published Ed25519 receipt keys (public; docs/receipts.md), used for
// the browser check when the server's OpenAPI document lists the route: a server without
// it costs no failed request. null when there are none.
const KEYS_PATH = '/.well-known/aragora/receipt-keys.json';
async function publishedKeys() {
  try {
    const doc = await api('/api/openapi.json');
    if (!doc?.paths?.[KEYS_PATH]?.get) return null;
    const body = await api(KEYS_PATH);
    const keys = (body?.keys || []).filter((k) => k.algorithm === 'Ed25519' && k.key_id && k.public_key);
    return keys.map((k) => ({ key_id: k.key_id, public_key: k.public_key }));
  } catch {
    return null;
  }
}

const CHAIN_SCAN_PAGES = 5; // the previous receipt is looked for among the newest 500
const CHAIN_PAGE = 100;

function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function resultRow(label, ok, text, testid) {
  const cls = ok === true ? 'ok' : ok === false ? 'bad' : 'muted';
  const mark = ok === true ? '✔' : ok === false ? '✘' : '–';
  return h('li', { class: cls, 'data-testid': testid }, h('span', { 'aria-hidden': 'true' }, `${mark} `), h('strong', {}, `${label}: `), text);
}

export default {
  path: '/receipts/:id',
  title: 'Receipt',
  async render({ id }) {
    const gate = await signInGate('this receipt');
    if (gate) return h('section', {}, h('h1', {}, 'Decision receipt'), gate);
    let receipt;
    try {
      receipt = await api(`/api/v2/receipts/${encodeURIComponent(id)}`);
    } catch (err) {
      return h('section', {}, h('h1', {}, 'Decision receipt'), failure(err, 'this receipt'));
    }
    const rid = receipt.receipt_id || id;
    const consensus = receipt.consensus || {};
    const dissents = Array.isArray(consensus.dissents) ? consensus.dissents : [];

    // --- verification panels ----------------------------------------------------------
    const serverOut = h('div', { 'data-testid': 'server-verify', 'aria-live': 'polite' });
    const browserOut = h('div', { 'data-testid': 'browser-verify', 'aria-live': 'polite' });
    const trustedInput = h('input', { id: 'trusted-key', type: 'text', autocomplete: 'off', placeholder: 'key_id (16 hex) or base64 public key', class: 'wide' });

    const serverBtn = h('button', { type: 'button', 'data-testid': 'verify-server' }, 'Verify on the server');
    serverBtn.addEventListener('click', async () => {
      serverBtn.disabled = true;
      clear(serverOut).append(notice('Verifying…'));
      try {
        const v = await api(`/api/v2/receipts/${encodeURIComponent(rid)}/verify`, { method: 'POST' });
        serverOut.dataset.valid = String(!!v.valid);
        append(clear(serverOut), [
          notice(v.valid ? 'The server verified this receipt.' : `The server rejected this receipt: ${v.reason}`, v.valid ? 'ok' : 'error'),
          h('ul', { class: 'checks' },
            resultRow('Content hash', v.integrity_valid, v.integrity_valid ? 'matches' : `computed ${v.computed_checksum}, stored ${v.stored_checksum}`, 'server-integrity'),
            resultRow('Signature', v.signature_valid, v.signature_valid === null ? 'unsigned' : `${v.algorithm} key ${v.key_id}${v.signature?.error ? ` — ${v.signature.error}` : ''}`, 'server-signature')),
          h('p', { class: 'muted small' }, 'Verified at ', timeEl(v.verified_at)),
        ]);
      } catch (err) {
        delete serverOut.dataset.valid;
        clear(serverOut).append(notice(`Server verification failed: ${err.message}`, 'error'));
      } finally {
        serverBtn.disabled = false;
      }
    });

    const browserBtn = h('button', { type: 'button', 'data-testid': 'verify-browser' }, 'Verify in this browser');
    browserBtn.addEventListener('click', async () => {
      browserBtn.disabled = true;
      clear(browserOut).append(notice('Verifying…'));
      try {
        const trusted = trustedInput.value.trim();
        const published = await publishedKeys();
        const trustedKeys = trusted
          ? [/^[0-9a-f]{16}$/.test(trusted) ? { key_id: trusted } : { public_key: trusted }]
          : published;
        const v = await verifyReceipt(receipt, { trustedKeys });
        browserOut.dataset.valid = String(v.valid);
        append(clear(browserOut), [
          v.valid
            ? notice('Verified in this browser.', 'ok')
            : v.integrity?.valid && v.reason.startsWith('no Ed25519 signature:')
              ? notice(`Content hash verified in this browser; the signature is not: ${v.reason}.`, 'info')
              : notice(`Browser verification failed: ${v.reason}`, 'error'),
          h('ul', { class: 'checks' },
            v.integrity
              ? resultRow('Content hash (SHA-256 of the JCS form)', v.integrity.valid, v.integrity.valid ? v.integrity.computed : `computed ${v.integrity.computed}, stored ${v.integrity.stored}`, 'browser-integrity')
              : null,
            v.signatures.map((s, i) =>
              resultRow(`${s.algorithm} ${s.key_id}`, s.status === 'valid' && s.trusted !== false ? true : s.status === 'unverifiable' ? null : false,
                `${s.status}: ${s.detail}${s.trusted === true ? '; a trusted key' : ''}`, `browser-signature-${i}`)),
          ),
          v.signatures.some((s) => s.algorithm === 'Ed25519')
            ? h('p', { class: 'hint', 'data-testid': 'trust-source' },
                trusted
                  ? 'Checked against the key you entered.'
                  : published
                    ? ['Checked against the installation\u2019s published keys (', h('code', {}, KEYS_PATH), ').']
                    : 'The Ed25519 key was checked against its key_id only: this server publishes no receipt keys, so enter a key you trust above to check who signed.')
            : null,
        ]);
      } catch (err) {
        delete browserOut.dataset.valid;
        clear(browserOut).append(notice(`Browser verification could not run: ${err.message}`, 'error'));
      } finally {
        browserBtn.disabled = false;
      }
    });

    // --- downloads --------------------------------------------------------------------
    const downloadOut = h('div', {});
    const dlBtn = (fmt, label) =>
      h('button', {
        type: 'button',
        class: 'secondary',
        'data-testid': `download-${fmt}`,
        onclick: async () => {
          clear(downloadOut);
          try {
            const name = await download(`/api/v2/receipts/${encodeURIComponent(rid)}/export?format=${fmt}`, `${rid}.${fmt}`);
            downloadOut.append(notice(`Downloaded ${name}.`, 'ok'));
          } catch (err) {
            downloadOut.append(notice(`Download failed: ${err.message}`, 'error'));
          }
        },
      }, label);

    // --- chain link -------------------------------------------------------------------
    const chainOut = h('span', { 'data-testid': 'chain-link' });
    const prevHash = receipt.previous_hash;
    if (prevHash) {
      const findBtn = h('button', { type: 'button', class: 'secondary small' }, 'Find the previous receipt');
      findBtn.addEventListener('click', async () => {
        findBtn.disabled = true;
        clear(chainOut).append('Searching…');
        try {
          for (let page = 0; page < CHAIN_SCAN_PAGES; page += 1) {
            const body = await api(`/api/v2/receipts?limit=${CHAIN_PAGE}&offset=${page * CHAIN_PAGE}`);
            const hit = (body.receipts || []).find((r) => r.content_hash === prevHash);
            if (hit) {
              clear(chainOut).append(h('a', { href: href(`/receipts/${hit.receipt_id}`), 'data-link': `/receipts/${hit.receipt_id}` }, `previous receipt ${hit.receipt_id}`));
              return;
            }
            if (!body.pagination?.has_more) break;
          }
          clear(chainOut).append(`not among the newest ${CHAIN_SCAN_PAGES * CHAIN_PAGE} receipts (it may have been deleted by retention).`);
        } catch (err) {
          clear(chainOut).append(`search failed: ${err.message}`);
        } finally {
          findBtn.disabled = false;
        }
      });
      chainOut.append(findBtn);
    } else {
      chainOut.append('none: the first receipt of this installation\u2019s chain.');
    }

    const sigs = Array.isArray(receipt.signatures) ? receipt.signatures : [];
    return h(
      'article',
      { class: 'receipt', 'data-testid': 'receipt-view', 'data-receipt-id': rid },
      h('p', { class: 'crumbs' }, h('a', { href: href('/receipts'), 'data-link': '/receipts' }, 'Receipts'), ' / ', h('span', { class: 'mono' }, rid)),
      h('h1', {}, 'Decision receipt'),
      h('p', { class: 'task' }, receipt.question || ''),
      h('section', { 'aria-labelledby': 'r-verdict' },
        h('h2', { id: 'r-verdict' }, 'Verdict'),
        dl([
          ['Verdict', h('span', { 'data-testid': 'verdict' }, verdictBadge(receipt.verdict))],
          ['Confidence', percent(receipt.confidence)],
          ['Consensus', `${yesNo(consensus.reached)} (${consensus.method || '—'}${consensus.winner ? `, winner ${consensus.winner}` : ''})`],
          ['Supporting', (consensus.supporting_agents || []).join(', ') || '—'],
          ['Rounds used', String(receipt.rounds_used ?? '—')],
          ['Debate', h('a', { href: href(`/debates/${receipt.debate_id}`), 'data-link': `/debates/${receipt.debate_id}`, class: 'mono' }, receipt.debate_id)],
          ['Issued', timeEl(receipt.timestamp)],
        ]),
        receipt.final_answer ? [h('h3', {}, 'Final answer'), h('p', { class: 'content' }, receipt.final_answer)] : null),
      h('section', { 'aria-labelledby': 'r-dissent' },
        h('h2', { id: 'r-dissent' }, 'Dissent'),
        dissents.length
          ? h('ul', { class: 'dissents', 'data-testid': 'dissents' }, dissents.map((d) =>
              h('li', {}, h('strong', {}, d.agent), list(d.reasons), d.alternative_view ? h('p', { class: 'content muted' }, `Alternative view: ${d.alternative_view}`) : null)))
          : h('p', { 'data-testid': 'dissents' }, 'No dissent.')),
      failuresSection(receipt),
      h('section', { 'aria-labelledby': 'r-hashes' },
        h('h2', { id: 'r-hashes' }, 'Hashes and chain'),
        dl([
          ['Content hash', code(receipt.content_hash)],
          ['Input hash', code(receipt.input_hash)],
          ['Previous hash', code(prevHash ?? 'null')],
          ['Previous receipt', chainOut],
        ])),
      h('section', { 'aria-labelledby': 'r-sigs' },
        h('h2', { id: 'r-sigs' }, 'Signatures'),
        sigs.length
          ? h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'signatures' },
              h('thead', {}, h('tr', {}, ['Algorithm', 'Key id', 'Signed at', 'Public key'].map((t) => h('th', { scope: 'col' }, t)))),
              h('tbody', {}, sigs.map((s) => h('tr', {}, h('td', {}, s.algorithm), h('td', {}, code(s.key_id)), h('td', {}, timeEl(s.signed_at)), h('td', {}, s.public_key ? code(s.public_key) : '—'))))))
          : h('p', {}, 'Unsigned.')),
      h('section', { 'aria-labelledby': 'r-verify', class: 'verify' },
        h('h2', { id: 'r-verify' }, 'Verify'),
        h('div', { class: 'actions' }, serverBtn, browserBtn),
        h('label', { for: 'trusted-key' }, 'Trusted Ed25519 key for the browser check (optional)'),
        trustedInput,
        h('h3', {}, 'Server'), serverOut,
        h('h3', {}, 'Browser'), browserOut),
      h('section', { 'aria-labelledby': 'r-download' },
        h('h2', { id: 'r-download' }, 'Download'),
        h('div', { class: 'actions' }, dlBtn('json', 'JSON'), dlBtn('md', 'Markdown'), dlBtn('html', 'HTML')),
        downloadOut),
      Array.isArray(receipt.provenance) && receipt.provenance.length
        ? h('section', { 'aria-labelledby': 'r-prov' },
            h('h2', { id: 'r-prov' }, 'Provenance'),
            receipt.provenance.map((round) =>
              h('details', {}, h('summary', {}, `Round ${round.round}: ${(round.entries || []).length} digests`),
                h('ul', { class: 'prov' }, (round.entries || []).map((e) =>
                  h('li', {}, `${e.agent} ${e.phase}${e.target ? ` → ${e.target}` : ''}: `, code(e.sha256)))))))
        : null,
    );
  },
};

// Agent calls that failed and who stood in (docs/engine.md "When an agent's call fails");
// receipts made before these members existed have neither.
function failuresSection(receipt) {
  const failures = Array.isArray(receipt.agent_failures) ? receipt.agent_failures : [];
  const subs = Array.isArray(receipt.substitutions) ? receipt.substitutions : [];
  if (!failures.length && !subs.length) return null;
  const attempts = (f) => (f.attempts ? ` (${f.attempts} attempt${f.attempts === 1 ? '' : 's'}, ${f.outcome || '—'})` : '');
  return h('section', { 'aria-labelledby': 'r-failures' },
    h('h2', { id: 'r-failures' }, 'Agent failures and substitutions'),
    failures.length
      ? h('ul', { 'data-testid': 'agent-failures' }, failures.map((f) =>
          h('li', {}, `${f.agent}, ${f.phase}${f.target ? ` → ${f.target}` : ''}, round ${f.round}: ${f.code}: ${f.message}${attempts(f)}`)))
      : null,
    subs.length
      ? h('ul', { 'data-testid': 'substitutions' }, subs.map((x) =>
          h('li', {}, `${x.agent} (${x.phase}, round ${x.round}) → ${x.replaced_by}: ${x.reason}`)))
      : null);
}

function list(items) {
  if (!Array.isArray(items) || !items.length) return null;
  return h('ul', {}, items.map((x) => h('li', {}, String(x))));
}
