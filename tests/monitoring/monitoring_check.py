#!/usr/bin/env python3
"""Checks of deploy/monitoring that promtool and amtool do not make by themselves.

  names RULES...                      the metric names the rules' expressions read
  exported RULES... --metrics FILE... every name read is exported (Prometheus text files
                                      scraped from a running `aragora serve`), comes from
                                      an exporter, or is pending in another issue
  coverage RULES --tests FILE...      every alert has a firing and a quiet unit test, and
                                      each is effective: the alert made never to fire fails
                                      its tests, made to fire always fails them too
  anchors RULES --runbooks DIR        every runbook_url names a runbook file of DIR and
                                      a heading of it (exit 77 = skipped: DIR is absent)
  selftest                            the expression reader on known expressions

Exit 0 when the check passes, 1 with one line per problem otherwise.
"""

import argparse
import copy
import os
import re
import subprocess
import sys
import tempfile

import yaml

# Metrics the rules may read that `aragora serve` does not export: they come from
# Prometheus itself or from the exporters of the compose `monitoring` profile.
EXTERNAL = {
    "up": "Prometheus (one series per scrape target)",
    "pg_up": "postgres-exporter (job postgres)",
    "redis_up": "redis-exporter (job redis)",
}

# Metrics another issue adds to the binary. Once the binary exports one, the `exported`
# check fails until it is removed from here: the list cannot go stale silently.
PENDING = {}

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "start", "end",
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)")


