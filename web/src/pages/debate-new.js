// Start a debate (`/debates/new`): task, agents, rounds and consensus method, posted to
// POST /api/v1/debates; the server's errors are shown next to the field they name
// (the `errors: [{field, message}]` of a 400) and above the submit button.
//
// Agents come from GET /api/v1/agents when the server has that route (its OpenAPI
// document lists it); this build's server has none, so the form falls back to the providers the server accepts
// (demo personas and the LLM providers of DEBATE.md), says that availability is not
// known in advance, and marks a provider whose circuit breaker is open
// (GET /api/v1/agents/circuit-breakers). The server checks each agent on submit (e.g.
// "OPENAI_API_KEY is not set") and that answer is shown under the agent list.

import { ApiError, api, session } from '../lib/api.js';
import { clear, h, notice } from '../lib/dom.js';
import { href, navigate } from '../lib/router.js';
import { signInGate } from './support/format.js';

const METHODS = [
  ['majority', 'Majority (share ≥ 0.5)'],
  ['supermajority', 'Supermajority (≥ 2/3)'],
  ['unanimous', 'Unanimous'],
  ['weighted', 'Weighted (share ≥ the configured threshold)'],
  ['judge', 'Judge (a judge agent synthesizes)'],
];

// The fallback catalogue: every provider the server accepts (its own error message lists
// them) with the demo personas spelled out; the first three are the default team.
const FALLBACK = [
  { spec: 'demo:analyst', provider: 'demo', label: 'Demo analyst', available: true, checked: true },
  { spec: 'demo:critic', provider: 'demo', label: 'Demo critic', available: true, checked: true },
  { spec: 'demo:moderator', provider: 'demo', label: 'Demo moderator', available: true, checked: true },
  { spec: 'demo:contrarian', provider: 'demo', label: 'Demo contrarian', available: true },
  { spec: 'anthropic', provider: 'anthropic', label: 'Anthropic (ANTHROPIC_API_KEY)' },
  { spec: 'openai', provider: 'openai', label: 'OpenAI (OPENAI_API_KEY)' },
  { spec: 'openrouter', provider: 'openrouter', label: 'OpenRouter (OPENROUTER_API_KEY)' },
  { spec: 'mistral', provider: 'mistral', label: 'Mistral (MISTRAL_API_KEY)' },
  { spec: 'xai', provider: 'xai', label: 'xAI Grok (XAI_API_KEY)' },
  { spec: 'gemini', provider: 'gemini', label: 'Gemini (GEMINI_API_KEY)' },
  { spec: 'openai-compatible', provider: 'openai-compatible', label: 'Local OpenAI-compatible server' },
];

// Reads GET /api/v1/agents in whichever of the likely shapes it comes (an array, or
// {agents: [...]}; items a spec string or {name|spec|id, provider, model, available|
// status}). null when the route does not exist: the server's OpenAPI document says
// whether it does, so a server without it costs no failed request (a 404 would also be
// a console error in the browser).
async function loadAgents() {
  const doc = await api('/api/openapi.json');
  const path = ['/api/v1/agents', '/api/agents'].find((p) => doc?.paths?.[p]?.get);
  if (!path) return null;
  const body = await api(path);
  const items = Array.isArray(body) ? body : body?.agents || body?.items || [];
  return items.map((a, i) => {
    if (typeof a === 'string') return { spec: a, provider: a.split(':')[0], label: a, available: null, checked: i < 3 };
    const spec = a.spec || a.name || a.id || a.provider;
    const available = a.available ?? (a.status ? a.status === 'available' || a.status === 'ok' : a.configured ?? null);
    return { spec, provider: a.provider || String(spec).split(':')[0], label: a.display_name || a.label || spec, available, reason: a.reason || a.message || '', checked: false };
  });
}

async function openBreakers() {
  try {
    const body = await api('/api/v1/agents/circuit-breakers');
    return (body.breakers || []).filter((b) => b.state === 'open' || b.state === 'half_open' || b.state === 'half-open');
  } catch {
    return [];
  }
}

