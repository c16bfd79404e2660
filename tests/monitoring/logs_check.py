#!/usr/bin/env python3
"""Checks deploy/monitoring/loki.yml and promtail.yml without Loki or Promtail (neither is
a Debian package): the configs' shape, and the promtail pipeline applied to JSON log lines
the way Promtail applies it (json, regex, timestamp, labels, structured_metadata,
labeldrop), so that a line's labels and structured metadata can be asserted.

  logs_check.py static <loki.yml> <promtail.yml>
      shape checks, plus the pipeline over sample lines in the binary's JSON format;
  logs_check.py query <promtail.yml> --logs DIR --correlation-id ID [--expect-message S]
      applies the pipeline to DIR/*.log (a real server's logs) and runs the runbook's
      search as Loki runs it with structured metadata:
        {job="aragora"} | correlation_id="ID"
      it must find the lines with that id (one whose message contains S), and no label
      may carry correlation_id or debate_id;
  logs_check.py selftest <loki.yml> <promtail.yml>
      broken copies (correlation_id as a label, structured metadata off, an unknown
      stage, a path glob that misses the log files) must fail the static check.
Exit 0 when everything holds, 1 with one line per failure otherwise.
"""
import copy
import datetime
import fnmatch
import glob
import json
import os
import re
import sys

import yaml

LOG_FILES = ["api.log", "websocket.log", "debate.log", "agent.log"]  # common/logging.hpp
ALLOWED_LABELS = {"job", "log", "level", "domain", "filename", "instance"}
NEVER_LABELS = {"correlation_id", "debate_id", "message", "timestamp"}
KNOWN_STAGES = {"json", "regex", "timestamp", "labels", "structured_metadata", "labeldrop",
                "labelallow", "static_labels", "match", "drop", "output", "template",
                "replace", "limit", "multiline", "pack", "tenant", "metrics", "logfmt",
                "decolorize", "sampling"}
# Sample lines in the binary's format (common::FormatJsonLogLine).
SAMPLES = [
    ("api.log", {"timestamp": "2026-12-07T00:49:03.123Z", "level": "INFO",
                 "logger": "aragora.api",
                 "message": "request method=GET path=/api/v1/debates route=/api/v1/debates "
                            "status=200 duration_ms=1 correlation_id=corr-xyz789",
                 "correlation_id": "corr-xyz789", "domain": "api"}),
    ("debate.log", {"timestamp": "2026-12-07T00:49:04.5Z", "level": "INFO",
                    "logger": "aragora.debate", "message": "debate_start debate_id=abc123 "
                    "correlation_id=corr-xyz789 agents=claude;gpt-4",
                    "debate_id": "abc123", "correlation_id": "corr-xyz789",
                    "agents": ["claude", "gpt-4"], "domain": "debate"}),
    ("agent.log", {"timestamp": "2026-12-07T00:49:05.000Z", "level": "WARNING",
                   "logger": "aragora.agents", "message": "agent call failed agent=claude",
                   "domain": "agent"}),
]


class Failures(list):
    def add(self, msg):
        self.append(msg)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def stages_of(promtail):
    out = []
    for sc in promtail.get("scrape_configs", []):
        for st in sc.get("pipeline_stages", []) or []:
            out.append(st)
    return out


def parse_rfc3339(value):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", value)
    if not m:
        raise ValueError("not RFC3339: " + value)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")


def apply_pipeline(stages, static_labels, filename, line):
    """Returns (labels, structured_metadata, extracted) as Promtail would send them."""
    labels = dict(static_labels)
    labels["filename"] = filename
    labels.pop("__path__", None)
    extracted = {}
    meta = {}
    for st in stages:
        (name, cfg), = st.items()
        cfg = cfg or {}
        if name == "json":
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            for key, expr in (cfg.get("expressions") or {}).items():
                expr = expr or key
                if expr in obj and not isinstance(obj[expr], (dict, list)):
                    extracted[key] = str(obj[expr])
        elif name == "regex":
            source = cfg.get("source")
            text = line if source is None else (labels.get(source) if source in labels
                                                else extracted.get(source, ""))
            m = re.search(cfg["expression"], text or "")
            if m:
                extracted.update({k: v for k, v in m.groupdict().items() if v is not None})
        elif name == "timestamp":
            value = extracted.get(cfg["source"])
            if value is not None and cfg.get("format") in ("RFC3339", "RFC3339Nano"):
                parse_rfc3339(value)
        elif name == "labels":
            for key, src in cfg.items():
                src = src or key
                if src in extracted:
                    labels[key] = extracted[src]
        elif name == "structured_metadata":
            for key, src in cfg.items():
                src = src or key
                if src in extracted:
                    meta[key] = extracted[src]
        elif name == "labeldrop":
            for key in cfg:
                labels.pop(key, None)
        elif name == "static_labels":
            labels.update(cfg)
    return labels, meta, extracted


