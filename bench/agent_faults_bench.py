#!/usr/bin/env python3
"""One provider call under random faults: the share of calls that fail for good although
each has its retries, per fault kind, for one or more `aragora` binaries (e.g. before and
after a change).

Starts `aragora_fake_llm` and, per binary, `aragora serve` (agent_bench.Server), then
makes N sequential one-shot calls (POST /api/v1/debug/agent-test, not streamed) to one
OpenAI-format agent. The fake answers each provider request by a script fixed up front
from a seeded random draw: with probability p the request gets a fault (429 with
Retry-After 1, 500, 502, 503, 529, a malformed 200, an HTML 200, a body cut half way),
else a normal reply. The script is a list of `times: 1` rules consumed in order, so with
sequential calls every binary meets the same per-request sequence. Backoff is shortened
(base 1 ms, cap 5 ms: a Retry-After is capped there too) and the breaker threshold raised,
so only the retry rules decide (--breaker-threshold 5 puts the default back). Baseline:
the first binary given.

usage: agent_faults_bench.py <aragora_fake_llm> <aragora> [<aragora> ...] [--calls 1000]
       [--fault-share 0.1] [--seed 25]
"""
import argparse
import collections
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_bench import Server, http, start  # noqa: E402

FAULTS = [
    ("429", {"action": "status", "status": 429, "retry_after_seconds": 1}),
    ("500", {"action": "status", "status": 500}),
    ("502", {"action": "status", "status": 502}),
    ("503", {"action": "status", "status": 503}),
    ("529", {"action": "status", "status": 529}),
    ("malformed", {"action": "malformed"}),
    ("html", {"action": "wrong_content_type"}),
    ("cut", {"action": "cut_stream"}),
]


def script(n, share, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < share:
            out.append(rng.choice(FAULTS))
        else:
            out.append(("ok", {"action": "ok"}))
    return out


def run(aragora, fake_url, work, name, calls, rules, breaker_threshold):
    http("DELETE", fake_url + "/_fake/rules")
    http("DELETE", fake_url + "/_fake/requests")
    http("POST", fake_url + "/_fake/rules",
         [dict(r, format="openai", times=1) for _, r in rules])
    server = Server(aragora, fake_url, os.path.join(work, name), 8, False,
                    {"ARAGORA_RATE_LIMIT_DISABLED": "true", "ARAGORA_AGENT_RETRY_BASE_MS": "1",
                     "ARAGORA_AGENT_RETRY_CAP_MS": "5",
                     "ARAGORA_CIRCUIT_BREAKER_THRESHOLD": str(breaker_threshold)})
    failed = collections.Counter()
    try:
        for i in range(calls):
            status, body = http("POST", server.base + "/api/v1/debug/agent-test",
                                {"agent": "openai:bench-faults", "prompt": "Propose a policy."})
            if status != 200:
                raise RuntimeError(f"call {i}: {status} {body}")
            if not body.get("success"):
                failed[str(body.get("error", ""))[:60]] += 1
        _, reqs = http("GET", fake_url + "/_fake/requests")
    finally:
        server.stop()
    return failed, int(reqs.get("count", 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fake")
    ap.add_argument("aragora", nargs="+")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--fault-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=25)
    ap.add_argument("--breaker-threshold", type=int, default=1000,
                    help="ARAGORA_CIRCUIT_BREAKER_THRESHOLD (default: out of the way)")
    a = ap.parse_args()
    rules = script(a.calls * 2, a.fault_share, a.seed)
    kinds = collections.Counter(k for k, _ in rules[: a.calls] if k != "ok")
    fake, fake_port, _ = start([a.fake, "--port", "0"], None, r"listening on 127\.0\.0\.1:(\d+)")
    fake_url = f"http://127.0.0.1:{fake_port}"
    work = tempfile.mkdtemp(prefix="aragora-faults-bench-")
    try:
        print(f"{a.calls} sequential calls, {a.fault_share:.0%} of provider requests faulted "
              f"(seed {a.seed}; first {a.calls} requests: {dict(kinds)})")
        base = None
        for i, binary in enumerate(a.aragora):
            failed, requests = run(binary, fake_url, work, f"b{i}", a.calls, rules,
                                   a.breaker_threshold)
            n = sum(failed.values())
            base = n if base is None else base
            print(f"{binary}: {n} calls failed for good ({100 * n / a.calls:.2f} %), "
                  f"{requests} provider requests; vs first: {n - base:+d}")
            for msg, c in failed.most_common(5):
                print(f"    {c:>5}  {msg}")
    finally:
        fake.kill()


if __name__ == "__main__":
    main()