def metric_names(expr):
    """The metric names a PromQL expression selects (functions, keywords, label names,
    numbers and durations left out)."""
    s = _STRING.sub('""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = _GROUPING.sub(" ", s)
    names = set()
    for m in _IDENT.finditer(s):
        token = m.group(1)
        if s[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if token.lower() in KEYWORDS:
            continue
        names.add(token)
    return names


def load_rules(paths):
    rules = []
    for path in paths:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                rules.append((group, rule))
    return rules


def used_names(paths):
    rules = load_rules(paths)
    recorded = {r["record"] for _, r in rules if "record" in r}
    used = {}
    for _, rule in rules:
        who = rule.get("alert") or rule.get("record")
        for name in metric_names(rule["expr"]):
            if name not in recorded:
                used.setdefault(name, []).append(who)
    return used


def exposition_names(paths):
    """Every sample name a Prometheus text exposition can carry: declared families (with
    their histogram/summary suffixes, so a family without series yet counts) and samples."""
    names = set()
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("# TYPE "):
                    parts = line.split()
                    if len(parts) < 4:
                        continue
                    family, kind = parts[2], parts[3]
                    names.add(family)
                    if kind == "histogram":
                        names.update({family + "_bucket", family + "_sum", family + "_count"})
                    elif kind == "summary":
                        names.update({family + "_sum", family + "_count"})
                elif line and not line.startswith("#"):
                    names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def cmd_names(args):
    for name in sorted(used_names(args.rules)):
        print(name)
    return 0


def cmd_exported(args):
    used = used_names(args.rules)
    exported = exposition_names(args.metrics)
    problems = []
    for name in sorted(used):
        who = ", ".join(sorted(set(used[name])))
        if name in exported:
            if name in PENDING:
                problems.append(
                    f"{name} is exported now: remove it from PENDING in {__file__} "
                    f"({PENDING[name]})")
        elif name in EXTERNAL:
            continue
        elif name in PENDING:
            print(f"pending: {name} ({PENDING[name]}), read by {who}")
        else:
            problems.append(f"{name} (read by {who}) is not exported by aragora serve")
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"ok: {len(used)} metric names read by the rules, all exported, external "
              f"or pending")
    return 1 if problems else 0


def parse_duration(text):
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", str(text)):
        total += float(value) * units[unit]
    return total


def run_promtool_tests(workdir, rule_doc, tests_by_file):
    """Writes rule_doc as workdir/alerts.yaml and each test document beside it under
    tests/, runs `promtool test rules`; returns (exit code, output)."""
    os.makedirs(os.path.join(workdir, "tests"), exist_ok=True)
    with open(os.path.join(workdir, "alerts.yaml"), "w") as f:
        yaml.safe_dump(rule_doc, f, sort_keys=False)
    files = []
    for name, doc in tests_by_file.items():
        path = os.path.join(workdir, "tests", name)
        with open(path, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        files.append(path)
    r = subprocess.run(["promtool", "test", "rules", *files], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def only_assertions_for(test_doc, alertname):
    """The test document reduced to the cases and assertions about `alertname`, its rule
    file pointing at ../alerts.yaml."""
    doc = copy.deepcopy(test_doc)
    doc["rule_files"] = ["../alerts.yaml"]
    kept = []
    for case in doc.get("tests", []):
        asserts = [a for a in case.get("alert_rule_test", []) if a["alertname"] == alertname]
        if asserts:
            case["alert_rule_test"] = asserts
            case.pop("promql_expr_test", None)
            kept.append(case)
    doc["tests"] = kept
    return doc


def cmd_coverage(args):
    rules = [(g, r) for g, r in load_rules([args.rules]) if "alert" in r]
    tests = {}
    for path in args.tests:
        with open(path) as f:
            tests[os.path.basename(path)] = yaml.safe_load(f)
    problems = []
    for group, rule in rules:
        name = rule["alert"]
        hold = parse_duration(rule.get("for", "0s"))
        firing, quiet = 0, 0
        relevant = {}
        for file, doc in tests.items():
            reduced = only_assertions_for(doc, name)
            if not reduced["tests"]:
                continue
            relevant[file] = reduced
            for case in reduced["tests"]:
                for a in case["alert_rule_test"]:
                    if a.get("exp_alerts"):
                        firing += 1
                    elif parse_duration(a["eval_time"]) > hold:
                        quiet += 1
        if not firing:
            problems.append(f"{name}: no unit test makes it fire")
        if not quiet:
            problems.append(f"{name}: no unit test keeps it quiet past its `for` ({rule.get('for', '0s')})")
        if not firing or not quiet:
            continue

        def rule_doc(expr):
            mutated = dict(rule, expr=expr)
            g = {"name": group["name"], "rules": [mutated]}
            if "interval" in group:
                g["interval"] = group["interval"]
            return {"groups": [g]}

        with tempfile.TemporaryDirectory(prefix="aragora-alert-tests-") as tmp:
            code, out = run_promtool_tests(os.path.join(tmp, "as_written"),
                                           rule_doc(rule["expr"]), relevant)
            if code != 0:
                problems.append(f"{name}: its own tests fail when run alone:\n{out}")
                continue
            code, _ = run_promtool_tests(os.path.join(tmp, "never"), rule_doc("vector(1) < 0"),
                                         relevant)
            if code == 0:
                problems.append(f"{name}: its tests still pass when it can never fire")
            code, _ = run_promtool_tests(os.path.join(tmp, "always"), rule_doc("vector(1)"),
                                         relevant)
            if code == 0:
                problems.append(f"{name}: its tests still pass when it always fires")
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"ok: {len(rules)} alerts, each with a firing and a quiet unit test that "
              f"fail when the alert never fires or always fires")
    return 1 if problems else 0


def github_anchor(heading):
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def cmd_anchors(args):
    if not os.path.isdir(args.runbooks):
        print(f"skipped: no runbooks at {args.runbooks}")
        return 77
    anchors = {}
    for file in os.listdir(args.runbooks):
        if file.endswith(".md"):
            with open(os.path.join(args.runbooks, file)) as f:
                anchors[file] = {github_anchor(line.lstrip("#")) for line in f
                                 if re.match(r"#{1,6} ", line)}
    problems = []
    rules = [r for _, r in load_rules([args.rules]) if "alert" in r]
    for rule in rules:
        url = rule.get("annotations", {}).get("runbook_url", "")
        for key in ("summary", "description", "runbook_url"):
            if not rule.get("annotations", {}).get(key):
                problems.append(f"{rule['alert']}: no {key} annotation")
        file, _, anchor = url.partition("#")
        if file not in anchors:
            problems.append(f"{rule['alert']}: runbook_url {url!r} names no runbook of "
                            f"{args.runbooks}")
        elif anchor not in anchors[file]:
            problems.append(f"{rule['alert']}: {file} has no heading #{anchor}")
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"ok: {len(rules)} alerts, each with summary, description and a runbook_url "
              f"naming a runbook heading")
    return 1 if problems else 0


def cmd_selftest(_args):
    cases = {
        'sum(rate(aragora_requests_total{status=~"5.."}[5m])) / sum(rate(aragora_requests_total[5m])) > 0.001':
            {"aragora_requests_total"},
        'histogram_quantile(0.99, sum by (le) (rate(aragora_request_latency_seconds_bucket[5m]))) > 0.5':
            {"aragora_request_latency_seconds_bucket"},
        'up{job="aragora-backend"} == 0 or absent(up{job="aragora-backend"})': {"up"},
        'process_resident_memory_bytes{job="a"} > 2 * 1024 * 1024 * 1e3': {"process_resident_memory_bytes"},
        'time() - max(aragora_backup_last_success_timestamp_seconds) > 26 * 3600 and on () max(x_running) == 1':
            {"aragora_backup_last_success_timestamp_seconds", "x_running"},
        'sum(rate(a_total[1h] offset 1h)) by (agent) unless ignoring(instance) b:recorded:ratio':
            {"a_total", "b:recorded:ratio"},
        'count(max by (agent) (aragora_circuit_breaker_state) > 0) >= 3':
            {"aragora_circuit_breaker_state"},
        'rate(m{handler="/api/{id}", le="+Inf"}[5m:1m]) * on (instance) group_left (version) build_info':
            {"m", "build_info"},
        'aragora_debate_oldest_running_seconds > aragora_debate_running_too_long_seconds':
            {"aragora_debate_oldest_running_seconds", "aragora_debate_running_too_long_seconds"},
    }
    bad = 0
    for expr, want in cases.items():
        got = metric_names(expr)
        if got != want:
            print(f"FAIL: {expr}\n  want {sorted(want)}\n  got  {sorted(got)}")
            bad += 1
    text = ("# HELP h x\n# TYPE h histogram\n# TYPE c counter\nc 1\n"
            "# TYPE g gauge\ng{a=\"b\"} 2\nuntyped_thing 3\n")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    try:
        got = exposition_names([f.name])
    finally:
        os.unlink(f.name)
    want = {"h", "h_bucket", "h_sum", "h_count", "c", "g", "untyped_thing"}
    if got != want:
        print(f"FAIL: exposition names\n  want {sorted(want)}\n  got  {sorted(got)}")
        bad += 1
    if github_anchor("Alert: `AragoraDown`") != "alert-aragoradown" or \
            github_anchor("Procedure 7: Investigate High Error Rate") != \
            "procedure-7-investigate-high-error-rate" or \
            github_anchor("1. WebSocket Disconnections") != "1-websocket-disconnections":
        print("FAIL: github_anchor")
        bad += 1
    if not bad:
        print(f"ok: {len(cases)} expressions, the exposition reader and the anchors")
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("names")
    s.add_argument("rules", nargs="+")
    s.set_defaults(fn=cmd_names)
    s = sub.add_parser("exported")
    s.add_argument("rules", nargs="+")
    s.add_argument("--metrics", nargs="+", required=True)
    s.set_defaults(fn=cmd_exported)
    s = sub.add_parser("coverage")
    s.add_argument("rules")
    s.add_argument("--tests", nargs="+", required=True)
    s.set_defaults(fn=cmd_coverage)
    s = sub.add_parser("anchors")
    s.add_argument("rules")
    s.add_argument("--runbooks", required=True)
    s.set_defaults(fn=cmd_anchors)
    s = sub.add_parser("selftest")
    s.set_defaults(fn=cmd_selftest)
    args = p.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
