#!/usr/bin/env python3
"""The debate runtime at scale (issue 20's goals): figures and same-run ratios, no pass/fail.

usage: runtime_bench.py <release build dir> [--only cpu,critical,inflight,viewers]
       [--backends sqlite,postgresql] [--debates N] [--delay-ms MS] [--viewers N] ...
Every knob also reads an environment variable (RUNTIME_*, see --help); the defaults are a
smaller size that runs in a few minutes, RUNTIME_DEBATES=10000 RUNTIME_VIEWERS=10000 the
issue's full size.

1. cpu: server CPU per debate (utime + stime of the serve process from /proc/<pid>/stat,
   divided by the debates): 4 provider agents x 3 rounds against the fake provider (no
   latency), streamed and unstreamed, and 4 demo agents (the baseline of the ratios). The
   same polling runs with no debate for the same time; its CPU is subtracted ("net").
   The fake's own CPU per debate is printed apart.
2. critical: one debate, 4 provider agents at 50 ms, streamed: server-side duration / the
   ideal critical path (sequential phases x latency), with the per-debate call cap at 12
   (one wave per phase) and at the default 8.
3. inflight: ramp to N concurrent debates (4 provider agents x 3 rounds, streamed, cap 12)
   with the fake answering every call after --delay-ms: p50/p99 duration / the ideal
   critical path, errors, peak in flight (the server's own count of active debates),
   server peak RSS and (RSS - idle RSS) per debate in flight; on SQLite and PostgreSQL.
4. viewers: live WebSocket subscribers (aragora_ws_viewers, C++/Beast, one thread): D
   debates x V/D viewers, and V viewers on one debate (demo agents, paced by
   ARAGORA_DEMO_LATENCY_MS): gap-free streams to debate_end, delivery latency p50/p99
   (receive time - event timestamp), server RSS per subscriber, the client's own CPU.

Limits: as root the bench runs itself in a private network namespace (unshare -n; loopback
only) where it widens net.ipv4.ip_local_port_range to 1024-65535 and raises
net.core.somaxconn: 10,000 debates x up to 12 concurrent calls exceed the ~28k ephemeral
ports one loopback address:port allows by default. It raises RLIMIT_NOFILE (soft and, as
root, hard) to 1048576 for itself and every child. The fake provider listens on one port per
provider. Every process is a child of this script, stopped at the end; data in one temp dir.
"""
import argparse
import concurrent.futures
import contextlib
import http.client
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import distributed_bench  # noqa: E402  (its PostgreSQL start-up; its children list)
from agent_bench import cpu_seconds, rss_kib  # noqa: E402

PROVIDERS = ["ANTHROPIC", "OPENAI", "GEMINI", "MISTRAL"]
PROVIDER_AGENTS = ["anthropic:bench-a", "openai:bench-o", "gemini:bench-g", "mistral:bench-m"]
ROUNDS = 3
PHASES = 2 * ROUNDS + 1  # propose/revise and critique per round, then the vote
CHILDREN = distributed_bench.CHILDREN
TASK = "Should the bench cache provider replies?"


def env_default(name, default):
    return type(default)(os.environ.get(name, default))


# --------------------------------------------------------------------------------------
# processes


def log_path(tmp, name):
    return os.path.join(tmp, name + ".log")


def spawn(cmd, tmp, name, env=None):
    out = open(log_path(tmp, name), "w")
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    CHILDREN.append(p)
    return p