def targets(promtail):
    """(labels, __path__) of every static target."""
    out = []
    for sc in promtail.get("scrape_configs", []):
        for st in sc.get("static_configs", []) or []:
            labels = dict(st.get("labels") or {})
            out.append((labels, labels.get("__path__", "")))
    return out


def target_for(promtail, path):
    """The static labels of the target whose __path__ matches `path` (None: not shipped)."""
    for labels, glob_ in targets(promtail):
        if fnmatch.fnmatch(path, glob_):
            return labels
    return None


def check_static(loki, promtail, fails):
    # Loki: structured metadata needs it allowed, tsdb and schema v13 for the newest period.
    limits = loki.get("limits_config") or {}
    if limits.get("allow_structured_metadata") is not True:
        fails.add("loki.yml: limits_config.allow_structured_metadata must be true")
    periods = (loki.get("schema_config") or {}).get("configs") or []
    if not periods:
        fails.add("loki.yml: schema_config.configs is empty")
    else:
        newest = max(periods, key=lambda p: str(p.get("from")))
        if newest.get("store") != "tsdb" or newest.get("schema") != "v13":
            fails.add("loki.yml: the newest schema must be tsdb v13 (structured metadata)")
    port = (loki.get("server") or {}).get("http_listen_port")
    # Promtail: pushes to that port, reads the files the binary writes.
    urls = [c.get("url", "") for c in promtail.get("clients") or []]
    if not any(u.endswith(":%s/loki/api/v1/push" % port) for u in urls):
        fails.add("promtail.yml: no client pushes to loki's port %s (%s)" % (port, urls))
    if not promtail.get("positions", {}).get("filename"):
        fails.add("promtail.yml: positions.filename is missing (offsets lost on restart)")
    for f in LOG_FILES:
        if target_for(promtail, os.path.join("/var/log/aragora", f)) is None:
            fails.add("promtail.yml: no __path__ ships %s" % f)
    stages = stages_of(promtail)
    for st in stages:
        if not isinstance(st, dict) or len(st) != 1:
            fails.add("promtail.yml: a stage is not a one-key mapping: %r" % (st,))
            continue
        (name, cfg), = st.items()
        if name not in KNOWN_STAGES:
            fails.add("promtail.yml: unknown stage %s" % name)
        if name == "labels":
            for key in cfg or {}:
                if key in NEVER_LABELS:
                    fails.add("promtail.yml: %s must not be a label (one stream per value)"
                              % key)
                elif key not in ALLOWED_LABELS:
                    fails.add("promtail.yml: label %s is not in the bounded set %s"
                              % (key, sorted(ALLOWED_LABELS)))
        if name == "regex":
            try:
                re.compile(cfg["expression"])
            except (re.error, KeyError, TypeError) as e:
                fails.add("promtail.yml: regex stage does not compile: %s" % e)
    names = [next(iter(st)) for st in stages if isinstance(st, dict) and st]
    if "structured_metadata" not in names:
        fails.add("promtail.yml: no structured_metadata stage")
    # The pipeline over sample lines.
    for fname, obj in SAMPLES:
        try:
            path = "/var/log/aragora/" + fname
            lab, meta, _ = apply_pipeline(stages, target_for(promtail, path) or {}, path,
                                          json.dumps(obj))
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            fails.add("pipeline failed on a %s line: %s" % (fname, e))
            continue
        for key in lab:
            if key in NEVER_LABELS:
                fails.add("a %s line has %s as a label" % (fname, key))
        if "correlation_id" in obj and meta.get("correlation_id") != obj["correlation_id"]:
            fails.add("a %s line lost correlation_id (structured metadata: %s)" % (fname, meta))
        if lab.get("level") != obj["level"] or lab.get("domain") != obj["domain"]:
            fails.add("a %s line lost its level/domain labels: %s" % (fname, lab))
        if lab.get("log") != fname[:-4]:
            fails.add("a %s line has log label %r" % (fname, lab.get("log")))


