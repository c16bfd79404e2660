#!/usr/bin/env python3
"""Provider-agent debates against the fake LLM provider at a fixed latency.

Starts `aragora_fake_llm --latency-ms L` and `aragora serve` (development mode, every
provider's base URL pointed at the fake, keys set), then:

1. Critical path: one 4-agent (anthropic, openai, gemini, mistral), 3-round debate, early
   stop off. Its server-side duration divided by the ideal critical path: sequential
   phases x L, where the phases are propose/revise and critique per round plus the vote
   (7 for 3 rounds). The critique phase has N(N-1) = 12 calls; with the engine's cap on
   concurrent calls per debate (ARAGORA_MAX_PARALLEL_AGENT_CALLS, default 8) it needs
   ceil(12 / cap) waves, so the run is repeated with the cap at 12 too.
2. Concurrency: C such debates started at once, C = 1, 2, 4, ... Overhead of a debate =
   its duration - the ideal critical path; the p99 overhead at C is compared with the one
   at C = 1. Reports the largest C before the p99 overhead doubles, and the server's RSS
   (VmRSS, peak sampled while the debates ran) there. The sweep goes on past that point
   (until 8x or --max-concurrency) to show the curve, with the server's CPU time per
   debate.

Ratios only, against baselines measured in the same run (bench/README.md).

usage: agent_bench.py <aragora binary> <aragora_fake_llm binary> [--latency-ms 50]
       [--max-concurrency 64] [--repeats 3] [--no-stream]
"""
import argparse
import concurrent.futures
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

AGENTS = ["anthropic:bench-a", "openai:bench-o", "gemini:bench-g", "mistral:bench-m"]
ROUNDS = 3


