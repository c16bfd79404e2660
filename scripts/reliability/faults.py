#!/usr/bin/env python3
"""Scenario `faults`: debates of three provider agents against a fake provider that
fails a share of calls at random with what providers send on a bad day.

usage: faults.py <release build dir>
  RELIABILITY_FAULT_RATES     shares to run, default "0.10,0.30" (a 0 run is always added
                              first: the baseline of the overheads)
  RELIABILITY_FAULT_DEBATES   debates per share, default 200
  RELIABILITY_FAULT_CONCURRENCY  debates in flight, default 20
  RELIABILITY_FAULT_LATENCY_MS   the fake's latency before each answer, default 20
  RELIABILITY_FAULT_TIMEOUT   seconds a run may take before the rest counts as lost, 900
  RELIABILITY_SEED            the fake's seed (default: the time)

Per share: aragora_fake_llm (one listener per provider; rule action "flaky" with that
probability on each agent's model), `aragora serve` in development mode on SQLite with
anthropic, openai and gemini pointed at it (no OpenRouter key, retries and timeouts at
their defaults), N debates of 2 rounds created with C in flight. Figures: debates
completed / failed (by error code), agent_error events (read through /events), the
fake's faults per kind and billed tokens, tokens per debate against the 0 run (what the
retries cost), debate duration p50/p95/p99 and the run's wall time against the 0 run.
Writes <out>/faults.json.
"""
import collections
import concurrent.futures
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

ROUNDS = 2
TASK = "Should the team adopt a staged rollout for the new billing service?"