def stop(p, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def wait_for(pattern, path, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = open(path).read()
        found = re.findall(pattern, text)
        if found:
            return found
        if proc.poll() is not None:
            raise SystemExit(f"runtime_bench: {proc.args[0]} exited: {text[-2000:]}")
        time.sleep(0.02)
    raise SystemExit(f"runtime_bench: {proc.args[0]} did not start: {open(path).read()[-2000:]}")


class Fake:
    """aragora_fake_llm with one listener per provider, keeping no request records."""

    def __init__(self, binary, tmp, name, latency_ms):
        self.name = name
        self.proc = spawn([binary, "--port", "0", "--latency-ms", str(latency_ms),
                           "--listeners", str(len(PROVIDERS)), "--keep-requests", "0"],
                          tmp, name)
        ports = wait_for(r"listening on 127\.0\.0\.1:(\d+)\n", log_path(tmp, name), self.proc)
        while len(ports) < len(PROVIDERS):
            time.sleep(0.02)
            ports = re.findall(r"listening on 127\.0\.0\.1:(\d+)\n", open(log_path(tmp, name)).read())
        self.urls = [f"http://127.0.0.1:{p}" for p in ports[:len(PROVIDERS)]]

    def stats(self):
        """GET /_fake/stats of every listener; counts summed (peaks: the sum of each
        listener's peak), CPU and RSS are the process's."""
        total = {}
        for url in self.urls:
            host, port = url[len("http://"):].split(":")
            c = http.client.HTTPConnection(host, int(port), timeout=10)
            c.request("GET", "/_fake/stats")
            one = json.loads(c.getresponse().read())
            c.close()
            for k, v in one.items():
                if not isinstance(v, (int, float)):
                    continue
                if k.startswith("cpu") or k == "max_rss_kib":
                    total[k] = v
                else:
                    total[k] = total.get(k, 0) + v
        return total

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        stop(self.proc)


class Serve:
    def __init__(self, aragora, tmp, name, fake=None, stream=True, extra=None):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "ARAGORA_ENV": "development", "ARAGORA_DATA_DIR": os.path.join(tmp, name),
               "ARAGORA_LOG_LEVEL": "WARNING", "ARAGORA_LOG_FORMAT": "text",
               "ARAGORA_CONVERGENCE_THRESHOLD": "1.0", "ARAGORA_IO_THREADS": "2",
               "ARAGORA_MAX_CONCURRENT_DEBATES": "10000", "ARAGORA_MAX_QUEUED_DEBATES": "1000000",
               "ARAGORA_MAX_PARALLEL_AGENT_CALLS": "12", "ARAGORA_RATE_LIMIT_DISABLED": "1",
               "ARAGORA_MAX_CONNECTIONS": "1000000", "ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP": "0",
               "ARAGORA_WS_MAX_CONNECTIONS": "1000000",
               "ARAGORA_WS_CONNECTIONS_PER_MINUTE": "10000000",
               "ARAGORA_AGENT_TIMEOUT_SECONDS": "600", "ARAGORA_AGENT_MAX_RETRIES": "0",
               "ARAGORA_DEBATE_TIMEOUT_SECONDS": "3600", "ARAGORA_DEMO_LATENCY_MS": "0",
               "ARAGORA_RECEIPT_SIGNING_KEY": "bench-key", "ARAGORA_API_PORT": "0",
               "ARAGORA_WS_PORT": "0", "ARAGORA_METRICS_PORT": "0",
               "ARAGORA_AGENT_STREAMING": "true" if stream else "false"}
        if fake is not None:
            for provider, url in zip(PROVIDERS, fake.urls):
                env[f"{provider}_API_KEY"] = "bench"
                env[f"ARAGORA_{provider}_BASE_URL"] = url
        env.update(extra or {})
        self.stalls = 0
        self.proc = spawn([aragora, "serve"], tmp, name, env)
        self.port = int(wait_for(r"API\s+http://127\.0\.0\.1:(\d+)", log_path(tmp, name),
                                 self.proc)[0])
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if request(self.port, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise SystemExit(f"runtime_bench: serve {name} never became ready")

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def rss(self):
        return rss_kib(self.proc.pid)

    def active(self):
        """The server's count of pending + running debates; -1 when it does not answer
        within 60 s (counted in self.stalls)."""
        try:
            status, body = request(self.port, "GET", "/api/v1/debates?status=active&limit=1")
        except (OSError, http.client.HTTPException):
            self.stalls += 1
            return -1
        return body.get("total", 0) if status == 200 else -1

    def provider_budget(self):
        """The provider connection budget's gauges from GET /metrics (ARAGORA_PROVIDER_
        CONNECTIONS: limit, calls in flight, calls waiting); {} when the binary has none."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode(errors="replace")
            c.close()
        except (OSError, http.client.HTTPException):
            return {}
        out = {}
        for name in ("limit", "in_flight", "waiting"):
            metric = ("aragora_provider_connections_limit" if name == "limit"
                      else "aragora_provider_calls_" + name)
            m = re.search(r"^" + metric + r" ([0-9.eE+]+)$", text, re.M)
            if m:
                out[name] = float(m.group(1))
        return out

    def stop(self):
        stop(self.proc, 120)


# One request on this thread's keep-alive connection: the reliability scripts' helper.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts",
                                "reliability"))
import lib as reliability_lib  # noqa: E402


def request(port, method, path, body=None, timeout=60):
    return reliability_lib.request(port, method, path, body, timeout)


def create(port, agents, rounds=ROUNDS):
    try:
        status, body = request(port, "POST", "/api/v1/debates",
                               {"task": TASK, "agents": agents, "rounds": rounds})
    except (OSError, http.client.HTTPException) as e:
        return None, f"create failed: {e}"
    if status != 201:
        return None, f"create answered {status}: {str(body)[:200]}"
    return body["debate_id"], None


def get(port, debate_id):
    try:
        return request(port, "GET", f"/api/v1/debates/{debate_id}")[1]
    except (OSError, http.client.HTTPException) as e:
        return {"status": "unreadable", "error": f"GET timed out or failed: {e}"}


def wait_idle(serve, timeout, poll=0.5, on_poll=None):
    """Polls the server's count of active debates until it is 0; returns False on timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = serve.active()
        if on_poll:
            on_poll(n)
        if n == 0:
            return True
        time.sleep(poll)
    return False


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]


def finals(port, ids, threads=8):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda i: get(port, i), ids))


