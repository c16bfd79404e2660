#!/usr/bin/env python3
"""Beyond one machine: the store behind the API, and events across instances.

1. Debates created per second: wrk POSTs /api/v1/debates (keep-alive, fixed body) to an
   `aragora serve` that only enqueues (ARAGORA_DEBATE_EXECUTION=worker: each request is
   validation + one INSERT + the answer), on SQLite (the baseline) and on PostgreSQL 15
   started here. Rate limits off. Ratio PostgreSQL / SQLite of requests/s and p99.
2. Events across instances: A runs demo debates (no latency) with ARAGORA_MULTI_INSTANCE,
   B only listens; both on one PostgreSQL and one Redis started here. D debates are started
   together on A; the events A publishes per second (aragora_cluster_events_forwarded_total)
   are the baseline, the events B receives per second through Redis
   (aragora_cluster_events_received_total) the measure: their ratio, and how many B had
   when A had finished (lost ones are read back from the store and counted apart).

Every process is a child of this script on 127.0.0.1, stopped at the end (also on
failure); data in one temp dir. Ratios only (bench/README.md).

usage: distributed_bench.py <aragora binary> [--duration 10] [--debates 40]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PG_BIN = "/usr/lib/postgresql/15/bin"
CHILDREN = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd, env=None, log=None, user=None):
    if user and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--"] + cmd
    out = open(log, "w") if log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    CHILDREN.append(p)
    return p


def stop_all():
    for p in reversed(CHILDREN):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + 15
    for p in CHILDREN:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit(f"distributed_bench: {what} not ready in {timeout} s")


def http(url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if data:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


def start_postgres(tmp):
    data = os.path.join(tmp, "pg")
    os.makedirs(data)
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(
        ([ "runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
        + [f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    spawn([f"{PG_BIN}/postgres", "-D", data, "-p", str(port), "-k", tmp,
           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
          log=os.path.join(tmp, "pg.log"), user="postgres")
    wait_until(lambda: subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc", "select 1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0, 30, "PostgreSQL")
    return port


def create_db(port, name):
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc",
                    f"create database {name}"], check=True, stdout=subprocess.DEVNULL)


def start_redis(tmp):
    port = free_port()
    spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", tmp], log=os.path.join(tmp, "redis.log"))
    wait_until(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                      capture_output=True).stdout.strip() == b"PONG",
               10, "Redis")
    return port


def start_serve(aragora, tmp, name, extra):
    api, ws, metrics = free_port(), free_port(), free_port()
    env = {"PATH": os.environ["PATH"], "HOME": tmp, "ARAGORA_ENV": "development",
           "ARAGORA_DATA_DIR": os.path.join(tmp, name), "ARAGORA_LOG_LEVEL": "WARNING",
           "ARAGORA_RATE_LIMIT_DISABLED": "1", "ARAGORA_IO_THREADS": "2",
           "ARAGORA_DEMO_LATENCY_MS": "0", "ARAGORA_MAX_QUEUED_DEBATES": "1000000",
           "ARAGORA_RECEIPT_SIGNING_KEY": "bench-key", "ARAGORA_API_PORT": str(api),
           "ARAGORA_WS_PORT": str(ws), "ARAGORA_METRICS_PORT": str(metrics)}
    env.update(extra)
    p = spawn([aragora, "serve"], env=env, log=os.path.join(tmp, name + ".log"))
    wait_until(lambda: http(f"http://127.0.0.1:{api}/readyz")[0] == 200, 30, f"serve {name}")
    return p, api, metrics


def wrk_post(api, seconds, tmp):
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                'wrk.body = \'{"task":"Which database should we use?","rounds":2}\'\n')
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{api}/api/v1/debates"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(bad.group(1)) if bad else 0


def metric(port, name):
    _, text = http(f"http://127.0.0.1:{port}/metrics")
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([\d.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aragora")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--debates", type=int, default=40)
    args = ap.parse_args()
    for tool in ("wrk", "redis-server", "psql", f"{PG_BIN}/postgres"):
        if not shutil.which(tool) and not os.path.exists(tool):
            raise SystemExit(f"distributed_bench: {tool} not found (scripts/install-deps.sh)")
    tmp = tempfile.mkdtemp(prefix="aragora-dist-bench-")
    try:
        print(f"Aragora distributed benchmark — {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        print(f"machine: {os.cpu_count()} cores; wrk, the servers, PostgreSQL and Redis share them")
        pg = start_postgres(tmp)
        redis = start_redis(tmp)

        print(f"\n== 1. POST /api/v1/debates, enqueue only (wrk -t2 -c16 -d{args.duration}s)")
        rows = []
        for backend in ("sqlite", "postgresql"):
            extra = {"ARAGORA_DEBATE_EXECUTION": "worker"}
            if backend == "postgresql":
                create_db(pg, "bench_create")
                extra["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{pg}/bench_create"
            p, api, _ = start_serve(args.aragora, tmp, "create-" + backend, extra)
            wrk_post(api, 2, tmp)  # warm-up
            rows.append((backend,) + wrk_post(api, args.duration, tmp))
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        base = rows[0]
        print(f"   {'backend':<12} {'created/s':>10} {'p99 ms':>8} {'x created/s':>12} {'x p99':>7} non-2xx")
        for name, rps, p99, bad in rows:
            print(f"   {name:<12} {rps:>10.0f} {p99:>8.2f} {rps / base[1]:>12.2f} {p99 / base[2]:>7.2f} {bad}")

        print(f"\n== 2. events across instances: {args.debates} demo debates at once on A, B listens")
        create_db(pg, "bench_events")
        shared = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/bench_events",
                  "ARAGORA_REDIS_URL": f"redis://127.0.0.1:{redis}/0",
                  "ARAGORA_MULTI_INSTANCE": "true",
                  "ARAGORA_MAX_CONCURRENT_DEBATES": str(args.debates)}
        _, api_a, met_a = start_serve(args.aragora, tmp, "events-a", shared)
        _, _, met_b = start_serve(args.aragora, tmp, "events-b", shared)
        t0 = time.time()
        ids = []
        for _ in range(args.debates):
            _, body = http(f"http://127.0.0.1:{api_a}/api/v1/debates",
                           {"task": "Which database should we use?", "rounds": 3})
            ids.append(json.loads(body)["debate_id"])
        def all_done():
            for i in ids:
                _, body = http(f"http://127.0.0.1:{api_a}/api/v1/debates/{i}")
                if json.loads(body)["status"] in ("pending", "running"):
                    return False
            return True
        wait_until(all_done, 300, "debates")
        t_a = time.time() - t0
        forwarded = metric(met_a, "aragora_cluster_events_forwarded_total")
        received = metric(met_b, "aragora_cluster_events_received_total")
        wait_until(lambda: metric(met_b, "aragora_cluster_events_received_total") >= forwarded, 30,
                   "B catching up")
        t_b = time.time() - t0
        received_end = metric(met_b, "aragora_cluster_events_received_total")
        gaps = metric(met_b, "aragora_cluster_gap_events_loaded_total")
        lost = metric(met_a, "aragora_cluster_events_lost_total")
        print(f"   A published {forwarded:.0f} events in {t_a:.2f} s ({forwarded / t_a:.0f}/s, baseline)")
        print(f"   B had {received:.0f} of them when A finished ({received / max(forwarded, 1):.3f}),"
              f" all {received_end:.0f} after {t_b:.2f} s")
        print(f"   x events/s B/A = {(received_end / t_b) / (forwarded / t_a):.2f};"
              f" lost on the bus {lost:.0f}, read back from the store {gaps:.0f}")
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
