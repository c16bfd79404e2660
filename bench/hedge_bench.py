#!/usr/bin/env python3
"""Hedged provider calls: p99 call latency with and without hedging when 5 % of calls
are slow, and the extra attempts (and tokens) the hedges cost.

Starts `aragora_fake_llm --latency-ms L` (every answer after L) and `aragora serve`
(agent_bench.Server), then makes N sequential one-shot calls (POST
/api/v1/debug/agent-test, not streamed) to one OpenAI-format agent. Before every 20th
call a fake rule holds the next provider request for S ms (`latency_ms`, `times: 1`),
so exactly 5 % of the calls meet a slow first attempt. Run twice on fresh servers:
hedging off (the default), then on with the observed-p95 delay
(ARAGORA_AGENT_HEDGE_ENABLED=true, floor ARAGORA_AGENT_HEDGE_MIN_MS). Baseline: the
run without hedging, in the same invocation.

Extra tokens: a cancelled attempt is billed by a real provider for its input and for
whatever output it generated before the connection closed; the upper bound reported is
(provider requests - calls) x mean tokens (input + output) of a call. The fake itself
holds the slow attempt before its headers, so it generated nothing.

usage: hedge_bench.py <aragora binary> <aragora_fake_llm binary> [--calls 400]
       [--latency-ms 100] [--slow-ms 2000] [--floor-ms 250]
"""
import argparse
import os
import re
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_bench import Server, http, percentile, start  # noqa: E402

AGENT = "openai:bench-hedge"


def run(aragora, fake_url, work, name, calls, slow_ms, extra_env):
    http("DELETE", fake_url + "/_fake/rules")
    http("DELETE", fake_url + "/_fake/requests")
    server = Server(aragora, fake_url, os.path.join(work, name), 8, False,
                    dict(extra_env, ARAGORA_RATE_LIMIT_DISABLED="true"))
    latencies, tokens = [], []
    try:
        for i in range(calls):
            if i % 20 == 19:
                http("POST", fake_url + "/_fake/rules",
                     {"format": "openai", "latency_ms": slow_ms, "times": 1})
            t0 = time.monotonic()
            status, body = http("POST", server.base + "/api/v1/debug/agent-test",
                                {"agent": AGENT, "prompt": "Propose a caching policy."})
            latencies.append((time.monotonic() - t0) * 1000)
            if status != 200 or not body.get("success"):
                raise RuntimeError(f"call {i}: {status} {body}")
            t = body.get("tokens") or {}
            tokens.append(int(t.get("input", 0)) + int(t.get("output", 0)))
        _, reqs = http("GET", fake_url + "/_fake/requests")
        with urllib.request.urlopen(server.base + "/metrics", timeout=10) as r:
            metrics_text = r.read().decode()
    finally:
        server.stop()
    hedges = {}
    for m in re.finditer(r'aragora_agent_hedges_total\{provider="openai",outcome="(\w+)"\} (\S+)',
                         metrics_text):
        hedges[m.group(1)] = int(float(m.group(2)))
    return latencies, tokens, int(reqs.get("count", 0)), hedges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aragora")
    ap.add_argument("fake")
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--latency-ms", type=int, default=100)
    ap.add_argument("--slow-ms", type=int, default=2000)
    ap.add_argument("--floor-ms", type=int, default=250)
    a = ap.parse_args()
    fake, fake_port, _ = start([a.fake, "--port", "0", "--latency-ms", str(a.latency_ms)], None,
                               r"listening on 127\.0\.0\.1:(\d+)")
    fake_url = f"http://127.0.0.1:{fake_port}"
    work = tempfile.mkdtemp(prefix="aragora-hedge-bench-")
    try:
        print(f"{a.calls} sequential calls, fake latency {a.latency_ms} ms, every 20th call's "
              f"first attempt held {a.slow_ms} ms (5 %)")
        print(f"{'mode':>24} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'requests':>9} {'extra %':>8} {'extra tokens % (bound)':>23} hedges")
        base_p99 = None
        for name, env in (("no hedging", {}),
                          (f"hedging, p95 (floor {a.floor_ms} ms)",
                           {"ARAGORA_AGENT_HEDGE_ENABLED": "true",
                            "ARAGORA_AGENT_HEDGE_MIN_MS": str(a.floor_ms)})):
            lat, tok, requests, hedges = run(a.aragora, fake_url, work, name.split()[0], a.calls,
                                             a.slow_ms, env)
            extra = requests - a.calls
            mean_tok = sum(tok) / max(1, len(tok))
            extra_tok_pct = 100 * extra * mean_tok / max(1, sum(tok))
            p99 = percentile(lat, 99)
            base_p99 = base_p99 or p99
            print(f"{name:>24} {percentile(lat, 50):>7.0f} {percentile(lat, 95):>7.0f} "
                  f"{p99:>7.0f} {max(lat):>7.0f} {requests:>9} {100 * extra / a.calls:>8.1f} "
                  f"{extra_tok_pct:>23.1f} {hedges or '-'}  p99 x{p99 / base_p99:.2f}")
    finally:
        fake.kill()


if __name__ == "__main__":
    main()
