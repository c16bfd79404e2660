#!/usr/bin/env python3
"""Scenario `chaos`: kill -9 of `aragora serve` (SQLite), then of `serve` and `aragora
worker` processes (PostgreSQL), at random moments while debates run.

usage: chaos.py <release build dir>
  RELIABILITY_CHAOS_BACKENDS   default "sqlite,postgresql"
  RELIABILITY_CHAOS_KILLS      kills per backend, at least, default 20
  RELIABILITY_CHAOS_DEBATES    debates per backend, at least, default 500
  RELIABILITY_CHAOS_RATE       debates created per second while the load runs, default 8
  RELIABILITY_CHAOS_MIN_S / _MAX_S  load time before each kill, uniform, default 1.5 / 5
  RELIABILITY_CHAOS_DEMO_LATENCY_MS  demo agents' latency per call, default 150
  RELIABILITY_CHAOS_SETTLE_S   how long the debates of a cycle may take to become terminal
                               after the restart, default 60
  RELIABILITY_CHAOS_TIMEOUT    seconds per backend before the scenario stops, default 1800
  RELIABILITY_SEED             the kill schedule's seed (default: the time)

A cycle: the load (one thread creating demo debates of 3 agents and 2 rounds at the
rate) runs for a random time, a random process gets SIGKILL (SQLite: serve; PostgreSQL:
serve or one of the two workers, serve running with ARAGORA_DEBATE_EXECUTION=worker), the
load stops, the killed process is restarted on the same data dir / database, and the
checks run:
  - every debate the server acknowledged (201) exists (else "lost") and is terminal
    within RELIABILITY_CHAOS_SETTLE_S (else "non-terminal": on SQLite crash recovery ends
    the interrupted ones at start; on PostgreSQL the lease reaper does, after the lease,
    set to 3 s here);
  - its stored events (GET /events) hold exactly one debate_end, as the last event, with
    seq gap-free from 1 ("duplicate ends", "missing ends", "seq gaps");
  - a completed debate's receipt verifies through POST /api/v1/receipts/{id}/verify;
  - the receipt chain: `aragora receipt verify-chain --json` and `aragora keys
    verify-all --json` on the same database (SQLite: while serve is down).
At the end every debate the server lists is checked again the same way.
Writes <out>/chaos.json (one entry per backend).
"""
import collections
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

ROUNDS = 2
AGENTS = ["demo", "demo", "demo"]


