#!/usr/bin/env python3
"""Combines the scenarios' JSON pieces (<out>/faults.json, chaos.json, soak.json or
soak.partial.json, fuzz.json) into <out>/report.json and <out>/report.md.

usage: report.py        (RELIABILITY_OUT, default build-reliability)
A scenario that was not run (no piece) is listed as "not run"; pieces from earlier runs
are combined as they are (each carries its own started_at and commit).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

SCENARIOS = ["faults", "chaos", "soak", "fuzz"]


def pct(x, digits=1):
    return "—" if x is None else f"{100 * x:.{digits}f} %"


def num(x, digits=1):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def faults_md(p):
    lines = [f"Debates per share: {p['debates_per_share']}, {p['concurrency']} in flight, "
             f"{p['rounds']} rounds, agents {', '.join(p['agents'])}, fake latency "
             f"{p['fake_latency_ms']} ms; retries at their defaults, no OpenRouter key.", "",
             "| fault share | completed | failed (codes) | agent_error events | faults injected "
             "/ calls | tokens billed | spent on retries (share) | tokens/completed debate (vs 0 %) "
             "| cut output tokens | p50 / p99 "
             "duration s | wall s | wall overhead | turn restarts |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in sorted(p["runs"].items()):
        d = r["duration_seconds_completed"]
        lines.append(
            f"| {pct(r['probability'], 0)} | {r['completed']}/{r['debates_requested']} "
            f"({pct(r['completed_share'], 2)}) | {json.dumps(r['failed_codes'])} | "
            f"{r['agent_error_events']} | {r['faults_injected_total']} / "
            f"{r['provider_requests']} ({pct(r['fault_share_of_requests'])}) | "
            f"{r['tokens_billed']} | {num(r.get('tokens_spent_on_retries'), 0)} "
            f"({pct(r.get('tokens_spent_on_retries_share'))}) | "
            f"{num(r.get('tokens_billed_per_completed_debate'), 0)} "
            f"({pct(r.get('tokens_overhead_share_vs_0'))}) | {r['tokens_output_cut']} | "
            f"{num(d['p50'], 2)} / {num(d['p99'], 2)} | {num(r['wall_seconds'])} | "
            f"{pct(r.get('wall_time_overhead'))} | {r['turn_restarts_seen']} |")
    lines.append("")
    for key, r in sorted(p["runs"].items()):
        if r["probability"] > 0:
            lines.append(f"- {pct(r['probability'], 0)}: faults by kind "
                         f"{json.dumps(r['faults_injected'], sort_keys=True)}; agent errors by "
                         f"phase/code {json.dumps(r['agent_error_events_by_phase_code'], sort_keys=True)}")
    a = p.get("acceptance", {})
    lines += ["", f"Acceptance: 30 % ≥ 99 % completed: **{a.get('0.30_ok')}**; 10 % ≥ 99.9 %: "
              f"**{a.get('0.10_ok')}**."]
    return lines


def chaos_md(p):
    lines = ["| backend | kills (by process) | debates | statuses | lost | non-terminal | "
             "receipts failing | chain failures | duplicate ends | other problems | max settle s "
             "| ok |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for b, r in p["backends"].items():
        if "error" in r:
            lines.append(f"| {b} | aborted: {r['error'][:200]} |||||||||||")
            continue
        other = {k: v for k, v in r["problems"].items()
                 if k not in ("lost", "non_terminal_after_settle", "receipt_verify_failed",
                              "keys_verify_all_failed", "chain_verify_failed",
                              "duplicate_debate_end")}
        lines.append(
            f"| {b} | {r['kills']} {json.dumps(r['kills_by_process'])} | "
            f"{r['debates_acknowledged']} acknowledged, {r['debates_listed_at_end']} listed | "
            f"{json.dumps(r['statuses'])} | {r['lost']} | {r['non_terminal']} | "
            f"{r['receipts_failing']} | {r['chain_failures']} | {r['duplicate_ends']} | "
            f"{json.dumps(other) if other else 0} | {num(r['settle_seconds_max'])} | "
            f"**{r['ok']}** |")
    lines.append("")
    for b, r in p["backends"].items():
        if r.get("problem_examples"):
            lines.append(f"- {b} examples: {json.dumps(r['problem_examples'])[:1500]}")
        if r.get("failed_codes"):
            lines.append(f"- {b} failed debates by code: {json.dumps(r['failed_codes'])}; "
                         f"receipts verified by the server: {r['receipts_verified_by_server']}; "
                         f"final chain: {json.dumps((r.get('final_chain') or {}).get('verify_chain'))}")
    return lines


def soak_md(p):
    f = p.get("figures", {})
    c = p.get("config", {})
    partial = " (partial: the run is still going or was stopped)" if p.get("partial") else ""
    lines = [f"{num(p.get('duration_seconds', (p.get('samples') or [{}])[-1].get('t')), 0)} s"
             f"{partial}, {c.get('create_rate')} debates/s created, {c.get('readers')} readers, "
             f"{pct(c.get('watch_share'), 0)} watched over WebSocket, "
             f"{pct(c.get('cancel_share'), 0)} cancelled, demo latency "
             f"{c.get('demo_latency_ms')} ms, samples every {c.get('sample_seconds')} s.", "",
             "| figure | value |", "|---|---|",
             f"| RSS growth after warm-up (linear fit) | **{pct(f.get('rss_growth_after_warmup'), 2)}** |",
             f"| RSS slope | {num(f.get('rss_slope_kib_per_hour'), 0)} KiB/h |",
             f"| RSS first / max / last | {f.get('rss_kib_first')} / {f.get('rss_kib_max')} / "
             f"{f.get('rss_kib_last')} KiB |",
             f"| open fds: first window median / last window median (growth) | "
             f"{f.get('fds_first_window_median')} / {f.get('fds_last_window_median')} "
             f"(**{f.get('fd_growth_after_warmup')}**) |",
             f"| open fds max / fd slope | {f.get('fds_max')} / "
             f"{num(f.get('fd_slope_per_hour'), 1)} per h |",
             f"| counts | {json.dumps(p.get('counts', {}), sort_keys=True)} |",
             f"| errors | {json.dumps(p.get('errors', {}), sort_keys=True)[:1000]} |",
             f"| statuses at end | {json.dumps(p.get('statuses', {}))} |"]
    a = p.get("acceptance")
    if a:
        lines += ["", f"Acceptance: RSS growth < 5 %: **{a.get('rss_ok')}**; no fd growth: "
                  f"**{a.get('fd_ok')}**."]
    return lines


def fuzz_md(p):
    lines = ["| target | executions | exec/s | seconds | coverage | corpus | exit | findings |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in p["targets"].items():
        lines.append(f"| {name} | {r['executions']} | {r['exec_per_second']} | {r['seconds']} | "
                     f"{r['coverage']} | {r['corpus_files']} | {r['exit_code']} | "
                     f"{len(r['findings'])} |")
    lines.append("")
    for name, r in p["targets"].items():
        for f in r["findings"]:
            lines.append(f"- {name}: `{f['file']}` {f['summary']}")
    lines.append(f"\nOpen findings: **{p['open_findings']}**; every target ≥ "
                 f"{p['runs_per_target']} executions and clean: **{p['ok']}**.")
    return lines


def main():
    out = lib.out_dir()
    pieces = {}
    for s in SCENARIOS:
        path = os.path.join(out, f"{s}.json")
        if s == "soak" and not os.path.exists(path):
            path = os.path.join(out, "soak.partial.json")
        if os.path.exists(path):
            with open(path) as f:
                pieces[s] = json.load(f)
    report = {"generated_at": lib.utc_now(), "scenarios": pieces,
              "not_run": [s for s in SCENARIOS if s not in pieces]}
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    md = ["# Reliability report", "",
          f"Generated {report['generated_at']} from the pieces in `{out}/` "
          "(docs/reliability.md explains each figure).", ""]
    render = {"faults": faults_md, "chaos": chaos_md, "soak": soak_md, "fuzz": fuzz_md}
    titles = {"faults": "Provider faults", "chaos": "kill -9 chaos", "soak": "Soak",
              "fuzz": "Fuzzing"}
    for s in SCENARIOS:
        md.append(f"## {titles[s]}")
        md.append("")
        if s not in pieces:
            md += ["Not run.", ""]
            continue
        p = pieces[s]
        md.append(f"Run {p.get('started_at')} → {p.get('finished_at', 'running')}, commit "
                  f"`{p.get('commit', '?')}`.")
        md.append("")
        try:
            md += render[s](p)
        except (KeyError, TypeError) as e:
            md.append(f"(piece unreadable: {e!r}; see {s}.json)")
        md.append("")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    lib.log(f"wrote {out}/report.md and {out}/report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