def run_share(release, probability, n, concurrency, latency_ms, seed, timeout):
    tag = f"p{int(round(probability * 100)):02d}"
    wd = lib.workdir(f"faults-{tag}")
    fake = lib.Fake(os.path.join(release, "tests/fake_llm/aragora_fake_llm"), wd,
                    latency_ms=latency_ms, seed=seed)
    fake.set_fault("flaky", probability)
    env = lib.base_env(os.path.join(wd, "data"), wd)
    env.update(fake.env())
    serve = lib.Serve(os.path.join(release, "src/cli/aragora"), wd, "serve", env)
    serve.start()
    lib.log(f"faults {probability:.0%}: {n} debates, {concurrency} in flight, fake at "
            f"{latency_ms} ms, seed {seed}")

    results = {}
    errors = collections.Counter()
    lock = threading.Lock()
    deadline = time.time() + timeout
    started = time.time()

    def one(i):
        did, err = lib.create_debate(serve.port, lib.PROVIDER_AGENTS, ROUNDS, f"{TASK} ({i})")
        if did is None:
            with lock:
                errors[err[:80]] += 1
            return
        d = None
        while time.time() < deadline:
            d = lib.get_debate(serve.port, did)
            if d is not None and d.get("status") in lib.TERMINAL:
                break
            time.sleep(0.25)
        events = lib.all_events(serve.port, did) or []
        with lock:
            results[did] = (d or {"status": "unreadable"}, events)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    wall = time.time() - started

    statuses = collections.Counter()
    codes = collections.Counter()
    durations = []
    agent_errors = collections.Counter()
    agent_error_debates = 0
    restarts = 0
    debate_ends = collections.Counter()
    for did, (d, events) in results.items():
        st = d.get("status")
        statuses[st] += 1
        if st == "completed" and d.get("duration_seconds") is not None:
            durations.append(float(d["duration_seconds"]))
        if st == "failed":
            codes[(d.get("error") or {}).get("code", "?")] += 1
        errs = [e for e in events if e.get("type") == "agent_error"]
        if errs:
            agent_error_debates += 1
        for e in errs:
            data = e.get("data", {})
            agent_errors[f"{data.get('phase', '?')}/{data.get('code', '?')}"] += 1
        # A turn that restarted: the server announces it with agent_retry (or
        # agent_fallback) carrying restart: true (docs/engine.md, "A restarted stream").
        for e in events:
            if e.get("type") in ("agent_retry", "agent_fallback") and e.get("data", {}).get(
                "restart"
            ):
                restarts += 1
        debate_ends[sum(1 for e in events if e.get("type") == "debate_end")] += 1

    fstats = fake.stats()
    # What the server recorded as used (the usage of the answers the debates took): the
    # rest of what the fake billed went to calls that were retried or thrown away.
    usage = {}
    try:
        status, body = lib.request(serve.port, "GET", "/api/v1/billing/usage?period=all")
        if status == 200:
            usage = body.get("usage", {})
    except Exception:
        pass
    breakers = None
    try:
        status, body = lib.request(serve.port, "GET", "/api/v1/agents/circuit-breakers")
        if status == 200:
            breakers = body
    except Exception:
        pass
    serve.stop()
    fake_proc = fake.proc
    lib.stop(fake_proc)
    created = len(results)
    tokens = fstats.get("tokens_input", 0) + fstats.get("tokens_output", 0)
    out = {
        "probability": probability,
        "debates_requested": n,
        "debates_created": created,
        "create_errors": dict(errors),
        "completed": statuses.get("completed", 0),
        "completed_share": statuses.get("completed", 0) / n if n else None,
        "statuses": dict(statuses),
        "failed_codes": dict(codes),
        "agent_error_events": sum(agent_errors.values()),
        "agent_error_events_by_phase_code": dict(agent_errors),
        "debates_with_agent_errors": agent_error_debates,
        "turn_restarts_seen": restarts,
        "debate_end_counts": {str(k): v for k, v in debate_ends.items()},
        "provider_requests": fstats.get("requests", 0),
        "provider_requests_per_debate": fstats.get("requests", 0) / created if created else None,
        "faults_injected": fstats.get("faults", {}),
        "faults_injected_total": fstats.get("faults_total", 0),
        "fault_share_of_requests": (fstats.get("faults_total", 0) / fstats["requests"]
                                    if fstats.get("requests") else None),
        "tokens_billed": tokens,
        "tokens_billed_per_debate": tokens / created if created else None,
        "tokens_output_cut": fstats.get("tokens_output_cut", 0),
        "tokens_used_by_debates": usage.get("total_tokens"),
        "agent_calls_recorded": usage.get("agent_calls"),
        "tokens_spent_on_retries": (tokens - usage["total_tokens"]
                                    if usage.get("total_tokens") is not None else None),
        "tokens_spent_on_retries_share": ((tokens - usage["total_tokens"]) / tokens
                                          if usage.get("total_tokens") is not None and tokens
                                          else None),
        "duration_seconds_completed": {"p50": lib.percentile(durations, 50),
                                       "p95": lib.percentile(durations, 95),
                                       "p99": lib.percentile(durations, 99),
                                       "mean": sum(durations) / len(durations) if durations
                                       else None},
        "wall_seconds": wall,
        "tokens_billed_per_completed_debate": (tokens / statuses["completed"]
                                               if statuses.get("completed") else None),
        "circuit_breakers_at_end": breakers,
        "seed": seed,
    }
    lib.log(f"faults {probability:.0%}: {out['completed']}/{n} completed "
            f"({out['completed_share']:.1%}), {out['agent_error_events']} agent_error events, "
            f"{out['faults_injected_total']} faults in {out['provider_requests']} calls, "
            f"wall {wall:.1f} s, failed codes {dict(codes)}")
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    release = sys.argv[1]
    lib.install_cleanup()
    rates = [float(x) for x in os.environ.get("RELIABILITY_FAULT_RATES", "0.10,0.30").split(",")
             if x.strip()]
    n = lib.env_int("RELIABILITY_FAULT_DEBATES", 200)
    conc = lib.env_int("RELIABILITY_FAULT_CONCURRENCY", 20)
    latency = lib.env_int("RELIABILITY_FAULT_LATENCY_MS", 20)
    timeout = lib.env_int("RELIABILITY_FAULT_TIMEOUT", 900)
    seed, _ = lib.seeded_random()
    started = lib.utc_now()
    runs = {}
    baseline = run_share(release, 0.0, n, conc, latency, seed, timeout)
    runs["0.00"] = baseline
    for p in rates:
        r = run_share(release, p, n, conc, latency, seed, timeout)
        # Overheads against the fault-free run of the same size (tokens: per completed
        # debate, so that debates cut short by a failure do not read as savings).
        bc = baseline["tokens_billed"] / baseline["completed"] if baseline["completed"] else None
        rc = r["tokens_billed_per_completed_debate"]
        if bc and rc is not None:
            r["tokens_overhead_per_completed_debate_vs_0"] = rc - bc
            r["tokens_overhead_share_vs_0"] = rc / bc - 1
        r["wall_time_overhead"] = r["wall_seconds"] / baseline["wall_seconds"] - 1
        b50 = baseline["duration_seconds_completed"]["p50"]
        r50 = r["duration_seconds_completed"]["p50"]
        b99 = baseline["duration_seconds_completed"]["p99"]
        r99 = r["duration_seconds_completed"]["p99"]
        r["duration_p50_overhead"] = (r50 / b50 - 1) if b50 and r50 else None
        r["duration_p99_overhead"] = (r99 / b99 - 1) if b99 and r99 else None
        runs[f"{p:.2f}"] = r
    lib.write_piece("faults", {
        "scenario": "faults", "started_at": started, "finished_at": lib.utc_now(),
        "commit": lib.git_head(), "debates_per_share": n, "concurrency": conc,
        "fake_latency_ms": latency, "rounds": ROUNDS, "agents": lib.PROVIDER_AGENTS,
        "runs": runs,
        "acceptance": {
            "0.30_completed_share_min": 0.99, "0.10_completed_share_min": 0.999,
            "0.30_ok": runs.get("0.30", {}).get("completed_share", 0) >= 0.99
            if "0.30" in runs else None,
            "0.10_ok": runs.get("0.10", {}).get("completed_share", 0) >= 0.999
            if "0.10" in runs else None}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
