#!/usr/bin/env python3
"""Backups of a live SQLite database: throughput and what they cost the readers.

1. Throughput: `aragora backup create --skip-verify` (online backup API from a separate
   read-only connection, gzip, SHA-256, fsync + rename) against `sqlite3 <db> ".backup
   <file>"` (the same online backup API, no compression) of the same database in the same
   run, interleaved, median of --repeats: MB/s (database bytes / wall time) and the ratio
   to sqlite3. Also with --no-compress, and the full `create` with its verification.
2. Readers during a backup: an `aragora serve` on that data dir answers
   GET /api/v1/debates?limit=20 and GET /api/v1/debates/<id> in a loop on one keep-alive
   connection for --read-seconds without a backup (the baseline), then again while
   backups run back to back: p50/p99 latency and their ratios.

The database is made here: `aragora db migrate --upgrade`, then debates with 20 events
each (JSON text, partly random so that gzip has real work) until it has --size-mb.
Ratios only (bench/README.md).

usage: backup_bench.py <aragora binary> [--size-mb 100] [--repeats 3] [--read-seconds 5]
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(data_dir, backup_dir):
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update({
        "ARAGORA_ENV": "development",
        "ARAGORA_DATA_DIR": data_dir,
        "BACKUP_DIR": backup_dir,
        "ARAGORA_RECEIPT_SIGNING_KEY": "bench-key",
        "ARAGORA_LOG_LEVEL": "WARNING",
        "ARAGORA_RATE_LIMIT_DISABLED": "1",
    })
    return env


def make_database(aragora, env, db, size_mb):
    subprocess.run([aragora, "db", "migrate", "--upgrade"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    batch = 2000
    n = 0
    while os.path.getsize(db) < size_mb * 1024 * 1024:
        sql = f"""
BEGIN;
INSERT INTO debates (id, task, status, created_at, completed_at)
  SELECT printf('d%08d', value), 'Should we ' || hex(randomblob(8)) || '?', 'completed',
         printf('2027-01-01T00:%02d:%02d.000Z', (value / 60) % 60, value % 60),
         '2027-01-01T01:00:00.000Z'
  FROM generate_series({n + 1}, {n + batch});
INSERT INTO debate_events (debate_id, seq, type, round, agent, timestamp, data)
  SELECT printf('d%08d', d.value), s.value, 'agent_message', 1, 'demo', 1800000000.0 + s.value,
         '{{"content":"' || hex(randomblob(64)) || ' ' ||
         replace(printf('%.40c', 'x'), 'x', 'the proposal holds under review ') || '"}}'
  FROM generate_series({n + 1}, {n + batch}) AS d, generate_series(1, 20) AS s;
COMMIT;
"""
        subprocess.run(["sqlite3", db], input=sql, text=True, check=True)
        n += batch
    subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"], check=True,
                   stdout=subprocess.DEVNULL)
    return n


def timed(cmd, env=None):
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def throughput(aragora, env, db, work, repeats):
    size_mb = os.path.getsize(db) / 1e6
    runs = {"sqlite3 .backup": [], "aragora (gzip)": [], "aragora --no-compress": [],
            "aragora + verify": []}
    for _ in range(repeats):
        out = os.path.join(work, "baseline.sqlite3")
        runs["sqlite3 .backup"].append(timed(["sqlite3", db, f".backup '{out}'"]))
        os.remove(out)
        runs["aragora (gzip)"].append(
            timed([aragora, "backup", "create", "--skip-verify"], env))
        runs["aragora --no-compress"].append(
            timed([aragora, "backup", "create", "--skip-verify", "--no-compress"], env))
        runs["aragora + verify"].append(timed([aragora, "backup", "create"], env))
        shutil.rmtree(env["BACKUP_DIR"], ignore_errors=True)
    base = statistics.median(runs["sqlite3 .backup"])
    print(f"\n1. Throughput on a {size_mb:.0f} MB database (median of {repeats})")
    print(f"   {'':24} {'seconds':>8} {'MB/s':>8} {'ratio':>7}")
    for name, times in runs.items():
        t = statistics.median(times)
        print(f"   {name:24} {t:8.2f} {size_mb / t:8.1f} {base / t:7.2f}")


class Server:
    def __init__(self, aragora, env):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [aragora, "serve", "--api-port", str(self.port), "--ws-port", str(free_port()),
             "--metrics-port", str(free_port())],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("serve did not become ready")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def read_latencies(port, seconds, ids):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        path = "/api/v1/debates?limit=20" if i % 2 == 0 else f"/api/v1/debates/{ids[i % len(ids)]}"
        t0 = time.monotonic()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        out.append((time.monotonic() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status}")
        i += 1
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def readers(aragora, env, seconds, n):
    server = Server(aragora, env)
    try:
        ids = [f"d{k:08d}" for k in range(1, n + 1, max(1, n // 500))]
        read_latencies(server.port, 1, ids)  # warm-up
        quiet = read_latencies(server.port, seconds, ids)
        stop = threading.Event()
        backups = [0]

        def loop():
            while not stop.is_set():
                subprocess.run([aragora, "backup", "create", "--skip-verify"], env=env,
                               check=True, stdout=subprocess.DEVNULL)
                backups[0] += 1

        t = threading.Thread(target=loop)
        t.start()
        busy = read_latencies(server.port, seconds, ids)
        stop.set()
        t.join()
    finally:
        server.stop()
    print(f"\n2. serve's read latency (ms), {seconds} s each, one keep-alive client")
    print(f"   {'':24} {'requests':>8} {'p50':>8} {'p99':>8}")
    print(f"   {'no backup (baseline)':24} {len(quiet):8} {pct(quiet, .5):8.2f} {pct(quiet, .99):8.2f}")
    print(f"   {'backups running':24} {len(busy):8} {pct(busy, .5):8.2f} {pct(busy, .99):8.2f}")
    print(f"   ratio p50 {pct(busy, .5) / pct(quiet, .5):.2f}, p99 "
          f"{pct(busy, .99) / pct(quiet, .99):.2f} ({backups[0]} backups during the run)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aragora")
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--read-seconds", type=int, default=5)
    args = ap.parse_args()
    aragora = os.path.abspath(args.aragora)
    work = tempfile.mkdtemp(prefix="aragora_backup_bench_")
    try:
        data = os.path.join(work, "data")
        env = env_for(data, os.path.join(work, "backups"))
        db = os.path.join(data, "aragora.sqlite3")
        n = make_database(aragora, env, db, args.size_mb)
        print(f"database: {n} debates, {n * 20} events, {os.path.getsize(db) / 1e6:.0f} MB")
        throughput(aragora, env, db, work, args.repeats)
        readers(aragora, env, args.read_seconds, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
