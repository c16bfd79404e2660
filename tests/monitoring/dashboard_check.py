#!/usr/bin/env python3
"""Checks of the Grafana dashboards (deploy/grafana/) and their provisioning
(deploy/self-hosted/grafana/provisioning/).

  static DIR --provisioning DIR --mount PATH=DIR
        every dashboard is valid JSON with a uid, unique panel ids, a gridPos inside the
        24-column grid and overlapping no other panel, the provisioned datasource's uid on
        every panel and query, and an expression in every query; every expression parses
        (promtool check rules, each written as a recording rule, Grafana's $__ variables
        replaced by fixed values); the datasource provisioning file names that uid; the
        dashboard provider reads the path PATH that the compose file mounts from DIR, and
        DIR holds the runbook's five dashboards
  exported DIR --metrics FILE...
        every metric name a panel reads is exported (Prometheus text files scraped from a
        running `aragora serve`) or comes from Prometheus or an exporter
        (monitoring_check.py's EXTERNAL list)
  names DIR                           the metric names the panels read
  selftest DIR --provisioning DIR --mount PATH=DIR
        the checks above pass on the dashboards as written and fail on broken copies
        (duplicate panel id, overlapping panels, a query that does not parse, a query
        reading a metric nobody exports, a foreign datasource uid, a Grafana variable the
        dashboard does not define, the provider pointing at another path, a missing
        dashboard file)

Exit 0 when the check passes, 1 with one line per problem otherwise.
"""

import argparse
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monitoring_check import EXTERNAL, exposition_names, metric_names  # noqa: E402

# The dashboards the production runbook lists ("Grafana Dashboards").
RUNBOOK_DASHBOARDS = {
    "aragora-overview.json", "api-performance.json", "debate-analytics.json",
    "slo-dashboard.json", "receipt-retention.json",
}

# Grafana's built-in variables, replaced by a fixed value so promtool can parse the query.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__interval_ms": "60000",
    "__range_s": "3600", "__range_ms": "3600000",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def load_dashboards(directory):
    """{file name: parsed document or the parse error as a string}."""
    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(path) as f:
                out[os.path.basename(path)] = json.load(f)
        except (OSError, ValueError) as e:
            out[os.path.basename(path)] = f"not valid JSON: {e}"
    return out


def all_panels(doc):
    """Panels, including those nested in collapsed rows."""
    for panel in doc.get("panels", []):
        yield panel
        for inner in panel.get("panels", []):
            yield inner


def queries(doc):
    """(panel, target) for every Prometheus query of the dashboard."""
    for panel in all_panels(doc):
        for target in panel.get("targets", []):
            yield panel, target


def substitute(expr, defined):
    """The expression with Grafana variables replaced; (expr, undefined variable names)."""
    undefined = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTIN_VARIABLES:
            return BUILTIN_VARIABLES[name]
        if name in defined:
            return defined[name]
        undefined.append(name)
        return m.group(0)

    return _VARIABLE.sub(repl, expr), undefined


def defined_variables(doc):
    """Template variables of the dashboard with a value promtool can parse in a selector."""
    out = {}
    for var in doc.get("templating", {}).get("list", []):
        out[var["name"]] = "x"
    return out


