#!/usr/bin/env python3
"""Scenario `fuzz`: every libFuzzer target of tests/fuzz for a fixed number of executions.

usage: fuzz.py <fuzz build dir> [<source dir>]
  RELIABILITY_FUZZ_RUNS     executions per target, default 1000000 (-runs=)
  RELIABILITY_FUZZ_TARGETS  comma list, default every aragora_fuzz_target() of
                            tests/fuzz/CMakeLists.txt
  RELIABILITY_FUZZ_TIMEOUT  seconds per target before libFuzzer stops it short of the
                            runs (-max_total_time; its figures are then reported with
                            ok false), default 3600

Each target runs one at a time under ASan/UBSan (the build-fuzz tree) with a random seed
on a fresh corpus directory plus the committed seeds (tests/fuzz/corpus/<target>, read
only) and its dictionary: `<target> -runs=N -max_total_time=T -seed=S -rss_limit_mb=2048 -timeout=10
-print_final_stats=1 -artifact_prefix=<out>/fuzz/<target>/artifacts/ <out>/fuzz/<target>/corpus
tests/fuzz/corpus/<target>`. Findings (crash-, leak-, timeout-, oom- files) stay under
<out>/fuzz/<target>/artifacts/ and are listed in the report with the first lines of the
sanitizer's report; they get fixed and copied into tests/fuzz/corpus/<target>/ by hand
(tests/fuzz/README.md). Figures per target: executions done (libFuzzer's
stat::number_of_executed_units), exec/s, seconds, coverage (cov:), corpus size, exit
code, findings. Writes <out>/fuzz.json.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402


def targets(src):
    text = open(os.path.join(src, "tests/fuzz/CMakeLists.txt")).read()
    return re.findall(r"^aragora_fuzz_target\((\w+)", text, re.M)


def run_target(fuzz_dir, src, name, runs, timeout, seed):
    binary = os.path.join(fuzz_dir, "tests/fuzz", name)
    work = os.path.join(os.path.abspath(lib.out_dir()), "fuzz", name)
    corpus = os.path.join(work, "corpus")
    artifacts = os.path.join(work, "artifacts")
    subprocess.run(["rm", "-rf", corpus], check=True)
    os.makedirs(corpus)
    os.makedirs(artifacts, exist_ok=True)
    seeds = os.path.join(src, "tests/fuzz/corpus", name)
    cmd = [binary, f"-runs={runs}", f"-max_total_time={timeout}", f"-seed={seed}",
           "-rss_limit_mb=2048", "-timeout=10",
           "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]
    d = os.path.join(src, "tests/fuzz/dict", name + ".dict")
    if os.path.exists(d):
        cmd.append(f"-dict={d}")
    cmd += [corpus, seeds]
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:abort_on_error=1:print_stacktrace=1"
    before = set(os.listdir(artifacts))
    log_path = os.path.join(work, "fuzz.log")
    lib.log(f"fuzz {name}: {' '.join(cmd)}")
    t0 = time.time()
    with open(log_path, "w") as out:
        try:
            p = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                               timeout=timeout + 300)
            code = p.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    seconds = time.time() - t0
    text = open(log_path, errors="replace").read()

    def stat(key):
        m = re.findall(rf"stat::{key}:\s+(\d+)", text)
        return int(m[-1]) if m else None

    covs = re.findall(r"cov: (\d+)", text)
    new = sorted(set(os.listdir(artifacts)) - before)
    findings = []
    for f in sorted(os.listdir(artifacts)):
        summary = ""
        m = re.search(r"(==\d+==ERROR: .*|SUMMARY: .*|runtime error: .*)", text)
        if f in new and m:
            summary = m.group(1)[:300]
        findings.append({"file": os.path.join(artifacts, f), "new_in_this_run": f in new,
                         "summary": summary})
    execs = stat("number_of_executed_units")
    out = {"target": name, "runs_requested": runs, "executions": execs,
           "exec_per_second": stat("average_exec_per_sec"), "seconds": round(seconds, 1),
           "peak_rss_mb": stat("peak_rss_mb"), "coverage": int(covs[-1]) if covs else None,
           "corpus_files": len(os.listdir(corpus)), "exit_code": code, "seed": seed,
           "findings": findings, "log": log_path,
           "ok": code == 0 and not new and execs is not None and execs >= runs}
    lib.log(f"fuzz {name}: exit {code}, {execs} executions in {seconds:.0f} s, "
            f"{len(new)} new finding(s)")
    return out


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    fuzz_dir = sys.argv[1]
    src = os.path.abspath(sys.argv[2] if len(sys.argv) == 3 else os.getcwd())
    runs = lib.env_int("RELIABILITY_FUZZ_RUNS", 1000000)
    timeout = lib.env_int("RELIABILITY_FUZZ_TIMEOUT", 3600)
    names = [t.strip() for t in os.environ.get("RELIABILITY_FUZZ_TARGETS", "").split(",")
             if t.strip()] or targets(src)
    seed, _ = lib.seeded_random()
    started = lib.utc_now()
    results = {}
    for i, name in enumerate(names):
        results[name] = run_target(fuzz_dir, src, name, runs, timeout, seed + i)
    open_findings = sum(1 for r in results.values() for f in r["findings"])
    lib.write_piece("fuzz", {"scenario": "fuzz", "started_at": started,
                             "finished_at": lib.utc_now(), "commit": lib.git_head(),
                             "runs_per_target": runs, "targets": results,
                             "open_findings": open_findings,
                             "ok": all(r["ok"] for r in results.values()) and open_findings == 0})
    return 0


if __name__ == "__main__":
    sys.exit(main())
