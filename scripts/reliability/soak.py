#!/usr/bin/env python3
"""Scenario `soak`: moderate mixed load on one `aragora serve` (SQLite, demo agents) for
a long time, sampling the server's memory and open file descriptors.

usage: soak.py <release build dir>
  RELIABILITY_SOAK_SECONDS       default 3600
  RELIABILITY_SOAK_SAMPLE_SECONDS  sampling period, default 10
  RELIABILITY_SOAK_CREATE_RATE   debates created per second, default 2
  RELIABILITY_SOAK_READERS       threads reading (GET debate, list, messages, events), 2
  RELIABILITY_SOAK_WATCH_SHARE   share of debates watched over WebSocket to debate_end, 0.3
  RELIABILITY_SOAK_CANCEL_SHARE  share of debates cancelled while they run, 0.1
  RELIABILITY_SOAK_DEMO_LATENCY_MS  demo agents' latency per call, default 100
  RELIABILITY_SEED               the load's seed (default: the time)

Every RELIABILITY_SOAK_SAMPLE_SECONDS: VmRSS (/proc/<pid>/status), open fds
(/proc/<pid>/fd), debates active, requests done. Figures: RSS growth after warm-up — a
least-squares line through the samples after the first 10 % of the run, its rise over
the rest of the run relative to its value at the end of the warm-up (the acceptance is
< 5 %) and its slope in KiB/hour —, fd count at warm-up end, at the end, max, and its
slope; request errors by kind; debates created / completed / cancelled; WebSocket
watches that saw debate_end / failed. The samples are kept in the JSON.
Writes <out>/soak.json (and <out>/soak.partial.json every minute while it runs).
"""
import collections
import http.client
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