export default {
  path: '/debates/new',
  title: 'Start a debate',
  async render() {
    const gate = await signInGate('the debate form');
    if (gate) return h('section', { class: 'debate-new' }, h('h1', {}, 'Start a debate'), gate);
    const [listed, breakers] = await Promise.all([loadAgents().catch(() => null), openBreakers()]);
    const catalogue = listed && listed.length ? listed : FALLBACK;
    if (listed && listed.length && !catalogue.some((a) => a.checked)) {
      catalogue.filter((a) => a.available !== false).slice(0, 3).forEach((a) => (a.checked = true));
    }
    const breakerOf = (a) => breakers.find((b) => b.name === a.spec || b.name.startsWith(`${a.provider}:`));

    const errors = {}; // field → the element its messages go into
    const fieldError = (name) => (errors[name] = h('div', { class: 'field-error', id: `err-${name}`, 'data-testid': `error-${name}` }));

    const task = h('textarea', { id: 'task', name: 'task', rows: 4, maxlength: 10000, required: true, 'aria-describedby': 'err-task' });
    const agentBoxes = catalogue.map((a, i) => {
      const breaker = breakerOf(a);
      const availability =
        breaker ? `circuit ${breaker.state.replace('_', '-')}` : a.available === true ? 'available' : a.available === false ? `unavailable${a.reason ? `: ${a.reason}` : ''}` : 'availability not known until you start';
      const box = h('input', { type: 'checkbox', id: `agent-${i}`, name: 'agents', value: a.spec, checked: !!a.checked, disabled: a.available === false });
      return h(
        'li',
        {},
        box,
        h('label', { for: `agent-${i}`, class: 'inline' }, h('span', { class: 'mono' }, a.spec), ` — ${a.label}`),
        h('span', { class: `avail ${breaker || a.available === false ? 'bad' : a.available ? 'ok' : 'muted'}` }, ` (${availability})`),
      );
    });
    const extra = h('input', { id: 'agents-extra', name: 'agents_extra', type: 'text', class: 'wide', placeholder: 'e.g. anthropic:claude-sonnet-4-5, demo', autocomplete: 'off', 'aria-describedby': 'agents-extra-hint err-agents' });
    const rounds = h('input', { id: 'rounds', name: 'rounds', type: 'number', min: 1, max: 12, value: 3, required: true, 'aria-describedby': 'err-rounds' });
    const method = h('select', { id: 'consensus', name: 'consensus', 'aria-describedby': 'err-consensus' }, METHODS.map(([v, label]) => h('option', { value: v }, label)));
    const formError = h('div', { 'data-testid': 'form-error' });
    const submit = h('button', { type: 'submit', 'data-testid': 'submit' }, 'Start debate');

    const user = session.user();
    const viewer = user && user.role === 'viewer';

    const form = h(
      'form',
      { class: 'debate-form', 'data-testid': 'debate-form', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'task' }, 'Task (the question to debate)'), task, fieldError('task')),
      h(
        'fieldset',
        { 'aria-describedby': 'err-agents' },
        h('legend', {}, 'Agents (at least 2)'),
        listed === null ? h('p', { class: 'hint' }, 'This server has no agent list (/api/agents): these are the providers it accepts. Whether a provider is configured is checked when you start.') : null,
        h('ul', { class: 'agent-list' }, agentBoxes),
        h('label', { for: 'agents-extra' }, 'More agents (provider[:model], comma-separated)'),
        extra,
        h('p', { id: 'agents-extra-hint', class: 'hint' }, 'A spec may repeat; repeats are named #2, #3…'),
        fieldError('agents'),
      ),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'rounds' }, 'Rounds (1–12)'), rounds, fieldError('rounds')),
        h('div', { class: 'field' }, h('label', { for: 'consensus' }, 'Consensus method'), method, fieldError('consensus'))),
      formError,
      viewer ? notice('Your role (viewer) may not start debates; ask an admin for the member role.', 'info') : null,
      h('div', { class: 'actions' }, submit, h('a', { href: href('/'), 'data-link': '/' }, 'Back to debates')),
    );

    function clearErrors() {
      clear(formError);
      for (const el of Object.values(errors)) clear(el);
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    }

    function fieldOf(name) {
      return { task: task, question: task, agents: extra, rounds: rounds, consensus: method, protocol: method }[name];
    }

    function showErrors(list, fallback) {
      let placed = false;
      for (const { field, message } of list || []) {
        const key = field === 'question' ? 'task' : field === 'protocol' ? 'consensus' : field;
        if (errors[key]) {
          errors[key].append(h('p', { class: 'notice notice-error', role: 'alert' }, message));
          fieldOf(field)?.setAttribute('aria-invalid', 'true');
          placed = true;
        }
      }
      if (!placed) formError.append(notice(fallback, 'error'));
      else formError.append(notice('The server did not accept the debate: see the messages above.', 'error'));
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      const agents = [
        ...form.querySelectorAll('input[name="agents"]:checked'),
      ].map((b) => b.value).concat(extra.value.split(',').map((s) => s.trim()).filter(Boolean));
      const local = [];
      if (!task.value.trim()) local.push({ field: 'task', message: 'Enter the task to debate.' });
      if (agents.length < 2) local.push({ field: 'agents', message: 'Choose at least 2 agents.' });
      const r = Number(rounds.value);
      if (!Number.isInteger(r) || r < 1 || r > 12) local.push({ field: 'rounds', message: 'Rounds must be a whole number from 1 to 12.' });
      if (local.length) {
        showErrors(local, '');
        form.querySelector('[aria-invalid="true"]')?.focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = 'Starting…';
      try {
        const created = await api('/api/v1/debates', { method: 'POST', body: { task: task.value, agents, rounds: r, consensus: method.value } });
        await navigate(`/debates/${created.debate_id || created.id}`);
      } catch (err) {
        const body = err instanceof ApiError ? err.body : null;
        const message = err.status === 403 ? 'You may not start debates (member role or above needed).' : err.message;
        showErrors(body?.errors, message);
        if (err.status === 429 || err.status === 503) {
          formError.append(notice(`Retry in ${body?.retry_after ?? 'a few'} s.`, 'info'));
        }
      } finally {
        submit.disabled = false;
        submit.textContent = 'Start debate';
      }
    });

    return h('section', { class: 'debate-new' }, h('h1', {}, 'Start a debate'), form);
  },
};