class Checker:
    """What is known of every debate, and the counts of every problem found."""

    def __init__(self):
        self.acknowledged = set()    # ids answered 201
        self.done = set()            # terminal and checked (events, receipt)
        self.verified_receipts = set()
        self.problems = collections.Counter()
        self.examples = collections.defaultdict(list)
        self.statuses = {}
        self.settle_seconds = []

    def problem(self, kind, detail):
        self.problems[kind] += 1
        if len(self.examples[kind]) < 10:
            self.examples[kind].append(detail)

    def check_debate(self, port, did, final=False):
        """True when the debate is terminal and was checked."""
        d = lib.get_debate(port, did)
        if d is None:
            return False
        st = d.get("status")
        if st == "missing":
            if did in self.acknowledged:
                self.problem("lost", did)
                self.done.add(did)
            return True
        if st not in lib.TERMINAL:
            return False
        self.statuses[did] = (st, (d.get("error") or {}).get("code"))
        if did in self.done and not final:
            return True
        events = lib.all_events(port, did)
        if events is None:
            return False
        ends = [e for e in events if e.get("type") == "debate_end"]
        if len(ends) > 1:
            self.problem("duplicate_debate_end", f"{did}: {len(ends)} debate_end")
        elif not ends:
            self.problem("missing_debate_end", did)
        elif events[-1].get("type") != "debate_end":
            self.problem("events_after_debate_end", did)
        seqs = [e.get("seq") for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            self.problem("seq_gap_or_duplicate", f"{did}: {seqs[:5]}...")
        if ends and ends[-1].get("data", {}).get("status") != st:
            self.problem("debate_end_status_mismatch",
                         f"{did}: {st} vs {ends[-1].get('data', {}).get('status')}")
        rid = d.get("receipt_id")
        if st == "completed":
            if not rid:
                self.problem("completed_without_receipt", did)
            elif rid not in self.verified_receipts or final:
                ok, body = lib.verify_receipt(port, rid)
                if ok:
                    self.verified_receipts.add(rid)
                else:
                    self.problem("receipt_verify_failed", f"{rid}: {str(body)[:200]}")
        self.done.add(did)
        return True

    def settle(self, port, ids, seconds):
        """Checks `ids` until each is terminal; the ones still not after `seconds` count
        as non-terminal. Returns the seconds it took."""
        start = time.time()
        pending = set(ids) - self.done
        while pending and time.time() - start < seconds:
            pending = {i for i in pending if not self.check_debate(port, i)}
            if pending:
                time.sleep(0.25)
        for i in pending:
            self.problem("non_terminal_after_settle", i)
            self.done.add(i)  # counted once
        took = time.time() - start
        self.settle_seconds.append(took)
        return took


def chain_checks(aragora, env, checker, label):
    code, report, err = lib.run_cli(aragora, env, ["receipt", "verify-chain", "--json"])
    ok = code == 0 and report is not None and report.get("valid") is True
    if not ok:
        checker.problem("chain_verify_failed", f"{label}: exit {code} {report} {err[-300:]}")
    code2, report2, err2 = lib.run_cli(aragora, env, ["keys", "verify-all", "--json"])
    ok2 = code2 == 0 and report2 is not None and report2.get("ok") is True
    if not ok2:
        checker.problem("keys_verify_all_failed", f"{label}: exit {code2} {report2} {err2[-300:]}")
    return {"verify_chain": report, "verify_all_receipts": (report2 or {}).get("receipts"),
            "ok": ok and ok2}


class Load:
    """One thread creating debates at `rate` per second while running."""

    def __init__(self, checker, rate):
        self.checker, self.rate = checker, rate
        self.port = None
        self.running = threading.Event()
        self.quit = False
        self.created = 0
        self.create_errors = collections.Counter()
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        i = 0
        while not self.quit:
            if not self.running.wait(0.2):
                continue
            self.idle.clear()
            t0 = time.time()
            did, err = lib.create_debate(self.port, AGENTS, ROUNDS, f"Chaos debate {i}")
            i += 1
            if did:
                self.checker.acknowledged.add(did)
                self.created += 1
            else:
                self.create_errors[err[:60]] += 1
            self.idle.set()
            time.sleep(max(0.0, 1.0 / self.rate - (time.time() - t0)))

    def pause(self):
        self.running.clear()
        self.idle.wait(30)

    def resume(self, port):
        self.port = port
        self.running.set()

    def stop(self):
        self.quit = True
        self.running.set()
        self.thread.join(30)


def run_backend(release, backend, rng, cfg):
    aragora = os.path.join(release, "src/cli/aragora")
    wd = lib.workdir(f"chaos-{backend}")
    env = lib.base_env(os.path.join(wd, "data"), wd)
    env.update({"ARAGORA_DEMO_LATENCY_MS": str(cfg["demo_latency_ms"]),
                "ARAGORA_LOG_LEVEL": "INFO"})
    workers = []
    if backend == "postgresql":
        pg = lib.start_postgres(wd)
        lib.create_db(pg, "chaos")
        env.update({"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/chaos",
                    "ARAGORA_DEBATE_EXECUTION": "worker",
                    "ARAGORA_WORKER_LEASE_SECONDS": "3", "WORKER_CONCURRENCY": "8"})
    serve = lib.Serve(aragora, wd, "serve", env)
    serve.start()
    if backend == "postgresql":
        for k in range(2):
            w = lib.Worker(aragora, wd, f"worker{k}", env)
            w.start()
            workers.append(w)

    checker = Checker()
    load = Load(checker, cfg["rate"])
    kills = collections.Counter()
    cycles = []
    deadline = time.time() + cfg["timeout"]
    started = time.time()
    lib.log(f"chaos {backend}: until {cfg['kills']} kills and {cfg['debates']} debates")
    while (sum(kills.values()) < cfg["kills"] or load.created < cfg["debates"]) \
            and time.time() < deadline:
        load.resume(serve.port)
        time.sleep(rng.uniform(cfg["min_s"], cfg["max_s"]))
        victims = ["serve"] + [f"worker{k}" for k in range(len(workers))]
        victim = rng.choice(victims)
        active = -1
        try:
            _, body = lib.request(serve.port, "GET", "/api/v1/debates?status=active&limit=1",
                                  timeout=5)
            active = body.get("total", -1)
        except Exception:
            pass
        if victim == "serve":
            serve.kill9()
        else:
            workers[int(victim[len("worker"):])].kill9()
        kills[victim] += 1
        load.pause()
        lib.drop_connections()
        cycle = {"victim": victim, "active_at_kill": active, "created_so_far": load.created}
        if backend == "sqlite":
            # The chain and every receipt with nothing running on the database.
            cycle["chain"] = chain_checks(aragora, env, checker, f"after kill {len(cycles) + 1}")
        if victim == "serve":
            t0 = time.time()
            serve.start()
            cycle["restart_seconds"] = time.time() - t0
        else:
            w = workers[int(victim[len("worker"):])]
            w.start()
        cycle["settle_seconds"] = checker.settle(serve.port, set(checker.acknowledged),
                                                 cfg["settle_s"])
        if backend == "postgresql":
            cycle["chain"] = chain_checks(aragora, env, checker, f"after kill {len(cycles) + 1}")
        cycle["problems_so_far"] = sum(checker.problems.values())
        cycles.append(cycle)
        lib.log(f"chaos {backend}: kill {len(cycles)} ({victim}, {active} active), "
                f"{load.created} debates, settled in {cycle['settle_seconds']:.1f} s, "
                f"problems so far {dict(checker.problems)}")
    load.stop()

    # The end: every debate the server lists, checked again from scratch.
    lib.drop_connections()
    listed = lib.list_all_debates(serve.port)
    missing_from_list = checker.acknowledged - set(listed)
    for did in missing_from_list:
        checker.problem("lost", did)
    checker.settle(serve.port, set(listed), cfg["settle_s"])
    final_checked = 0
    for did in listed:
        if checker.check_debate(serve.port, did, final=True):
            final_checked += 1
    for w in workers:
        w.stop()
    serve.stop()
    final_chain = chain_checks(aragora, env, checker, "final")
    statuses = collections.Counter(st for st, _ in checker.statuses.values())
    codes = collections.Counter(c for st, c in checker.statuses.values() if st == "failed")
    out = {
        "backend": backend,
        "kills": sum(kills.values()),
        "kills_by_process": dict(kills),
        "debates_acknowledged": len(checker.acknowledged),
        "debates_listed_at_end": len(listed),
        "debates_checked_at_end": final_checked,
        "create_errors": dict(load.create_errors),
        "statuses": dict(statuses),
        "failed_codes": dict(codes),
        "receipts_verified_by_server": len(checker.verified_receipts),
        "final_chain": final_chain,
        "problems": dict(checker.problems),
        "problem_examples": dict(checker.examples),
        "lost": checker.problems.get("lost", 0),
        "non_terminal": checker.problems.get("non_terminal_after_settle", 0),
        "receipts_failing": checker.problems.get("receipt_verify_failed", 0)
        + checker.problems.get("keys_verify_all_failed", 0),
        "chain_failures": checker.problems.get("chain_verify_failed", 0),
        "duplicate_ends": checker.problems.get("duplicate_debate_end", 0),
        "settle_seconds_max": max(checker.settle_seconds) if checker.settle_seconds else None,
        "restart_seconds_max": max((c.get("restart_seconds", 0) for c in cycles), default=None),
        "wall_seconds": time.time() - started,
        "cycles": cycles,
        "ok": not checker.problems and sum(kills.values()) >= cfg["kills"]
        and len(checker.acknowledged) >= cfg["debates"],
    }
    lib.log(f"chaos {backend}: {out['kills']} kills, {out['debates_acknowledged']} debates, "
            f"statuses {dict(statuses)}, problems {dict(checker.problems)}")
    lib.stop_all()
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    release = sys.argv[1]
    lib.install_cleanup()
    seed, rng = lib.seeded_random()
    cfg = {"kills": lib.env_int("RELIABILITY_CHAOS_KILLS", 20),
           "debates": lib.env_int("RELIABILITY_CHAOS_DEBATES", 500),
           "rate": lib.env_float("RELIABILITY_CHAOS_RATE", 8),
           "min_s": lib.env_float("RELIABILITY_CHAOS_MIN_S", 1.5),
           "max_s": lib.env_float("RELIABILITY_CHAOS_MAX_S", 5),
           "demo_latency_ms": lib.env_int("RELIABILITY_CHAOS_DEMO_LATENCY_MS", 150),
           "settle_s": lib.env_float("RELIABILITY_CHAOS_SETTLE_S", 60),
           "timeout": lib.env_float("RELIABILITY_CHAOS_TIMEOUT", 1800)}
    backends = [b.strip() for b in
                os.environ.get("RELIABILITY_CHAOS_BACKENDS", "sqlite,postgresql").split(",")
                if b.strip()]
    started = lib.utc_now()
    results = {}
    for b in backends:
        try:
            results[b] = run_backend(release, b, rng, cfg)
        except Exception as e:  # one backend's breakage is a figure, not the end of the run
            lib.log(f"chaos {b}: aborted: {e}")
            lib.stop_all()
            results[b] = {"backend": b, "error": str(e)[:2000], "ok": False}
    lib.write_piece("chaos", {"scenario": "chaos", "started_at": started,
                              "finished_at": lib.utc_now(), "commit": lib.git_head(),
                              "seed": seed, "config": cfg, "backends": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
