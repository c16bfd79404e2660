#!/usr/bin/env python3
"""Request cost of OpenTelemetry tracing in `aragora serve`.

wrk (keep-alive, after a warm-up) drives GET /api/v1/agents/circuit-breakers (through the
whole middleware chain, no database) on a fresh `aragora serve` per run, in these
configurations, interleaved --repeats times (median):

  off        no OTEL_EXPORTER_OTLP_ENDPOINT (the baseline)
  grpc-1.0   OTLP/gRPC to the loopback collector, OTEL_TRACES_SAMPLER=always_on
  grpc-0.1   the same with traceidratio 0.1
  http-1.0   OTLP/HTTP (http/protobuf) to the collector, always_on
  down-1.0   OTLP/gRPC to a closed port (the collector is down), always_on

The collector is tests/tools/otlp_collector.js (node; scripts/install-deps.sh installs its
packages), which decodes every request it receives. Printed per configuration: requests/s,
p50 and p99 latency, each as a ratio to `off`, and the spans exported / dropped per request
(from /metrics). Ratios only, against the baseline of the same run (bench/README.md); no
pass/fail.

usage: tracing_bench.py <aragora binary> [--repeats 3] [--duration 5] [--connections 32]
       [--threads 2] [--io-threads 2]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tests", "tools")
ROUTE = "/api/v1/agents/circuit-breakers"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_collector():
    if not os.path.isdir(os.path.join(TOOLS, "node_modules", "@grpc", "grpc-js")):
        sys.exit("tests/tools/node_modules is missing: run scripts/install-deps.sh")
    p = subprocess.Popen(["node", os.path.join(TOOLS, "otlp_collector.js")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    ports = json.loads(line)
    return p, ports["grpc_port"], ports["http_port"]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class Server:
    def __init__(self, aragora, data_dir, extra_env, io_threads):
        os.makedirs(data_dir, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ARAGORA_ENV": "development",
               "ARAGORA_DATA_DIR": data_dir, "ARAGORA_LOG_LEVEL": "WARNING",
               "ARAGORA_LOG_FORMAT": "text", "ARAGORA_RECEIPT_SIGNING_KEY": "bench-key",
               "ARAGORA_API_PORT": "0", "ARAGORA_WS_PORT": "0", "ARAGORA_METRICS_PORT": "0",
               "ARAGORA_RATE_LIMIT_DISABLED": "1", "ARAGORA_IO_THREADS": str(io_threads)}
        env.update(extra_env)
        self.log = tempfile.NamedTemporaryFile("w+", delete=False, suffix=".log")
        self.proc = subprocess.Popen([aragora, "serve"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        self.port = None
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                sys.exit("aragora serve exited: " + open(self.log.name).read()[-2000:])
            m = re.search(r"API\s+http://127\.0\.0\.1:(\d+)", open(self.log.name).read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.02)
        if self.port is None:
            self.stop()
            sys.exit("aragora serve did not start: " + open(self.log.name).read()[-2000:])
        self.base = f"http://127.0.0.1:{self.port}"
        while time.time() < deadline:
            try:
                if get(self.base + "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        sys.exit("aragora serve never became ready")

    def metric(self, name):
        text = get(self.base + "/metrics")[1]
        m = re.search(r"^" + name + r" ([0-9.e+]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.log.name)


def to_ms(text):
    m = re.match(r"([0-9.]+)(us|ms|s)$", text)
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]


def wrk(url, a, seconds):
    out = subprocess.run(["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{seconds}s",
                          "--latency", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    return rps, p50, p99, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aragora")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--io-threads", type=int, default=2)
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: scripts/install-deps.sh --bench")

    collector, grpc_port, http_port = start_collector()
    dead_port = free_port()
    fast = {"OTEL_BSP_SCHEDULE_DELAY": "1000", "OTEL_SERVICE_NAME": "aragora-bench"}
    configs = [
        ("off", {}),
        ("grpc-1.0", {**fast, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
                      "OTEL_TRACES_SAMPLER": "always_on"}),
        ("grpc-0.1", {**fast, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
                      "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
        ("http-1.0", {**fast, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
                      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                      "OTEL_TRACES_SAMPLER": "always_on"}),
        ("down-1.0", {**fast, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead_port}",
                      "OTEL_TRACES_SAMPLER": "always_on"}),
    ]
    results = {name: [] for name, _ in configs}
    work = tempfile.mkdtemp(prefix="aragora_tracing_bench_")
    try:
        for r in range(a.repeats):
            for name, env in configs:
                server = Server(a.aragora, os.path.join(work, f"{name}-{r}"), env, a.io_threads)
                try:
                    wrk(server.base + ROUTE, a, 2)  # warm-up
                    time.sleep(1.5)  # its spans leave (one schedule delay) before counting
                    before_exp = server.metric("aragora_trace_spans_exported_total")
                    before_drop = server.metric("aragora_trace_spans_dropped_total")
                    rps, p50, p99, total = wrk(server.base + ROUTE, a, a.duration)
                    # Let the last batches leave (one schedule delay) before counting.
                    time.sleep(1.5)
                    exported = server.metric("aragora_trace_spans_exported_total") - before_exp
                    dropped = server.metric("aragora_trace_spans_dropped_total") - before_drop
                    results[name].append((rps, p50, p99, exported / total, dropped / total))
                finally:
                    server.stop()
    finally:
        collector.stdin.close()
        collector.terminate()
        collector.wait()
        shutil.rmtree(work, ignore_errors=True)

    def med(name, i):
        return statistics.median(x[i] for x in results[name])

    base_rps, base_p50, base_p99 = med("off", 0), med("off", 1), med("off", 2)
    print(f"\nGET {ROUTE}, wrk -t{a.threads} -c{a.connections} -d{a.duration}s, "
          f"ARAGORA_IO_THREADS={a.io_threads}, median of {a.repeats}")
    print(f"{'config':<10} {'req/s':>9} {'ratio':>6} {'p50 ms':>7} {'ratio':>6} "
          f"{'p99 ms':>7} {'ratio':>6} {'exported/req':>13} {'dropped/req':>12}")
    for name, _ in configs:
        rps, p50, p99 = med(name, 0), med(name, 1), med(name, 2)
        print(f"{name:<10} {rps:>9.0f} {rps / base_rps:>6.2f} {p50:>7.2f} {p50 / base_p50:>6.2f} "
              f"{p99:>7.2f} {p99 / base_p99:>6.2f} {med(name, 3):>13.3f} {med(name, 4):>12.3f}")
    print("ratios against `off` of the same run; exported/dropped: spans per wrk request "
          "(the /metrics reads add a few)")


if __name__ == "__main__":
    main()