AGENTS = ["demo", "demo", "demo"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.errors = collections.Counter()
        self.recent = collections.deque(maxlen=2000)  # ids to read / cancel

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def error(self, key):
        with self.lock:
            self.errors[key[:80]] += 1


def creator(port, stats, rng, cfg, stop):
    i = 0
    period = 1.0 / cfg["create_rate"]
    while not stop.is_set():
        t0 = time.time()
        did, err = lib.create_debate(port, AGENTS, rng.choice([1, 2, 3]), f"Soak debate {i}")
        i += 1
        if did is None:
            stats.error(err)
        else:
            stats.count("created")
            with stats.lock:
                stats.recent.append(did)
            r = rng.random()
            if r < cfg["cancel_share"]:
                threading.Thread(target=canceller, args=(port, did, stats, rng.uniform(0.1, 1.5)),
                                 daemon=True).start()
            elif r < cfg["cancel_share"] + cfg["watch_share"]:
                threading.Thread(target=watcher, args=(port, did, stats), daemon=True).start()
        stop.wait(max(0.0, period - (time.time() - t0)))


def canceller(port, did, stats, delay):
    time.sleep(delay)
    try:
        status, _ = lib.request(port, "POST", f"/api/v1/debates/{did}/cancel")
    except (OSError, http.client.HTTPException) as e:
        stats.error(f"cancel: {e}")
        return
    if status == 200:
        stats.count("cancelled")
    elif status == 409:
        stats.count("cancel_too_late")
    else:
        stats.error(f"cancel answered {status}")


def watcher(port, did, stats):
    """Watches one debate over WebSocket until debate_end (2 min at most)."""
    try:
        ws = lib.WebSocket(port, f"/ws?debate_id={did}", timeout=120)
    except (OSError, ConnectionError) as e:
        stats.error(f"ws connect: {e}")
        return
    frames = 0
    try:
        while True:
            msg = ws.recv()
            if msg is None:
                stats.error("ws closed before debate_end")
                return
            frames += 1
            try:
                t = json.loads(msg).get("type")
            except ValueError:
                stats.error("ws frame not JSON")
                return
            if t == "debate_end":
                stats.count("ws_watched_to_end")
                stats.count("ws_frames", frames)
                return
            if t == "error":
                stats.error(f"ws error frame: {msg[:60]}")
                return
    except (OSError, ConnectionError) as e:
        stats.error(f"ws read: {e}")
    finally:
        ws.close()


def reader(port, stats, rng, stop):
    while not stop.is_set():
        with stats.lock:
            did = rng.choice(stats.recent) if stats.recent else None
        paths = ["/api/v1/debates?limit=20", "/api/v1/health"]
        if did:
            paths += [f"/api/v1/debates/{did}", f"/api/v1/debates/{did}/messages",
                      f"/api/v1/debates/{did}/events?since=0&limit=100"]
        path = rng.choice(paths)
        try:
            status, _ = lib.request(port, "GET", path)
            if status == 200:
                stats.count("reads")
            else:
                stats.error(f"GET {path.split('?')[0].split('/')[-1]} answered {status}")
        except (OSError, http.client.HTTPException) as e:
            stats.error(f"GET: {e}")
        stop.wait(0.05)


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def analyse(samples, warmup_share=0.10):
    """RSS and fd figures from [(t, rss_kib, fds, ...)]."""
    if len(samples) < 3:
        return {"note": "too few samples"}
    t_end = samples[-1]["t"]
    warm = t_end * warmup_share
    after = [s for s in samples if s["t"] >= warm]
    xs = [s["t"] for s in after]
    rss = [s["rss_kib"] for s in after]
    fds = [s["fds"] for s in after]
    slope, icpt = lib.linear_fit(xs, rss)
    at_warm = slope * xs[0] + icpt
    at_end = slope * xs[-1] + icpt
    fslope, ficpt = lib.linear_fit(xs, fds)
    window = max(1, len(fds) // 10)
    return {
        "warmup_seconds": warm,
        "samples_after_warmup": len(after),
        "rss_kib_at_warmup_end_fit": at_warm,
        "rss_kib_at_end_fit": at_end,
        "rss_growth_after_warmup": (at_end - at_warm) / at_warm if at_warm > 0 else None,
        "rss_slope_kib_per_hour": slope * 3600,
        "rss_kib_first": samples[0]["rss_kib"],
        "rss_kib_max": max(s["rss_kib"] for s in samples),
        "rss_kib_last": samples[-1]["rss_kib"],
        "fds_at_warmup_end": fds[0],
        "fds_last": fds[-1],
        "fds_max": max(s["fds"] for s in samples),
        "fds_min_after_warmup": min(fds),
        "fd_slope_per_hour": fslope * 3600,
        # fds move with the connections in flight: windows of a tenth of the samples after
        # warm-up, their medians compared; "no growth" = the last window's median within
        # the first window's range.
        "fds_first_window_median": median(fds[:window]),
        "fds_first_window_max": max(fds[:window]),
        "fds_last_window_median": median(fds[-window:]),
        "fd_growth_after_warmup": median(fds[-window:]) - median(fds[:window]),
        "fd_ok": median(fds[-window:]) <= max(fds[:window]),
    }


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    release = sys.argv[1]
    lib.install_cleanup()
    seed, rng = lib.seeded_random()
    cfg = {"seconds": lib.env_float("RELIABILITY_SOAK_SECONDS", 3600),
           "sample_seconds": lib.env_float("RELIABILITY_SOAK_SAMPLE_SECONDS", 10),
           "create_rate": lib.env_float("RELIABILITY_SOAK_CREATE_RATE", 2),
           "readers": lib.env_int("RELIABILITY_SOAK_READERS", 2),
           "watch_share": lib.env_float("RELIABILITY_SOAK_WATCH_SHARE", 0.3),
           "cancel_share": lib.env_float("RELIABILITY_SOAK_CANCEL_SHARE", 0.1),
           "demo_latency_ms": lib.env_int("RELIABILITY_SOAK_DEMO_LATENCY_MS", 100)}
    wd = lib.workdir("soak")
    env = lib.base_env(os.path.join(wd, "data"), wd)
    env["ARAGORA_DEMO_LATENCY_MS"] = str(cfg["demo_latency_ms"])
    serve = lib.Serve(os.path.join(release, "src/cli/aragora"), wd, "serve", env)
    serve.start()
    started_at = lib.utc_now()
    commit = lib.git_head()
    lib.log(f"soak: {cfg['seconds']:.0f} s on serve pid {serve.pid} port {serve.port}, {cfg}")

    stats = Stats()
    stop = threading.Event()
    threads = [threading.Thread(target=creator, args=(serve.port, stats, rng, cfg, stop),
                                daemon=True)]
    for k in range(cfg["readers"]):
        threads.append(threading.Thread(target=reader,
                                        args=(serve.port, stats, random.Random(seed + k + 1),
                                              stop), daemon=True))
    for t in threads:
        t.start()

    samples = []
    t0 = time.time()
    next_sample = t0
    last_partial = t0
    while True:
        now = time.time()
        if now >= next_sample:
            active = -1
            try:
                _, body = lib.request(serve.port, "GET", "/api/v1/debates?status=active&limit=1",
                                      timeout=10)
                active = body.get("total", -1)
            except (OSError, http.client.HTTPException):
                pass
            with stats.lock:
                counts = dict(stats.counts)
            samples.append({"t": round(now - t0, 1), "rss_kib": lib.proc_rss_kib(serve.pid),
                            "fds": lib.proc_fds(serve.pid), "active": active,
                            "created": counts.get("created", 0), "reads": counts.get("reads", 0),
                            "threads": threading.active_count()})
            next_sample += cfg["sample_seconds"]
            if serve.proc.poll() is not None:
                stats.error(f"serve exited {serve.proc.returncode}")
                break
        if now - t0 >= cfg["seconds"]:
            break
        if now - last_partial >= 60:
            last_partial = now
            lib.write_piece("soak.partial", {"scenario": "soak", "partial": True,
                                             "started_at": started_at, "config": cfg,
                                             "commit": commit, "seed": seed,
                                             "samples": samples, "counts": dict(stats.counts),
                                             "errors": dict(stats.errors),
                                             "figures": analyse(samples)})
        time.sleep(max(0.0, min(next_sample, t0 + cfg["seconds"]) - time.time()))
    stop.set()
    for t in threads:
        t.join(30)
    # Let the watched and running debates end before the last counts.
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            _, body = lib.request(serve.port, "GET", "/api/v1/debates?status=active&limit=1")
            if body.get("total", 1) == 0:
                break
        except (OSError, http.client.HTTPException):
            break
        time.sleep(0.5)
    statuses = collections.Counter()
    try:
        for st in ("completed", "failed", "cancelled", "active"):
            _, body = lib.request(serve.port, "GET", f"/api/v1/debates?status={st}&limit=1")
            statuses[st] = body.get("total", -1)
    except (OSError, http.client.HTTPException):
        pass
    rss_end, fds_end = lib.proc_rss_kib(serve.pid), lib.proc_fds(serve.pid)
    serve.stop()
    figures = analyse(samples)
    out = {"scenario": "soak", "started_at": started_at, "finished_at": lib.utc_now(),
           "commit": commit, "seed": seed, "config": cfg,
           "duration_seconds": time.time() - t0, "counts": dict(stats.counts),
           "errors": dict(stats.errors), "statuses": dict(statuses),
           "rss_kib_after_drain": rss_end, "fds_after_drain": fds_end,
           "figures": figures, "samples": samples,
           "acceptance": {"rss_growth_max": 0.05,
                          "rss_ok": (figures.get("rss_growth_after_warmup") is not None
                                     and figures["rss_growth_after_warmup"] < 0.05),
                          "fd_ok": figures.get("fd_ok")}}
    lib.write_piece("soak", out)
    try:
        os.remove(os.path.join(lib.out_dir(), "soak.partial.json"))
    except OSError:
        pass
    lib.log(f"soak: {json.dumps(figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