def http(method, url, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def start(args, env, pattern, timeout=20):
    """Starts a process and waits for `pattern` (a regex with one port group) in its output."""
    log = tempfile.NamedTemporaryFile("w+", delete=False, suffix=".log")
    p = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            sys.exit(f"{args[0]} exited: " + open(log.name).read()[-2000:])
        m = re.search(pattern, open(log.name).read())
        if m:
            return p, int(m.group(1)), log.name
        time.sleep(0.02)
    p.kill()
    sys.exit(f"{args[0]} did not start: " + open(log.name).read()[-2000:])


def cpu_seconds(pid):
    """utime + stime of the process so far."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(self, aragora, fake_url, data_dir, cap, stream=True, extra_env=None):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ARAGORA_ENV": "development",
               "ARAGORA_DATA_DIR": data_dir, "ARAGORA_LOG_LEVEL": "WARNING",
               "ARAGORA_LOG_FORMAT": "text", "ARAGORA_CONVERGENCE_THRESHOLD": "1.0",
               "ARAGORA_MAX_CONCURRENT_DEBATES": "1000", "ARAGORA_MAX_QUEUED_DEBATES": "1000",
               "ARAGORA_MAX_PARALLEL_AGENT_CALLS": str(cap),
               "ARAGORA_RECEIPT_SIGNING_KEY": "bench-key", "ARAGORA_API_PORT": "0",
               "ARAGORA_WS_PORT": "0", "ARAGORA_METRICS_PORT": "0",
               "ARAGORA_AGENT_STREAMING": "true" if stream else "false"}
        for p in ["ANTHROPIC", "OPENAI", "GEMINI", "MISTRAL"]:
            env[f"{p}_API_KEY"] = "bench"
            env[f"ARAGORA_{p}_BASE_URL"] = fake_url
        env.update(extra_env or {})
        self.proc, self.port, self.log = start(
            [aragora, "serve"], env, r"API\s+http://127\.0\.0\.1:(\d+)")
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if http("GET", self.base + "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        sys.exit("aragora never became ready")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_debate(base):
    status, body = http("POST", base + "/api/v1/debates",
                        {"task": "Should the bench cache provider replies?", "agents": AGENTS,
                         "rounds": ROUNDS})
    if status != 201:
        raise RuntimeError(f"create answered {status}: {body}")
    debate_id = body["debate_id"]
    deadline = time.time() + 300
    while time.time() < deadline:
        status, d = http("GET", f"{base}/api/v1/debates/{debate_id}")
        if d.get("status") in ("completed", "failed", "cancelled"):
            if d["status"] != "completed":
                raise RuntimeError(f"debate {debate_id} ended {d['status']}: {d.get('error')}")
            return float(d["duration_seconds"])
        # The duration is measured by the server: polling slowly keeps the client's share
        # of the cores small.
        time.sleep(0.25)
    raise RuntimeError("debate did not finish")


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aragora")
    ap.add_argument("fake")
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--max-concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-stream", action="store_true", help="ask for whole replies (no SSE)")
    a = ap.parse_args()
    lat = a.latency_ms / 1000
    phases = 2 * ROUNDS + 1
    ideal = phases * lat
    calls = len(AGENTS) * (len(AGENTS) - 1)

    fake, fake_port, _ = start([a.fake, "--port", "0", "--latency-ms", str(a.latency_ms)], None,
                               r"listening on 127\.0\.0\.1:(\d+)")
    fake_url = f"http://127.0.0.1:{fake_port}"
    work = tempfile.mkdtemp(prefix="aragora-agent-bench-")
    try:
        print(f"fake provider latency {a.latency_ms} ms; {len(AGENTS)} agents, {ROUNDS} rounds; "
              f"ideal critical path {phases} phases x {a.latency_ms} ms = {ideal * 1000:.0f} ms")
        print()
        print("1. one debate: duration / ideal critical path")
        print(f"{'cap':>4} {'waves':>5} {'duration ms':>12} {'ratio':>7} {'ratio vs cap ideal':>19}")
        for cap in (8, 12):
            server = Server(a.aragora, fake_url, os.path.join(work, f"cap{cap}"), cap,
                            not a.no_stream)
            try:
                run_debate(server.base)  # warm-up
                durations = [run_debate(server.base) for _ in range(a.repeats)]
            finally:
                server.stop()
            waves = math.ceil(calls / cap)
            cap_ideal = (ROUNDS * (1 + waves) + 1) * lat
            d = sorted(durations)[len(durations) // 2]
            print(f"{cap:>4} {waves:>5} {d * 1000:>12.0f} {d / ideal:>7.2f} {d / cap_ideal:>19.2f}")

        print()
        print("2. C debates at once (cap 12): overhead = duration - ideal; p99 vs C=1")
        print(f"{'C':>5} {'p50 ms':>8} {'p99 ms':>8} {'p99 overhead ms':>16} {'x C=1':>7} "
              f"{'RSS MiB':>8} {'CPU ms/debate: server':>22} {'fake':>6}")
        server = Server(a.aragora, fake_url, os.path.join(work, "conc"), 12, not a.no_stream)
        base_overhead = None
        best = None
        try:
            run_debate(server.base)
            c = 1
            while c <= a.max_concurrency:
                peak = [rss_kib(server.proc.pid)]
                done = threading.Event()

                def sample():
                    while not done.wait(0.05):
                        peak[0] = max(peak[0], rss_kib(server.proc.pid))

                t = threading.Thread(target=sample)
                cpu_before = cpu_seconds(server.proc.pid)
                fake_before = cpu_seconds(fake.pid)
                t.start()
                with concurrent.futures.ThreadPoolExecutor(max_workers=min(c, 64)) as pool:
                    durations = list(pool.map(lambda _: run_debate(server.base), range(c)))
                done.set()
                t.join()
                cpu_per_debate = (cpu_seconds(server.proc.pid) - cpu_before) / c
                fake_per_debate = (cpu_seconds(fake.pid) - fake_before) / c
                overhead = max(0.0, percentile(durations, 99) - ideal)
                if base_overhead is None:
                    base_overhead = max(overhead, 0.001)
                ratio = overhead / base_overhead
                print(f"{c:>5} {percentile(durations, 50) * 1000:>8.0f} "
                      f"{percentile(durations, 99) * 1000:>8.0f} {overhead * 1000:>16.1f} "
                      f"{ratio:>7.2f} {peak[0] / 1024:>8.1f} {cpu_per_debate * 1000:>22.1f} "
                      f"{fake_per_debate * 1000:>6.1f}")
                if ratio <= 2.0 and (best is None or best[0] == c // 2):
                    best = (c, peak[0])
                if ratio > 8.0:
                    break
                c *= 2
        finally:
            server.stop()
        if best:
            print(f"\nlargest C before the p99 overhead doubles: {best[0]} "
                  f"(server RSS {best[1] / 1024:.1f} MiB)")
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(10)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
