// A debate's event stream over the WebSocket (API.md "WebSocket"), with no DOM: the live
// view renders what `onEvents` hands it. Guarantees to the caller:
//  - events arrive exactly once and in seq order (seq is per debate, gap-free from 1):
//    a replayed or repeated seq is dropped and counted, an event that arrives after a
//    gap waits until the gap is filled (from the socket or from the polling API);
//  - after a drop the stream reconnects with exponential backoff (jittered) and
//    asks for `replay_from_seq` = the last seq delivered (the server replays seq > N);
//  - a connection that shows no frame for `idleMs` (the server's heartbeat is 15 s) is
//    treated as dead; every wait has a deadline;
//  - the stream ends at `debate_end` (the client closes; the server never does) or on an
//    `error` frame, which ends the subscription.
// Timers, the WebSocket class and the polling fetch are injected so tests drive them.

export class EventLog {
  constructor() {
    this.lastSeq = 0;
    this.pending = new Map(); // seq → event, held behind a gap
    this.duplicates = 0;
  }

  // Returns the events now deliverable, in order (possibly empty).
  accept(event) {
    const seq = Number(event.seq);
    if (!Number.isInteger(seq) || seq <= 0) return [];
    if (seq <= this.lastSeq || this.pending.has(seq)) {
      this.duplicates += 1;
      return [];
    }
    if (seq !== this.lastSeq + 1) {
      this.pending.set(seq, event);
      return [];
    }
    const out = [event];
    this.lastSeq = seq;
    while (this.pending.has(this.lastSeq + 1)) {
      const next = this.pending.get(this.lastSeq + 1);
      this.pending.delete(this.lastSeq + 1);
      this.lastSeq += 1;
      out.push(next);
    }
    return out;
  }

  hasGap() {
    return this.pending.size > 0;
  }
}