# --------------------------------------------------------------------------------------
# 1. CPU per debate


@contextlib.contextmanager
def cpu_scenario_server(build, tmp, kind, fake_bin=None):
    """The `cpu` scenario's set-up for the tools beside this one (runtime_profile.py,
    runtime_wal.py): the fake provider without latency and one `serve` on it (streaming
    unless kind is "unstreamed"), warmed up by one debate of the kind's agents ("demo": 4
    demo agents, else PROVIDER_AGENTS). Yields (fake, serve, agents); stops both after."""
    aragora = os.path.abspath(os.path.join(build, "src/cli/aragora"))
    fake_bin = fake_bin or os.path.abspath(os.path.join(build, "tests/fake_llm/aragora_fake_llm"))
    agents = ["demo"] * 4 if kind == "demo" else PROVIDER_AGENTS
    fake = Fake(fake_bin, tmp, "fake", 0)
    serve = None
    try:
        serve = Serve(aragora, tmp, "serve", fake, kind != "unstreamed")
        create(serve.port, agents)
        wait_idle(serve, 120, 0.1)
        yield fake, serve, agents
    finally:
        if serve is not None:
            serve.stop()
        fake.stop()


def scenario_cpu(a, tmp):
    n = a.cpu_debates
    print(f"\n== 1. server CPU per debate: {n} debates at once, {ROUNDS} rounds, no agent latency")
    print("   CPU = utime + stime of the serve process (/proc/<pid>/stat) over the run / debates;")
    print("   the run polls GET /api/v1/debates?status=active every 0.2 s; 'net' subtracts the")
    print("   CPU of the same polling for the same time with no debate (measured after each).")
    fake = Fake(a.fake, tmp, "fake-cpu", 0)
    rows = []
    try:
        for k, (name, agents, stream) in enumerate((
                ("demo agents (baseline)", ["demo"] * 4, True),
                ("4 providers, streamed", PROVIDER_AGENTS, True),
                ("4 providers, unstreamed", PROVIDER_AGENTS, False))):
            serve = Serve(a.aragora, tmp, f"cpu-{k}", fake, stream)
            try:
                ids = [create(serve.port, agents)[0]]  # warm-up
                wait_idle(serve, 120, 0.1)
                s0, f0, t0 = serve.cpu(), fake.cpu(), time.time()
                ids, errors = [], []
                for _ in range(n):
                    i, err = create(serve.port, agents)
                    (ids.append(i) if i else errors.append(err))
                wait_idle(serve, 600, 0.2)
                wall = time.time() - t0
                s1, f1 = serve.cpu(), fake.cpu()
                # the same polling, idle, for the same time
                i0, it0 = serve.cpu(), time.time()
                while time.time() - it0 < wall:
                    serve.active()
                    time.sleep(0.2)
                idle = serve.cpu() - i0
                ended = finals(serve.port, ids)
                failed = sum(1 for d in ended if d.get("status") != "completed") + len(errors)
                rows.append((name, (s1 - s0) / n, (s1 - s0 - idle) / n, (f1 - f0) / n, wall,
                             failed))
            finally:
                serve.stop()
    finally:
        fake.stop()
    base = rows[0][2] if rows[0][2] > 0 else rows[0][1]
    print(f"   {'agents':<26} {'ms/debate':>10} {'net ms':>8} {'x demo':>7} {'fake ms':>8} "
          f"{'secs':>6} {'failed':>6}")
    for name, raw, net, fk, wall, failed in rows:
        print(f"   {name:<26} {raw * 1000:>10.2f} {net * 1000:>8.2f} "
              f"{(net / base if base > 0 else float('nan')):>7.2f} {fk * 1000:>8.2f} "
              f"{wall:>6.1f} {failed:>6}")
    print("   (CPU ticks are 10 ms: with few debates the figures are coarse; RUNTIME_CPU_DEBATES)")


