#!/usr/bin/env python3
"""Profiles `serve`'s CPU per debate (issue 20): the `cpu` scenario of runtime_bench.py
with `perf record` attached to the server for the batch only.

usage: runtime_profile.py <release build dir> [--debates N] [--agents demo|streamed|unstreamed]
                          [--perf OUT.data] [--rounds-of-batches K]

Starts the fake provider and one `serve` exactly as runtime_bench.py's `cpu` scenario does
(same environment), runs one warm-up debate, then K batches of N debates created at once,
each awaited; with --perf, `perf record -g` samples the server during the batches only.
Prints the server's and the fake's CPU per debate (utime + stime) so that a profile can be
read against the figure it explains. `perf report -i OUT.data --no-children` reads it.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import runtime_bench as rb  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--debates", type=int, default=60)
    ap.add_argument("--batches", type=int, default=1)
    ap.add_argument("--agents", default="streamed", choices=["demo", "streamed", "unstreamed"])
    ap.add_argument("--perf", default="", help="perf.data path (none: CPU figures only)")
    ap.add_argument("--freq", type=int, default=2000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="aragora-runtime-profile-")
    with rb.cpu_scenario_server(a.build, tmp, a.agents) as (fake, serve, agents):
        perf = None
        if a.perf:
            perf = subprocess.Popen(["perf", "record", "--call-graph", os.environ.get("PERF_CALLGRAPH", "fp"), "-F", str(a.freq), "-o", a.perf,
                                     "-p", str(serve.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        s0, f0, t0 = serve.cpu(), fake.cpu(), time.time()
        n = 0
        for _ in range(a.batches):
            for _ in range(a.debates):
                i, err = rb.create(serve.port, agents)
                if err:
                    print("create:", err)
                n += 1
            rb.wait_idle(serve, 600, 0.2)
        s1, f1, wall = serve.cpu(), fake.cpu(), time.time() - t0
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        print(f"{a.agents}: {n} debates in {wall:.1f} s; server {1000 * (s1 - s0) / n:.2f} ms "
              f"CPU/debate, fake {1000 * (f1 - f0) / n:.2f} ms; load "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}")

if __name__ == "__main__":
    main()