def datasource_uid(provisioning):
    path = os.path.join(provisioning, "datasources", "prometheus.yaml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    uids = [d.get("uid") for d in doc.get("datasources", []) if d.get("type") == "prometheus"]
    return uids[0] if len(uids) == 1 else None


def check_layout(name, doc, uid, problems):
    if not isinstance(doc, dict):
        problems.append(f"{name}: {doc}")
        return
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in doc:
            problems.append(f"{name}: no {key}")
    ids = {}
    cells = {}
    for panel in all_panels(doc):
        pid = panel.get("id")
        title = panel.get("title", "?")
        if not isinstance(pid, int):
            problems.append(f"{name}: panel {title!r} has no integer id")
        elif pid in ids:
            problems.append(f"{name}: panel id {pid} used by {ids[pid]!r} and {title!r}")
        else:
            ids[pid] = title
        g = panel.get("gridPos")
        if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in "hwxy"):
            problems.append(f"{name}: panel {title!r} has no gridPos with integer h, w, x, y")
            continue
        if g["w"] < 1 or g["h"] < 1 or g["x"] < 0 or g["y"] < 0 or g["x"] + g["w"] > 24:
            problems.append(f"{name}: panel {title!r} gridPos {g} is outside the 24-column grid")
            continue
        if panel.get("type") == "row":
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append(f"{name}: panels {cells[(x, y)]!r} and {title!r} overlap")
                    break
                cells[(x, y)] = title
            else:
                continue
            break
        if panel.get("type") != "row":
            ds = panel.get("datasource", {})
            if ds.get("uid") != uid:
                problems.append(f"{name}: panel {title!r} datasource uid {ds.get('uid')!r}, "
                                f"provisioned: {uid!r}")
            if not panel.get("targets"):
                problems.append(f"{name}: panel {title!r} has no query")
    for panel, target in queries(doc):
        title = panel.get("title", "?")
        if not target.get("expr", "").strip():
            problems.append(f"{name}: panel {title!r} query {target.get('refId')} has no expr")
        ds = target.get("datasource", panel.get("datasource", {}))
        if ds.get("uid") != uid:
            problems.append(f"{name}: panel {title!r} query {target.get('refId')} datasource "
                            f"uid {ds.get('uid')!r}, provisioned: {uid!r}")