# --------------------------------------------------------------------------------------
# 2. critical path


def scenario_critical(a, tmp):
    lat = a.critical_latency_ms / 1000
    ideal = PHASES * lat
    print(f"\n== 2. critical path: one debate, 4 provider agents x {ROUNDS} rounds, streamed, "
          f"fake latency {a.critical_latency_ms} ms")
    print(f"   ideal = {PHASES} sequential phases x {a.critical_latency_ms} ms = {ideal * 1000:.0f} ms"
          f"; median of {a.repeats} after a warm-up; duration = the server's duration_seconds")
    fake = Fake(a.fake, tmp, "fake-critical", a.critical_latency_ms)
    print(f"   {'call cap':>8} {'waves':>5} {'duration ms':>12} {'x ideal':>8} {'x ideal w/ waves':>17}")
    try:
        for cap in (12, 8):
            serve = Serve(a.aragora, tmp, f"critical-{cap}", fake, True,
                          {"ARAGORA_MAX_PARALLEL_AGENT_CALLS": str(cap)})
            try:
                durations = []
                for k in range(a.repeats + 1):
                    i, err = create(serve.port, PROVIDER_AGENTS)
                    if err:
                        raise SystemExit("runtime_bench: " + err)
                    wait_idle(serve, 120, 0.05)
                    d = get(serve.port, i)
                    if d.get("status") != "completed":
                        raise SystemExit(f"runtime_bench: debate ended {d.get('status')}: "
                                         f"{d.get('error')}")
                    if k > 0:
                        durations.append(float(d["duration_seconds"]))
            finally:
                serve.stop()
            waves = math.ceil(12 / cap)
            wave_ideal = (ROUNDS * (1 + waves) + 1) * lat
            med = sorted(durations)[len(durations) // 2]
            print(f"   {cap:>8} {waves:>5} {med * 1000:>12.0f} {med / ideal:>8.3f} "
                  f"{med / wave_ideal:>17.3f}")
    finally:
        fake.stop()


# --------------------------------------------------------------------------------------
# 3. debates in flight


def waves_ideal(cap, latency):
    """The ideal critical path at a per-debate call cap: each phase in ceil(calls / cap)
    waves (4 proposals or revisions or votes, 12 critiques)."""
    w4, w12 = math.ceil(4 / cap), math.ceil(12 / cap)
    return (ROUNDS * (w4 + w12) + w4) * latency


def scenario_inflight(a, tmp, backend, pg_port):
    n = a.debates
    delay = a.delay_ms / 1000
    ideal = waves_ideal(a.inflight_cap, delay)
    extra = {"ARAGORA_MAX_PARALLEL_AGENT_CALLS": str(a.inflight_cap)}
    if backend == "postgresql":
        name = f"bench_inflight_{int(time.time())}"
        distributed_bench.create_db(pg_port, name)
        extra["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{pg_port}/{name}"
    fake = Fake(a.fake, tmp, "fake-inflight-" + backend, a.delay_ms)
    serve = Serve(a.aragora, tmp, "inflight-" + backend, fake, True, extra)
    try:
        idle_rss = serve.rss()
        s0, f0 = serve.cpu(), fake.cpu()
        peak = {"rss": idle_rss, "active": 0, "calls": 0, "waiting": 0}
        budget = serve.provider_budget()
        done = threading.Event()

        def sample():
            # RSS every 0.2 s, the server's active count and its provider budget every 1 s,
            # from the ramp on.
            k = 0
            while not done.wait(0.2):
                peak["rss"] = max(peak["rss"], serve.rss())
                k += 1
                if k % 5 == 0:
                    peak["active"] = max(peak["active"], serve.active())
                    if budget:
                        b = serve.provider_budget()
                        peak["calls"] = max(peak["calls"], b.get("in_flight", 0))
                        peak["waiting"] = max(peak["waiting"], b.get("waiting", 0))

        sampler = threading.Thread(target=sample)
        sampler.start()
        ids, errors = [], []
        t0 = time.time()
        lock = threading.Lock()

        def make(_):
            i, err = create(serve.port, PROVIDER_AGENTS)
            with lock:
                (ids.append(i) if i else errors.append(err))

        # The ramp: --ramp creates per second at most, from 8 client threads.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = []
            for k in range(n):
                target = t0 + k / a.ramp
                wait = target - time.time()  # read once: it may pass zero between two reads
                if wait > 0:
                    time.sleep(wait)
                futures.append(pool.submit(make, k))
            for fu in futures:
                fu.result()
        ramp = time.time() - t0

        def on_poll(active):
            peak["active"] = max(peak["active"], active)

        finished = wait_idle(serve, a.inflight_timeout or ideal * 2 + 120, 1.0, on_poll)
        wall = time.time() - t0
        still_active = 0 if finished else serve.active()
        done.set()
        sampler.join()
        s1, f1 = serve.cpu(), fake.cpu()
        fstats = fake.stats()
        ended = finals(serve.port, ids)
        durations = [float(d["duration_seconds"]) for d in ended
                     if d.get("status") == "completed" and d.get("duration_seconds") is not None]
        failed = [d for d in ended if d.get("status") not in ("completed", "pending", "running")]
        first_error = (errors[0] if errors else
                       (f"{failed[0].get('status')}: {failed[0].get('error')}" if failed else ""))
        p50, p99 = percentile(durations, 50), percentile(durations, 99)
        active = peak["active"]
        per_debate = f"{(peak['rss'] - idle_rss) / active:>9.1f}" if active > 0 else f"{'-':>9}"
        print(f"   {backend:<10} {n:>6} {ramp:>6.1f} {peak['active']:>7} {p50:>7.1f} {p99:>7.1f} "
              f"{p99 / ideal:>7.3f} {len(errors):>6} {len(failed):>6} "
              f"{peak['rss'] / 1024:>8.1f} {per_debate} "
              f"{(s1 - s0) / max(len(ids), 1) * 1000:>8.1f} "
              f"{(f1 - f0) / max(len(ids), 1) * 1000:>7.2f} {wall:>6.0f}"
              + ("" if finished else f"  STOPPED: {still_active} still active after {wall:.0f} s"
                 " (p50/p99 over the finished ones)"))
        if first_error:
            print(f"      first error: {first_error[:300]}")
        if errors and failed:
            print(f"      first failed debate: {failed[0].get('status')}: "
                  f"{str(failed[0].get('error'))[:300]}")
        if budget:
            print(f"      provider connection budget {budget.get('limit', 0):.0f} (3/4 of serve's "
                  f"RLIMIT_NOFILE unless ARAGORA_PROVIDER_CONNECTIONS): peak {peak['calls']:.0f} "
                  f"calls in flight, peak {peak['waiting']:.0f} waiting")
        if serve.stalls:
            print(f"      the server left {serve.stalls} status polls unanswered for 60 s")
        log = open(log_path(tmp, "inflight-" + backend), errors="replace").read()
        emfile = log.count("Too many open files")
        if emfile:
            print(f"      serve log: {emfile} lines name EMFILE (Too many open files), "
                  f"{log.count('accept failed')} of them failed accepts")
        print(f"      fake: {fstats['connections_peak']} peak connections, "
              f"{fstats['in_flight_peak']} peak calls held, "
              f"{fstats['requests'] / max(len(ids), 1):.1f} calls per debate, "
              f"{fstats['max_rss_kib'] / 1024:.0f} MiB peak RSS")
    finally:
        serve.stop()
        fake.stop()


def scenario_inflight_all(a, tmp):
    ideal = waves_ideal(a.inflight_cap, a.delay_ms / 1000)
    print(f"\n== 3. debates in flight: {a.debates} debates (4 provider agents x {ROUNDS} rounds, "
          f"streamed, call cap {a.inflight_cap}) created at up to {a.ramp:.0f}/s;")
    print(f"   the fake answers every call after {a.delay_ms} ms: ideal critical path "
          f"{ideal / (a.delay_ms / 1000):g} waves x {a.delay_ms / 1000:g} s = {ideal:.0f} s "
          "(the baseline of x ideal).")
    print("   peak = the server's own count of active debates (GET ?status=active, every 1 s);")
    print("   KiB/deb = (peak RSS - RSS before the ramp) / peak in flight; CPU per debate: server, fake.")
    print(f"   {'backend':<10} {'N':>6} {'ramp s':>6} {'peak':>7} {'p50 s':>7} {'p99 s':>7} "
          f"{'x ideal':>7} {'create':>6} {'failed':>6} {'RSS MiB':>8} {'KiB/deb':>9} "
          f"{'srv ms':>8} {'fake ms':>7} {'secs':>6}")
    pg_port = None
    for backend in a.backends:
        if backend == "postgresql" and pg_port is None:
            pg_port = distributed_bench.start_postgres(os.path.join(tmp, "pgroot"))
        scenario_inflight(a, tmp, backend, pg_port)


# --------------------------------------------------------------------------------------
# 4. live viewers


def viewer_layouts(a):
    """[(label, debates, per debate)]: RUNTIME_VIEWER_LAYOUTS ("1x100,100x100,...") or the
    default 1 x 100 (the baseline), D x V/D and 1 x V."""
    if a.viewer_layouts:
        out = []
        for item in a.viewer_layouts.split(","):
            d, per = (int(x) for x in item.lower().split("x"))
            out.append((f"{d} x {per}" + (" (baseline)" if (d, per) == (1, 100) else ""), d, per))
        return out
    v = a.viewers
    debates = min(a.viewer_debates, v)
    return [("1 x 100 (baseline)", 1, 100), (f"{debates} x {v // debates}", debates, v // debates),
            (f"1 x {v}", 1, v)]


def run_viewers(a, tmp, aragora, tag, debates, per):
    """One layout against one serve binary; (result dict or None, rss/sub KiB, server CPU s,
    connect s, other output)."""
    serve = Serve(aragora, tmp, f"viewers-{tag}-{debates}x{per}", None, True,
                  {"ARAGORA_DEMO_LATENCY_MS": str(a.viewer_latency_ms)})
    try:
        ids = []
        for _ in range(debates):
            i, err = create(serve.port, ["demo"] * 4, a.viewer_rounds)
            if err:
                raise SystemExit("runtime_bench: " + err)
            ids.append(i)
        ids_file = os.path.join(tmp, f"ids-{tag}-{debates}x{per}")
        with open(ids_file, "w") as f:
            f.write("\n".join(ids) + "\n")
        rss0, cpu0 = serve.rss(), serve.cpu()
        extra = []
        if a.viewer_per_seq:
            os.makedirs(a.viewer_per_seq, exist_ok=True)
            extra = [f"--per-seq={os.path.join(a.viewer_per_seq, f'{tag}-{debates}x{per}.txt')}"]
        p = subprocess.Popen([a.viewers_bin, f"--port={serve.port}", f"--ids={ids_file}",
                              f"--per-debate={per}", "--timeout=600"] + extra,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        CHILDREN.append(p)
        rss_sub, result, conn_s, other = float("nan"), None, float("nan"), []
        for line in p.stdout:
            if line.startswith("connected "):
                _, okc, failc, secs = line.split()
                conn_s = float(secs)
                rss_sub = (serve.rss() - rss0) / max(int(okc), 1)
            elif line.startswith("result "):
                result = json.loads(line[len("result "):])
            else:
                other.append(line.strip())
        p.wait()
        CHILDREN.remove(p)
        return result, rss_sub, serve.cpu() - cpu0, conn_s, other
    finally:
        serve.stop()


def scenario_viewers(a, tmp):
    print(f"\n== 4. live viewers: aragora_ws_viewers (C++, one thread) reads every stream to")
    print(f"   debate_end; demo agents x {a.viewer_rounds} rounds, ARAGORA_DEMO_LATENCY_MS="
          f"{a.viewer_latency_ms}. Latency = receive - event timestamp over live events;")
    print("   p99 sub = p99 over the events made once every viewer had subscribed (the")
    print("   connection storm over); RSS/sub = (server RSS once all are subscribed - before) / subscribers; the")
    print("   baseline row is 100 subscribers on one debate.")
    # With RUNTIME_COMPARE_ARAGORA=<another serve binary>, every layout runs on that binary
    # ("before") then on this build's ("after"), one right after the other, under the same
    # load; "x before" is after / before for p99 and server CPU.
    binaries = [("", a.aragora)]
    if a.compare_aragora:
        binaries = [("before", os.path.abspath(a.compare_aragora)), ("after", a.aragora)]
        print(f"   before = {binaries[0][1]}; after = {a.aragora}")
    print(f"   {'layout':<18} {'serve':<6} {'subs':>6} {'ok':>6} {'gaps':>5} {'fail':>5} {'events':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'x p99':>6} {'p99 sub':>7} {'max ms':>7} {'RSS/sub KiB':>11} "
          f"{'srv cpu s':>9} {'cl cpu s':>8} {'conn s':>6}")
    base_p99 = None
    for label, debates, per in viewer_layouts(a):
        before = None
        for tag, binary in binaries:
            result, rss_sub, srv_cpu, conn_s, other = run_viewers(a, tmp, binary, tag or "this",
                                                                  debates, per)
            if result is None:
                print(f"   {label:<18} {tag:<6} client failed: {' | '.join(other)[-300:]}")
                continue
            if tag == "before":
                before = (result["p99_ms"] or 1.0, srv_cpu or 1e-9)
            if base_p99 is None:
                base_p99 = result["p99_ms"] or 1.0
            print(f"   {label:<18} {tag:<6} {result['clients']:>6} {result['ok']:>6} {result['gap']:>5} "
                  f"{result['failed']:>5} {result['events']:>9} {result['p50_ms']:>7.1f} "
                  f"{result['p99_ms']:>7.1f} {result['p99_ms'] / base_p99:>6.2f} "
                  f"{result.get('subscribed_p99_ms', float('nan')):>7.1f} "
                  f"{result['max_ms']:>7.0f} {rss_sub:>11.1f} {srv_cpu:>9.1f} "
                  f"{result['cpu_seconds']:>8.1f} {conn_s:>6.1f}")
            if result["first_error"]:
                print(f"      first error: {result['first_error'][:300]}")
            if tag == "after" and before is not None:
                print(f"      after / before: p99 x{result['p99_ms'] / before[0]:.3f}, "
                      f"server CPU x{srv_cpu / before[1]:.3f}")
            sys.stdout.flush()


# --------------------------------------------------------------------------------------


def enter_netns(a):
    """Re-runs this script in a private network namespace (root only); False if it cannot."""
    if a.no_netns or os.environ.get("ARAGORA_BENCH_NETNS") or os.geteuid() != 0:
        return False
    if not shutil.which("unshare") or not shutil.which("ip") or not shutil.which("sysctl"):
        return False
    env = dict(os.environ, ARAGORA_BENCH_NETNS="1")
    p = subprocess.Popen(["unshare", "-n", "--", sys.executable] + sys.argv, env=env)
    signal.signal(signal.SIGTERM, lambda *_: p.send_signal(signal.SIGTERM))
    sys.exit(p.wait())


def setup_limits():
    notes = []
    if os.environ.get("ARAGORA_BENCH_NETNS"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535",
                        "net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535"],
                       check=True)
        notes.append("private network namespace (unshare -n): ip_local_port_range 1024-65535, "
                     "somaxconn 65535")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)
    notes.append(f"RLIMIT_NOFILE (soft/hard) {soft}/{hard} -> {now[0]}/{now[1]} for this script "
                 "and every child" + ("" if now[1] >= want else
                                      f" (the hard limit cannot be raised here: {now[1]} "
                                      "descriptors per process bound the connections of serve "
                                      "and of the fake)"))
    return notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="Release build dir (aragora, aragora_fake_llm, aragora_ws_viewers)")
    ap.add_argument("--only", default=env_default("RUNTIME_ONLY", "cpu,critical,inflight,viewers"))
    ap.add_argument("--backends", default=env_default("RUNTIME_BACKENDS", "sqlite,postgresql"))
    ap.add_argument("--cpu-debates", type=int, default=env_default("RUNTIME_CPU_DEBATES", 40))
    ap.add_argument("--critical-latency-ms", type=int,
                    default=env_default("RUNTIME_CRITICAL_LATENCY_MS", 50))
    ap.add_argument("--repeats", type=int, default=env_default("RUNTIME_REPEATS", 3))
    ap.add_argument("--debates", type=int, default=env_default("RUNTIME_DEBATES", 1000),
                    help="debates in flight (RUNTIME_DEBATES; the goal: 10000)")
    ap.add_argument("--delay-ms", type=int, default=env_default("RUNTIME_DELAY_MS", 10000))
    ap.add_argument("--inflight-timeout", type=float,
                    default=env_default("RUNTIME_INFLIGHT_TIMEOUT", 0.0),
                    help="seconds to wait for the debates after the ramp (0: 2 x ideal + 120)")
    ap.add_argument("--inflight-cap", type=int, default=env_default("RUNTIME_INFLIGHT_CALL_CAP", 12),
                    help="per-debate call cap in the inflight scenario (RUNTIME_INFLIGHT_CALL_CAP;"
                         " 4 holds at most 4 provider connections per debate)")
    ap.add_argument("--ramp", type=float, default=env_default("RUNTIME_RAMP_PER_S", 500.0),
                    help="debates created per second at most")
    ap.add_argument("--viewers", type=int, default=env_default("RUNTIME_VIEWERS", 1000),
                    help="WebSocket subscribers (RUNTIME_VIEWERS; the goal: 10000)")
    ap.add_argument("--viewer-debates", type=int, default=env_default("RUNTIME_VIEWER_DEBATES", 100))
    ap.add_argument("--viewer-rounds", type=int, default=env_default("RUNTIME_VIEWER_ROUNDS", 12))
    ap.add_argument("--viewer-latency-ms", type=int,
                    default=env_default("RUNTIME_VIEWER_LATENCY_MS", 500))
    ap.add_argument("--viewer-per-seq", default=env_default("RUNTIME_VIEWER_PER_SEQ", ""),
                    help="viewers: a directory for each run's latency by event seq (when each "
                         "burst went out: <serve>-<D>x<V>.txt)")
    ap.add_argument("--viewer-layouts", default=env_default("RUNTIME_VIEWER_LAYOUTS", ""),
                    help="viewers layouts to run, e.g. 1x100,100x100,1x10000 (default: 1 x 100, "
                         "D x V/D, 1 x V)")
    ap.add_argument("--compare-aragora", default=env_default("RUNTIME_COMPARE_ARAGORA", ""),
                    help="viewers: run every layout on this serve binary too (before/after)")
    ap.add_argument("--no-netns", action="store_true",
                    default=bool(os.environ.get("RUNTIME_NO_NETNS")))
    a = ap.parse_args()
    a.aragora = os.path.abspath(os.path.join(a.build, "src/cli/aragora"))
    a.fake = os.path.abspath(os.path.join(a.build, "tests/fake_llm/aragora_fake_llm"))
    a.viewers_bin = os.path.abspath(os.path.join(a.build, "bench/aragora_ws_viewers"))
    a.backends = [b for b in a.backends.split(",") if b]
    only = set(a.only.split(","))
    needed = [a.aragora, a.fake] + ([a.viewers_bin] if "viewers" in only else [])
    for b in needed:
        if not os.access(b, os.X_OK):
            raise SystemExit(f"runtime_bench: {b} missing (make bench-runtime builds it)")
    enter_netns(a)
    # SIGTERM (timeout, Ctrl-C from make) still stops every child: the finally below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    notes = setup_limits()
    tmp = tempfile.mkdtemp(prefix="aragora-runtime-bench-")
    os.chmod(tmp, 0o755)
    try:
        version = subprocess.run([a.aragora, "--version"], capture_output=True, text=True).stdout
        print(f"Aragora runtime benchmark — {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        print(f"machine: {os.cpu_count()} cores, load average at start "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}; {version.strip()}")
        for n in notes:
            print(f"limits: {n}")
        print("serve: development mode, rate limits off, ARAGORA_MAX_CONCURRENT_DEBATES=10000, "
              "queue 1000000, connection caps off, early stop off (convergence 1.0)")
        sys.stdout.flush()
        if "cpu" in only:
            scenario_cpu(a, tmp)
            sys.stdout.flush()
        if "critical" in only:
            scenario_critical(a, tmp)
            sys.stdout.flush()
        if "inflight" in only:
            scenario_inflight_all(a, tmp)
            sys.stdout.flush()
        if "viewers" in only:
            scenario_viewers(a, tmp)
        print(f"\nload average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    finally:
        distributed_bench.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