def query(promtail, logs_dir, correlation_id, expect, fails):
    stages = stages_of(promtail)
    files = sorted(glob.glob(os.path.join(logs_dir, "*.log")))
    if not files:
        fails.add("no *.log in %s" % logs_dir)
        return
    found = []
    total = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                total += 1
                shipped = "/var/log/aragora/" + os.path.basename(path)
                static = target_for(promtail, shipped)
                if static is None:
                    fails.add("%s is not shipped by promtail.yml" % path)
                    return
                lab, meta, _ = apply_pipeline(stages, static, shipped, line)
                for key in lab:
                    if key in NEVER_LABELS:
                        fails.add("%s: a line has %s as a label" % (path, key))
                        return
                # {job="aragora"} | correlation_id="<id>"
                if lab.get("job") == "aragora" and meta.get("correlation_id") == correlation_id:
                    found.append((os.path.basename(path), lab, line))
    if not found:
        fails.add("no line of %d found by correlation_id=%s" % (total, correlation_id))
        return
    if expect and not any(expect in json.loads(l)["message"] for _, _, l in found):
        fails.add("the lines found by %s do not include %r" % (correlation_id, expect))
    for fname, lab, line in found:
        if correlation_id in json.dumps(lab):
            fails.add("%s: the correlation id is in a label: %s" % (fname, lab))
    print("%d of %d lines found by {job=\"aragora\"} | correlation_id=\"%s\"; labels: %s"
          % (len(found), total, correlation_id, sorted({k for _, lab, _ in found for k in lab})))


def selftest(loki, promtail):
    broken = []
    p = copy.deepcopy(promtail)
    for st in stages_of(p):
        if "labels" in st:
            st["labels"]["correlation_id"] = None
    broken.append(("correlation_id as a label", loki, p))
    l2 = copy.deepcopy(loki)
    l2["limits_config"]["allow_structured_metadata"] = False
    broken.append(("structured metadata off", l2, promtail))
    p3 = copy.deepcopy(promtail)
    p3["scrape_configs"][0]["pipeline_stages"].append({"jsonn": {}})
    broken.append(("unknown stage", loki, p3))
    p4 = copy.deepcopy(promtail)
    p4["scrape_configs"][0]["static_configs"][0]["labels"]["__path__"] = "/var/log/aragora/apii.log"
    broken.append(("path glob misses files", loki, p4))
    p5 = copy.deepcopy(promtail)
    p5["scrape_configs"][0]["pipeline_stages"] = [
        s for s in p5["scrape_configs"][0]["pipeline_stages"] if "structured_metadata" not in s]
    broken.append(("no structured metadata stage", loki, p5))
    bad = 0
    for what, lk, pt in broken:
        f = Failures()
        check_static(lk, pt, f)
        if not f:
            print("selftest: the check passed a broken copy: %s" % what)
            bad += 1
    f = Failures()
    check_static(loki, promtail, f)
    for x in f:
        print("selftest: the real configs fail: %s" % x)
        bad += 1
    return bad


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    fails = Failures()
    if argv[1] == "static":
        check_static(load(argv[2]), load(argv[3]), fails)
    elif argv[1] == "selftest":
        return 1 if selftest(load(argv[2]), load(argv[3])) else 0
    elif argv[1] == "query":
        args = argv[3:]
        opts = {args[i]: args[i + 1] for i in range(0, len(args) - 1, 2)}
        query(load(argv[2]), opts["--logs"], opts["--correlation-id"],
              opts.get("--expect-message"), fails)
    else:
        print(__doc__)
        return 2
    for f in fails:
        print(f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