def check_expressions(dashboards, problems):
    """Every expression parses: all of them written as recording rules, one promtool run."""
    rules = []
    where = {}
    for name, doc in dashboards.items():
        if not isinstance(doc, dict):
            continue
        defined = defined_variables(doc)
        stem = re.sub(r"\W", "_", name[:-len(".json")])
        for panel, target in queries(doc):
            expr, undefined = substitute(target.get("expr", ""), defined)
            title = panel.get("title", "?")
            for var in undefined:
                problems.append(f"{name}: panel {title!r} uses ${var}, which the dashboard "
                                f"does not define")
            record = f"dashboard:{stem}:panel{panel.get('id')}_{target.get('refId', 'X')}"
            rules.append({"record": record, "expr": expr})
            where[record] = f"{name}: panel {title!r} query {target.get('refId')}"
    if not rules:
        problems.append("no panel queries")
        return
    with tempfile.TemporaryDirectory(prefix="aragora-dashboards-") as tmp:
        # One file per rule: promtool then names the failing query by its file.
        files = []
        for i, rule in enumerate(rules):
            path = os.path.join(tmp, f"q{i:04d}.yaml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [rule]}]}, f)
            files.append((path, rule))
        r = subprocess.run(["promtool", "check", "rules", *[p for p, _ in files]],
                           capture_output=True, text=True)
        if r.returncode != 0:
            out = r.stdout + r.stderr
            before = len(problems)
            for path, rule in files:
                for line in out.splitlines():
                    if line.startswith(path + ":"):
                        problems.append(f"{where[rule['record']]} does not parse: "
                                        f"{rule['expr']} ({line[len(path) + 1:].strip()})")
                        break
            if len(problems) == before:
                problems.append(f"promtool check rules failed:\n{out}")


def check_provisioning(provisioning, mount, dashboards_dir, problems):
    target, _, source = mount.partition("=")
    path = os.path.join(provisioning, "dashboards", "aragora.yaml")
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        problems.append(f"{path}: {e}")
        return
    providers = doc.get("providers", [])
    if not providers:
        problems.append(f"{path}: no dashboard provider")
    for p in providers:
        where = p.get("options", {}).get("path")
        if p.get("type") != "file":
            problems.append(f"{path}: provider {p.get('name')!r} is not of type file")
        if os.path.normpath(str(where)) != os.path.normpath(target):
            problems.append(f"{path}: provider {p.get('name')!r} reads {where!r}, the compose "
                            f"file mounts the dashboards at {target!r}")
    if os.path.realpath(source) != os.path.realpath(dashboards_dir):
        problems.append(f"the mount's source {source!r} is not the dashboards checked "
                        f"({dashboards_dir!r})")
    present = {os.path.basename(p) for p in glob.glob(os.path.join(source, "*.json"))}
    for missing in sorted(RUNBOOK_DASHBOARDS - present):
        problems.append(f"{source}: no {missing} (listed by the production runbook)")
    ds_path = os.path.join(provisioning, "datasources", "prometheus.yaml")
    if not os.path.isfile(ds_path):
        problems.append(f"no datasource provisioning file {ds_path}")


def run_static(dashboards_dir, provisioning, mount):
    problems = []
    try:
        uid = datasource_uid(provisioning)
    except OSError as e:
        uid = None
        problems.append(str(e))
    if not uid:
        problems.append("the datasource provisioning file names no single Prometheus uid")
    dashboards = load_dashboards(dashboards_dir)
    for name, doc in dashboards.items():
        check_layout(name, doc, uid, problems)
    check_expressions(dashboards, problems)
    check_provisioning(provisioning, mount, dashboards_dir, problems)
    return problems, dashboards


def used_names(dashboards_dir):
    used = {}
    for name, doc in load_dashboards(dashboards_dir).items():
        if not isinstance(doc, dict):
            continue
        for panel, target in queries(doc):
            expr, _ = substitute(target.get("expr", ""), defined_variables(doc))
            for metric in metric_names(expr):
                used.setdefault(metric, set()).add(f"{name} {panel.get('title')!r}")
    return used


def run_exported(dashboards_dir, metric_files):
    exported = exposition_names(metric_files)
    problems = []
    used = used_names(dashboards_dir)
    for metric in sorted(used):
        if metric in exported or metric in EXTERNAL:
            continue
        who = "; ".join(sorted(used[metric]))
        problems.append(f"{metric} (read by {who}) is not exported by aragora serve")
    return problems, used


def report(problems, ok):
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print("ok:", ok)
    return 1 if problems else 0


def cmd_static(args):
    problems, dashboards = run_static(args.dir, args.provisioning, args.mount)
    n = sum(len(list(queries(d))) for d in dashboards.values() if isinstance(d, dict))
    return report(problems, f"{len(dashboards)} dashboards, {n} queries parsed by promtool, "
                            f"layout, datasource and provisioning consistent")


def cmd_exported(args):
    problems, used = run_exported(args.dir, args.metrics)
    return report(problems, f"{len(used)} metric names read by the panels, all exported or "
                            f"external")


def cmd_names(args):
    for name in sorted(used_names(args.dir)):
        print(name)
    return 0


def cmd_selftest(args):
    """Each mutation of a copy must make the named check fail with the expected message."""
    bad = []
    problems, _ = run_static(args.dir, args.provisioning, args.mount)
    if problems:
        bad.append("the dashboards as written fail: " + "; ".join(problems))
    target = args.mount.partition("=")[0]

    def first_timeseries(doc):
        return next(p for p in doc["panels"] if p.get("targets"))

    def dup_id(doc):
        doc["panels"][1]["id"] = doc["panels"][0]["id"]

    def overlap(doc):
        doc["panels"][1]["gridPos"] = dict(doc["panels"][0]["gridPos"])

    def unparsable(doc):
        first_timeseries(doc)["targets"][0]["expr"] = "sum(rate(aragora_requests_total[5m])"

    def foreign_uid(doc):
        first_timeseries(doc)["datasource"] = {"type": "prometheus", "uid": "someone-else"}

    def undefined_var(doc):
        first_timeseries(doc)["targets"][0]["expr"] = 'up{instance="$instance"}'

    def unknown_metric(doc):
        first_timeseries(doc)["targets"][0]["expr"] = \
            "sum(rate(aragora_http_requests_total[$__rate_interval]))"

    mutations = [
        ("duplicate panel id", dup_id, "static", "used by"),
        ("overlapping panels", overlap, "static", "overlap"),
        ("a query that does not parse", unparsable, "static", "does not parse"),
        ("a foreign datasource uid", foreign_uid, "static", "someone-else"),
        ("an undefined variable", undefined_var, "static", "$instance"),
        ("a metric nobody exports", unknown_metric, "exported", "aragora_http_requests_total"),
    ]
    with tempfile.TemporaryDirectory(prefix="aragora-dashboards-selftest-") as tmp:
        metrics = os.path.join(tmp, "metrics.txt")
        # A stand-in exposition with every name the dashboards read: the mutation alone
        # must make the `exported` check fail.
        with open(metrics, "w") as f:
            for metric in used_names(args.dir):
                f.write(f"{metric} 1\n")
        for what, mutate, check, expect in mutations:
            work = os.path.join(tmp, re.sub(r"\W", "_", what))
            shutil.copytree(args.dir, work)
            path = os.path.join(work, "aragora-overview.json")
            with open(path) as f:
                doc = json.load(f)
            mutate(doc)
            with open(path, "w") as f:
                json.dump(doc, f)
            if check == "static":
                got, _ = run_static(work, args.provisioning, f"{target}={work}")
            else:
                clean, _ = run_exported(args.dir, [metrics])
                if clean:
                    bad.append(f"exported check fails on the unmutated dashboards: {clean}")
                got, _ = run_exported(work, [metrics])
            if not any(expect in p for p in got):
                bad.append(f"{what}: the {check} check did not fail naming {expect!r} "
                           f"(got {got})")
        # Not valid JSON.
        work = os.path.join(tmp, "invalid_json")
        shutil.copytree(args.dir, work)
        with open(os.path.join(work, "slo-dashboard.json"), "a") as f:
            f.write(",")
        got, _ = run_static(work, args.provisioning, f"{target}={work}")
        if not any("not valid JSON" in p for p in got):
            bad.append(f"invalid JSON: not reported (got {got})")
        # A runbook dashboard missing.
        work = os.path.join(tmp, "missing")
        shutil.copytree(args.dir, work)
        os.unlink(os.path.join(work, "receipt-retention.json"))
        got, _ = run_static(work, args.provisioning, f"{target}={work}")
        if not any("no receipt-retention.json" in p for p in got):
            bad.append(f"a missing dashboard: not reported (got {got})")
        # The provider reading another path than the compose mount.
        prov = os.path.join(tmp, "provisioning")
        shutil.copytree(args.provisioning, prov)
        path = os.path.join(prov, "dashboards", "aragora.yaml")
        with open(path) as f:
            doc = yaml.safe_load(f)
        doc["providers"][0]["options"]["path"] = "/var/lib/grafana/dashboards"
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        got, _ = run_static(args.dir, prov, args.mount)
        if not any("the compose file mounts" in p for p in got):
            bad.append(f"provider path: not reported (got {got})")
    for b in bad:
        print("FAIL:", b)
    if not bad:
        print(f"ok: the dashboards pass, and {len(mutations) + 3} broken copies fail the "
              f"check that should catch them")
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, fn in (("static", cmd_static), ("selftest", cmd_selftest)):
        s = sub.add_parser(name)
        s.add_argument("dir")
        s.add_argument("--provisioning", required=True)
        s.add_argument("--mount", required=True, help="CONTAINER_PATH=REPOSITORY_DIR")
        s.set_defaults(fn=fn)
    s = sub.add_parser("exported")
    s.add_argument("dir")
    s.add_argument("--metrics", nargs="+", required=True)
    s.set_defaults(fn=cmd_exported)
    s = sub.add_parser("names")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_names)
    args = p.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