// Backoff before reconnect attempt `attempt` (0-based): a random delay under an exponential
// ceiling ("equal jitter": between half and all of it), base 500 ms, cap 30 s (the
// original console: 1 s..30 s).
export function backoffDelay(attempt, { baseMs = 500, maxMs = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

const CONTROL = new Set(['connection_info', 'replay_start', 'replay_end', 'heartbeat', 'pong', 'warning', 'error']);

export class DebateStream {
  // options: debateId, url(fromSeq) → ws URL, protocols() → subprotocol list,
  // WebSocketImpl, onEvents(events), onState(state, detail), fetchSince(seq) → Promise
  // of {events, has_more} (the polling API), refreshAuth() → Promise<boolean>,
  // setTimeout/clearTimeout, idleMs, random.
  constructor(options) {
    this.o = {
      WebSocketImpl: globalThis.WebSocket,
      setTimeout: globalThis.setTimeout.bind(globalThis),
      clearTimeout: globalThis.clearTimeout.bind(globalThis),
      idleMs: 45000,
      gapWaitMs: 1000,
      random: Math.random,
      protocols: () => [],
      refreshAuth: async () => false,
      ...options,
    };
    this.log = new EventLog();
    this.ws = null;
    this.attempt = 0;
    this.connects = 0;
    this.ended = false;
    this.stopped = false;
    this.authRetried = false;
    this.timers = { reconnect: null, idle: null, gap: null };
    this.replaying = false;
  }

  start() {
    this.connect();
  }

  // Closes the socket and cancels every timer; no further callbacks.
  stop() {
    this.stopped = true;
    for (const name of Object.keys(this.timers)) this.clearTimer(name);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, 'page left');
      } catch {
        /* already closed */
      }
    }
  }

  // Closes the current socket as if the network dropped it (tests, and the idle watchdog).
  drop() {
    if (this.ws) this.ws.close(4000, 'client reconnect');
  }

  state(name, detail = {}) {
    if (!this.stopped) this.o.onState?.(name, { attempt: this.attempt, lastSeq: this.log.lastSeq, ...detail });
  }

  clearTimer(name) {
    if (this.timers[name] !== null) {
      this.o.clearTimeout(this.timers[name]);
      this.timers[name] = null;
    }
  }

  setTimer(name, ms, fn) {
    this.clearTimer(name);
    this.timers[name] = this.o.setTimeout(() => {
      this.timers[name] = null;
      fn();
    }, ms);
  }

  connect() {
    if (this.stopped || this.ended) return;
    const from = this.log.lastSeq;
    let ws;
    try {
      ws = new this.o.WebSocketImpl(this.o.url(from), this.o.protocols());
    } catch (err) {
      this.state('error', { message: String(err.message || err) });
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.connects += 1;
    this.lastFromSeq = from;
    this.state('connecting', { fromSeq: from });
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.state('open', { fromSeq: from });
      this.armIdle();
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return;
      this.armIdle();
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.clearTimer('idle');
      if (this.stopped || this.ended) return;
      this.state('disconnected', { code: ev?.code, reason: ev?.reason });
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  armIdle() {
    this.setTimer('idle', this.o.idleMs, () => {
      this.state('idle-timeout');
      this.drop();
    });
  }

  scheduleReconnect() {
    if (this.stopped || this.ended) return;
    const delay = backoffDelay(this.attempt, { random: this.o.random });
    this.attempt += 1;
    this.state('reconnecting', { delayMs: delay });
    // When the socket stays down (a second failed attempt in a row) the polling API
    // keeps the view current, which also covers a proxy that passes no WebSockets. A
    // single drop is left to the reconnect and its replay.
    if (this.attempt >= 2) this.poll();
    this.setTimer('reconnect', delay, () => this.connect());
  }

  onFrame(frame) {
    const type = frame?.type;
    if (frame?.debate_id && frame.debate_id !== this.o.debateId) return;
    if (CONTROL.has(type) || frame?.seq === undefined) {
      const data = frame?.data || {};
      if (type === 'replay_start') {
        this.replaying = true;
        this.state('replaying', { fromSeq: data.from_seq, count: data.event_count });
      } else if (type === 'replay_end') {
        this.replaying = false;
        this.attempt = 0;
        this.authRetried = false;
        this.state('live', { latestSeq: data.latest_seq });
        if (this.log.hasGap() || Number(data.latest_seq) > this.log.lastSeq) this.armGap();
      } else if (type === 'error') {
        this.onErrorFrame(data);
      } else if (type === 'warning') {
        this.state('warning', { message: data.message || data.error || '' });
      }
      return;
    }
    this.deliver(this.log.accept(frame));
    if (this.log.hasGap()) this.armGap();
  }

  deliver(events) {
    if (!events.length || this.stopped) return;
    this.o.onEvents(events);
    if (events.some((e) => e.type === 'debate_end')) {
      this.ended = true;
      this.clearTimer('reconnect');
      this.clearTimer('gap');
      this.state('ended');
      if (this.ws) {
        const ws = this.ws;
        this.ws = null;
        this.clearTimer('idle');
        ws.close(1000, 'debate ended');
      }
    }
  }

  // A gap that the socket does not fill within gapWaitMs is filled from the polling API.
  armGap() {
    if (this.timers.gap !== null) return;
    this.setTimer('gap', this.o.gapWaitMs, () => this.poll());
  }

  async poll() {
    if (!this.o.fetchSince || this.polling || this.stopped || this.ended) return;
    this.polling = true;
    try {
      for (let pages = 0; pages < 50 && !this.stopped && !this.ended; pages += 1) {
        const page = await this.o.fetchSince(this.log.lastSeq);
        const events = page?.events || [];
        for (const e of events) this.deliver(this.log.accept(e));
        if (!page?.has_more || !events.length) break;
      }
    } catch (err) {
      this.state('poll-failed', { message: String(err?.message || err) });
    } finally {
      this.polling = false;
    }
  }

  async onErrorFrame(data) {
    const code = data.code || 'error';
    if (code === 'auth_required' && !this.authRetried) {
      this.authRetried = true;
      const ok = await this.o.refreshAuth();
      if (ok && !this.stopped) {
        this.drop();
        return;
      }
    }
    this.ended = true;
    this.clearTimer('reconnect');
    this.state('failed', { code, message: data.message || data.error || code });
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, 'subscription ended');
    }
  }
}
