#!/usr/bin/env python3
"""SQLite write amplification of the debate runtime (issue 20): WAL frames and checkpoint
page writes per debate, by b-tree, in runtime_bench.py's `cpu` scenario.

usage: runtime_wal.py <release build dir> [--debates N] [--agents streamed|unstreamed|demo]
                      [--fake PATH] [--keep DB]

Starts the fake provider and one `serve` exactly as runtime_bench.py's `cpu` scenario does
(same environment), runs one warm-up debate, then N debates created at once, with
`strace -f --seccomp-bpf` attached to the server for the batch only, tracing its writes.
A WAL frame is a 24-byte header write followed by a 4 KiB page write to `-wal`; the
header's first 4 bytes name the page. A checkpoint writes 4 KiB pages to the database
file. Each page is attributed to the b-tree that holds it at the end (SQLite's dbstat),
so pages freed and reused meanwhile count under their last owner. Also prints the event
rows' sizes per type and the b-trees' shapes. strace slows the server: read the counts,
not the time (runtime_bench.py measures CPU).
"""
import argparse
import collections
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import runtime_bench as rb  # noqa: E402

CALL = re.compile(r"(pwrite64|fdatasync|fsync|ftruncate)\((\d+)<([^>]*)>(.*)= (-?\d+)")


def decode_path(path):
    return bytes.fromhex(path.replace("\\x", "")).decode(errors="replace") \
        if path.startswith("\\x") else path


def parse(trace):
    calls = collections.Counter()
    wal_pages = collections.Counter()
    db_pages = collections.Counter()
    for line in open(trace, errors="replace"):
        m = CALL.search(line)
        if not m:
            continue
        call, _fd, path, rest, ret = m.groups()
        path = decode_path(path)
        if "aragora.sqlite3" not in path:
            continue
        kind = "wal" if path.endswith("-wal") else "shm" if path.endswith("-shm") else "db"
        size = int(ret)
        calls[f"{call} {kind}" + (f" {size} B" if call == "pwrite64" else "")] += 1
        if call != "pwrite64":
            continue
        if kind == "wal" and size == 24:
            h = re.match(r', "((?:\\x[0-9a-f]{2}){8})', rest)
            if h:
                header = bytes.fromhex(h.group(1).replace("\\x", ""))
                wal_pages[int.from_bytes(header[:4], "big")] += 1
                if int.from_bytes(header[4:], "big") != 0:  # a commit frame
                    calls["transactions (commit frames)"] += 1
        elif kind == "db" and size == 4096:
            o = re.search(r", 4096, (\d+)\)", rest)
            if o:
                db_pages[int(o.group(1)) // 4096 + 1] += 1
    return calls, wal_pages, db_pages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--debates", type=int, default=100)
    ap.add_argument("--agents", default="streamed", choices=["demo", "streamed", "unstreamed"])
    ap.add_argument("--fake", default="", help="aragora_fake_llm (default: the build's)")
    ap.add_argument("--keep", default="", help="copy the database here at the end")
    a = ap.parse_args()
    n = a.debates
    tmp = tempfile.mkdtemp(prefix="aragora-runtime-wal-")
    trace = os.path.join(tmp, "strace.out")
    with rb.cpu_scenario_server(a.build, tmp, a.agents, a.fake or None) as (_, serve, agents):
        st = subprocess.Popen(["strace", "-f", "--seccomp-bpf", "-y", "-xx", "-s", "8", "-e",
                               "trace=pwrite64,fdatasync,fsync,ftruncate", "-o", trace,
                               "-p", str(serve.proc.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached to every thread
        for _ in range(n):
            _, err = rb.create(serve.port, agents)
            if err:
                print("create:", err)
        rb.wait_idle(serve, 600, 0.2)
        st.send_signal(signal.SIGINT)
        st.wait()
    try:
        calls, wal_pages, db_pages = parse(trace)
        db_path = os.path.join(tmp, "serve", "aragora.sqlite3")
        c = sqlite3.connect(db_path)
        owner = {}
        for name, pageno, pagetype in c.execute("SELECT name, pageno, pagetype FROM dbstat"):
            owner[pageno] = f"{name} ({pagetype})"
        print(f"{a.agents}: {n} debates; load {' '.join(open('/proc/loadavg').read().split()[:3])}")
        print("   per debate:")
        for k, v in sorted(calls.items()):
            print(f"     {k:32s} {v / n:8.2f}")
        for label, pages in (("WAL frames", wal_pages), ("checkpoint page writes", db_pages)):
            by = collections.Counter()
            for pg, k in pages.items():
                by[owner.get(pg, "free or truncated")] += k
            print(f"   {label} per debate: {sum(pages.values()) / n:.2f}")
            for name, k in by.most_common(12):
                print(f"     {name:48s} {k / n:8.2f}")
        debates = c.execute("SELECT COUNT(*) FROM debates").fetchone()[0]
        print(f"   event rows per type ({debates} debates, warm-up included): "
              "rows/debate, mean and max row bytes, bytes/debate")
        size = "length(data) + length(type) + length(agent) + length(debate_id) + 20"
        for t, k, mean, mx, total in c.execute(
                f"SELECT type, COUNT(*), AVG({size}), MAX({size}), SUM({size}) "
                "FROM debate_events GROUP BY type ORDER BY 5 DESC"):
            print(f"     {t:20s} {k / debates:6.1f} {mean:7.0f} {mx:6d} {total / debates:9.0f}")
        print("   b-trees: pages, leaf, interior, overflow, mean cells per page, unused share")
        for row in c.execute(
                "SELECT name, COUNT(*), SUM(pagetype = 'leaf'), SUM(pagetype = 'internal'), "
                "SUM(pagetype = 'overflow'), AVG(ncell), SUM(unused) * 1.0 / SUM(pgsize) "
                "FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"):
            print("     {:36s} {:6d} {:6d} {:6d} {:6d} {:6.1f} {:6.2f}".format(*row))
        c.close()
        if a.keep:
            shutil.copy(db_path, a.keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
