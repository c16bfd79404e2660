#!/usr/bin/python3
"""Renders the five dashboards of deploy/grafana/ from real data, without Grafana (not a
Debian package): docs/images/dashboard-<uid>.png, one image per dashboard, its panels
laid out by their gridPos.

What it does, all on loopback:
  1. starts the fake LLM provider (tests/fake_llm, `aragora_fake_llm`) with one model that
     always answers 500 and one that is slow, and `aragora serve` (development mode, demo
     agents, small caps so that bursts are refused, backups every minute, a receipt
     cleanup soon after start);
  2. starts Debian's `prometheus` scraping the server's /metrics and /metrics/websocket
     every 5 s, with deploy/monitoring's recording and alert rules loaded;
  3. drives the server for --minutes: debates of demo agents, some with the failing or
     slow provider model, bursts past the queue (503) and past the rate limit (429),
     404s, WebSocket viewers, a legal hold, on-demand retention runs and backups;
  4. evaluates every panel query through Prometheus' HTTP API (query_range over the run
     for time series, an instant query at the end for stats; $__rate_interval = 30s) and
     plots them with matplotlib (python3-matplotlib).

  /usr/bin/python3 deploy/grafana/render_dashboards.py --aragora build/src/cli/aragora \\
      --fake-llm build/tests/fake_llm/aragora_fake_llm [--minutes 4] [--out docs/images]

Needs Debian's prometheus and python3-matplotlib (run it with /usr/bin/python3).
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DASHBOARDS = ["aragora-overview", "api-performance", "debate-analytics", "slo-dashboard",
              "receipt-retention"]
RATE_INTERVAL = "30s"
SCRAPE = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise SystemExit("render_dashboards: timed out waiting for " + what)


def http(method, url, body=None, headers=None, timeout=15):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


class Stack:
    """fake LLM + aragora serve + prometheus, stopped in reverse order."""

    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.procs = []

    def spawn(self, argv, env, name):
        out = open(os.path.join(self.tmp, name + ".out"), "w")
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((p, name))
        return p

    def log(self, name):
        with open(os.path.join(self.tmp, name + ".out"), errors="replace") as f:
            return f.read()

    def start(self):
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": os.environ.get("HOME", "/tmp")}
        # 1. the fake provider
        self.spawn([self.args.fake_llm, "--host", "127.0.0.1", "--port", "0",
                    "--latency-ms", "200"], base_env, "fake_llm")
        fake = {}

        def fake_up():
            m = re.search(r"listening on ([\d.]+):(\d+)", self.log("fake_llm"))
            if m:
                fake["url"] = "http://127.0.0.1:%s" % m.group(2)
            return bool(m)
        wait_for(fake_up, 20, "the fake LLM provider")
        self.fake_url = fake["url"]
        rules = [{"format": "anthropic", "model": "claude-flaky", "action": "status",
                  "status": 500},
                 {"format": "anthropic", "model": "claude-slow", "action": "ok",
                  "latency_ms": 2500}]
        http("POST", self.fake_url + "/_fake/rules", json.dumps(rules))

        # 2. aragora serve
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        env = dict(base_env)
        env.update({
            "ARAGORA_ENV": "development", "ARAGORA_DATA_DIR": data,
            "ARAGORA_LOG_FORMAT": "text", "ARAGORA_IO_THREADS": "2",
            "ARAGORA_RECEIPT_SIGNING_KEY": "render-dashboards-key",
            "ARAGORA_DEMO_LATENCY_MS": "400",
            "ARAGORA_MAX_CONCURRENT_DEBATES": "3", "ARAGORA_MAX_QUEUED_DEBATES": "2",
            "ANTHROPIC_API_KEY": "sk-ant-render-fake",
            "ARAGORA_ANTHROPIC_BASE_URL": self.fake_url,
            "ARAGORA_AGENT_MAX_RETRIES": "1", "ARAGORA_AGENT_RETRY_BASE_MS": "50",
            "ARAGORA_CIRCUIT_BREAKER_THRESHOLD": "4",
            "ARAGORA_CIRCUIT_BREAKER_COOLDOWN_SECONDS": "30",
            "ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS": "20",
            "BACKUP_ENABLED": "true", "BACKUP_DIR": os.path.join(self.tmp, "backups"),
            "BACKUP_INTERVAL": "60",
            "ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS": "20",
            "ARAGORA_WS_MAX_CONNECTIONS": "20",
            # Room for the traffic below; the bursts go past it on purpose.
            "ARAGORA_RATE_LIMIT": "600", "ARAGORA_RATE_LIMIT_DEBATE_RPM": "60",
        })
        self.spawn([self.args.aragora, "serve", "--host", "127.0.0.1", "--api-port", "0",
                    "--ws-port", "0", "--metrics-port", "0"], env, "aragora")
        ports = {}

        def serve_up():
            m = re.search(r"listening api=http://127\.0\.0\.1:(\d+) ws=ws://127\.0\.0\.1:(\d+)",
                          self.log("aragora"))
            if m:
                ports["api"], ports["ws"] = int(m.group(1)), int(m.group(2))
            return bool(m) and http("GET", "http://127.0.0.1:%d/readyz" % ports["api"])[0] == 200
        wait_for(serve_up, 60, "aragora serve to be ready")
        self.api = "http://127.0.0.1:%d" % ports["api"]
        self.api_port = ports["api"]

        # 3. prometheus
        self.prom_port = free_port()
        cfg = {
            "global": {"scrape_interval": "%ds" % SCRAPE, "evaluation_interval": "%ds" % SCRAPE},
            "rule_files": [os.path.join(ROOT, "deploy/monitoring/recording.yaml"),
                           os.path.join(ROOT, "deploy/monitoring/alerts.yaml")],
            "scrape_configs": [
                {"job_name": "aragora-backend", "metrics_path": "/metrics",
                 "static_configs": [{"targets": ["127.0.0.1:%d" % self.api_port]}]},
                {"job_name": "aragora-websocket", "metrics_path": "/metrics/websocket",
                 "static_configs": [{"targets": ["127.0.0.1:%d" % self.api_port]}]},
            ],
        }
        cfg_path = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.spawn([self.args.prometheus, "--config.file=" + cfg_path,
                    "--storage.tsdb.path=" + os.path.join(self.tmp, "tsdb"),
                    "--web.listen-address=127.0.0.1:%d" % self.prom_port],
                   base_env, "prometheus")
        self.prom = "http://127.0.0.1:%d" % self.prom_port
        wait_for(lambda: http("GET", self.prom + "/-/ready")[0] == 200, 60, "prometheus")

    def stop(self):
        for p, _ in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _ in reversed(self.procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def ws_viewer(port, debate_id, hold_seconds, stop):
    """A WebSocket client that upgrades and then idles (reads and discards frames)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /ws?debate_id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (debate_id, key)).encode())
        s.settimeout(1)
        end = time.time() + hold_seconds
        while time.time() < end and not stop.is_set():
            try:
                if not s.recv(65536):
                    break
            except socket.timeout:
                pass
        s.close()
    except OSError:
        pass


def drive(stack, minutes):
    """Traffic for `minutes`: debates, failures, refusals, viewers, retention, backups."""
    api = stack.api
    stop = threading.Event()
    viewers = []
    rnd = random.Random(7)
    end = time.time() + minutes * 60
    tick = 0
    debate_ids = []
    tasks = ["Should we adopt a four-day work week?", "Is remote work better for juniors?",
             "Monolith or microservices for a team of five?", "Rewrite it in Rust?"]
    while time.time() < end:
        tick += 1
        kind = tick % 10
        agents = ["demo", "demo", "demo"]
        if kind == 3:
            agents = ["anthropic:claude-flaky", "demo", "demo"]   # agent errors, breaker
        elif kind == 6:
            agents = ["anthropic:claude-slow", "anthropic:claude-ok", "demo"]
        elif kind == 9:
            agents = ["anthropic:claude-flaky", "anthropic:claude-flaky"]  # debate fails
        body = json.dumps({"task": rnd.choice(tasks), "agents": agents,
                           "rounds": rnd.choice([1, 2, 3])})
        status, text = http("POST", api + "/api/v1/debates", body)
        if status == 201:
            try:
                debate_ids.append(json.loads(text)["debate_id"])
            except (ValueError, KeyError):
                try:
                    debate_ids.append(json.loads(text)["id"])
                except (ValueError, KeyError):
                    pass
        for _ in range(rnd.randint(3, 8)):
            http("GET", api + "/api/v1/debates?limit=10")
        http("GET", api + "/api/v1/health")
        if tick % 4 == 0:
            http("GET", api + "/api/v1/no-such-route")
        if tick % 15 == 5:  # a burst past the queue: 503s
            for _ in range(8):
                http("POST", api + "/api/v1/debates", json.dumps(
                    {"task": "burst", "agents": ["demo", "demo"], "rounds": 3}))
        if tick % 25 == 12:  # a burst past the read rate limit: 429s
            for _ in range(400):
                http("GET", api + "/api/v1/status")
        if tick % 6 == 1 and debate_ids and len(viewers) < 12:
            t = threading.Thread(target=ws_viewer,
                                 args=(stack.api_port, debate_ids[-1], rnd.randint(20, 90), stop),
                                 daemon=True)
            t.start()
            viewers.append(t)
        viewers = [v for v in viewers if v.is_alive()]
        if tick % 20 == 2:
            http("POST", api + "/api/v2/receipts/retention/run", "{}")
        if tick % 30 == 10 and len(debate_ids) > tick // 30:
            status, text = http("GET", api + "/api/v1/debates/%s/receipt" % debate_ids[tick // 30])
            try:
                rid = json.loads(text)["receipt_id"]
                http("POST", api + "/api/v2/receipts/%s/legal-hold" % rid,
                     json.dumps({"reason": "render", "held_by": "ops"}))
            except (ValueError, KeyError, IndexError, TypeError):
                pass
        if tick == 3:
            http("POST", api + "/api/v2/backups", "{}", timeout=120)
        time.sleep(1.5)
    stop.set()
    for v in viewers:
        v.join(timeout=5)


# --- querying ------------------------------------------------------------------------

def prom_query(stack, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    status, text = http("GET", stack.prom + "/api/v1/query_range?" + q, timeout=60)
    if status != 200:
        return [], "HTTP %d: %s" % (status, text[:200])
    return json.loads(text)["data"]["result"], None


def prom_instant(stack, expr, at):
    q = urllib.parse.urlencode({"query": expr, "time": at})
    status, text = http("GET", stack.prom + "/api/v1/query?" + q, timeout=60)
    if status != 200:
        return [], "HTTP %d: %s" % (status, text[:200])
    return json.loads(text)["data"]["result"], None


def legend(fmt, metric):
    if not fmt:
        return "{" + ",".join("%s=%s" % kv for kv in sorted(metric.items())) + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt)


def collect(stack, dashboard, start, end):
    """{panel id: [(legend, [(t, v)], refId)]} and stat values."""
    out = {}
    for panel in dashboard["panels"]:
        series = []
        errors = []
        for t in panel.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", RATE_INTERVAL)
            if panel["type"] == "stat" or t.get("instant"):
                res, err = prom_instant(stack, expr, end)
                for r in res:
                    series.append((legend(t.get("legendFormat"), r["metric"]),
                                   [(float(r["value"][0]), float(r["value"][1]))], t["refId"]))
            else:
                res, err = prom_query(stack, expr, start, end, SCRAPE)
                for r in res:
                    series.append((legend(t.get("legendFormat"), r["metric"]),
                                   [(float(a), float(b)) for a, b in r["values"]], t["refId"]))
            if err:
                errors.append(err)
        out[panel["id"]] = (series, errors)
    return out


# --- plotting ------------------------------------------------------------------------

def fmt_value(v, unit, decimals=None):
    if v != v:  # NaN
        return "NaN"
    if unit == "percentunit":
        return "%.*f %%" % (decimals if decimals is not None else 2, v * 100)
    if unit == "percent":
        return "%.1f %%" % v
    if unit == "s":
        if abs(v) < 0.01:
            return "%.1f ms" % (v * 1000)
        if abs(v) < 1:
            return "%.0f ms" % (v * 1000)
        if abs(v) < 120:
            return "%.2f s" % v
        if abs(v) < 7200:
            return "%.1f min" % (v / 60)
        return "%.1f h" % (v / 3600)
    if unit == "bytes":
        for u in ["B", "KiB", "MiB", "GiB", "TiB"]:
            if abs(v) < 1024:
                return "%.1f %s" % (v, u)
            v /= 1024
    if unit == "dateTimeFromNow":
        return "%.0f s ago" % (time.time() - v) if v > 0 else "never"
    suffix = {"reqps": " req/s", "ops": " /s"}.get(unit, "")
    if abs(v) >= 1000:
        return "%.0f%s" % (v, suffix)
    if v == int(v):
        return "%d%s" % (v, suffix)
    if decimals is not None:
        return "%.*f%s" % (decimals, v, suffix)
    return "%.3g%s" % (v, suffix)


def threshold_color(panel, value, series):
    fc = panel.get("fieldConfig", {}).get("defaults", {})
    steps = list(fc.get("thresholds", {}).get("steps", []))
    # configFromData: threshold1 from the config query (the SLO targets).
    for tr in panel.get("transformations", []):
        if tr.get("id") == "configFromData":
            ref = tr["options"]["configRefId"]
            vals = [pts[-1][1] for _, pts, r in series if r == ref and pts]
            if vals and len(steps) > 1:
                steps[1] = dict(steps[1], value=vals[0])
    color = "#73bf69"
    for st in steps:
        if st.get("value") is None or value >= st["value"]:
            color = st.get("color", color)
    return {"green": "#73bf69", "red": "#f2495c", "orange": "#ff9830", "yellow": "#fade2a",
            "blue": "#5794f2", "transparent": "#999999"}.get(color, color)


def render(dashboard, data, path, start, end):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.dates as mdates
    import datetime

    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_h = 0.30
    fig = plt.figure(figsize=(16, rows * unit_h + 0.6), dpi=62, facecolor="#111217")
    fig.suptitle("%s  (%s, %d min of a live aragora serve; rendered from Prometheus by "
                 "deploy/grafana/render_dashboards.py)"
                 % (dashboard["title"], datetime.datetime.utcfromtimestamp(end)
                    .strftime("%Y-%m-%d %H:%M UTC"), round((end - start) / 60)),
                 color="#d8d9da", fontsize=11, x=0.01, ha="left", y=0.998)
    total_h = rows * unit_h + 0.6
    top = 1 - 0.45 / total_h
    for p in panels:
        g = p["gridPos"]
        pad = 0.004
        left = g["x"] / 24 + pad
        width = g["w"] / 24 - 2 * pad
        height = (g["h"] * unit_h / total_h) - 0.012
        bottom = top - (g["y"] + g["h"]) * unit_h / total_h + 0.006
        series, errors = data[p["id"]]
        fc = p.get("fieldConfig", {}).get("defaults", {})
        unit = fc.get("unit", "short")
        if p["type"] == "stat":
            ax = fig.add_axes([left, bottom, width, height], facecolor="#181b1f")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_color("#2c3235")
            ax.text(0.02, 0.92, p.get("title", ""), color="#ccccdc", fontsize=9,
                    transform=ax.transAxes, va="top")
            shown = [s for s in series if s[2] != "T"] if any(
                tr.get("id") == "configFromData" for tr in p.get("transformations", [])) else series
            if not shown:
                ax.text(0.5, 0.4, "No data", color="#8e8e8e", fontsize=13, ha="center",
                        transform=ax.transAxes)
            else:
                n = len(shown)
                for i, (lab, pts, _) in enumerate(shown[:4]):
                    v = pts[-1][1]
                    x = (i + 0.5) / min(n, 4)
                    ax.text(x, 0.42, fmt_value(v, unit, fc.get("decimals")),
                            color=threshold_color(p, v, series), fontsize=17 if n == 1 else 12,
                            ha="center", va="center", weight="bold", transform=ax.transAxes)
                    if n > 1:
                        ax.text(x, 0.12, lab[:22], color="#8e8e8e", fontsize=7, ha="center",
                                transform=ax.transAxes)
            continue
        ax = fig.add_axes([left + 0.028, bottom + 0.022, width - 0.032, height - 0.05],
                          facecolor="#181b1f")
        ax.set_title(p.get("title", ""), color="#ccccdc", fontsize=9, loc="left", pad=3)
        ax.tick_params(colors="#8e8e8e", labelsize=7)
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.grid(color="#2c3235", linewidth=0.5)
        palette = ["#73bf69", "#fade2a", "#5794f2", "#ff9830", "#f2495c", "#b877d9",
                   "#8ab8ff", "#ffcb7d", "#96d98d", "#ff7383"]
        drawn = 0
        for i, (lab, pts, ref) in enumerate(series[:10]):
            xs = [datetime.datetime.utcfromtimestamp(t) for t, _ in pts]
            ys = [v for _, v in pts]
            style = "--" if lab == "target" or "limit" in lab or "threshold" in lab else "-"
            ax.plot(xs, ys, style, color=palette[i % len(palette)], linewidth=1.2,
                    label=lab[:40])
            drawn += 1
        if drawn == 0:
            ax.text(0.5, 0.5, "No data" if not errors else "query error",
                    color="#8e8e8e", fontsize=11, ha="center", transform=ax.transAxes)
        ax.set_xlim(datetime.datetime.utcfromtimestamp(start),
                    datetime.datetime.utcfromtimestamp(end))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _, u=unit: fmt_value(v, u, 1 if u == "percentunit" else None)))
        if drawn:
            leg = ax.legend(fontsize=6, loc="upper left", framealpha=0.3, ncol=2 if drawn > 4 else 1)
            for t in leg.get_texts():
                t.set_color("#ccccdc")
            leg.get_frame().set_facecolor("#181b1f")
    fig.savefig(path, facecolor=fig.get_facecolor())
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aragora", default=os.path.join(ROOT, "build/src/cli/aragora"))
    ap.add_argument("--fake-llm", default=os.path.join(ROOT, "build/tests/fake_llm/aragora_fake_llm"))
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--minutes", type=float, default=4)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/images"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, tsdb)")
    args = ap.parse_args()
    for exe in (args.aragora, args.fake_llm, args.prometheus):
        if not os.access(exe, os.X_OK):
            raise SystemExit("render_dashboards: %s is not an executable (build it, or apt-get "
                             "install prometheus)" % exe)
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="aragora-render-")
    stack = Stack(args, tmp)
    try:
        stack.start()
        start = time.time()
        print("render_dashboards: driving %s for %.1f min (prometheus %s)"
              % (stack.api, args.minutes, stack.prom), flush=True)
        drive(stack, args.minutes)
        time.sleep(2 * SCRAPE)  # the last scrapes and rule evaluations
        end = time.time()
        for name in DASHBOARDS:
            with open(os.path.join(ROOT, "deploy/grafana", name + ".json")) as f:
                dashboard = json.load(f)
            data = collect(stack, dashboard, start, end)
            empty = [p["title"] for p in dashboard["panels"] if not data[p["id"]][0]]
            errs = [e for s, es in data.values() for e in es]
            path = os.path.join(args.out, "dashboard-%s.png" % name)
            render(dashboard, data, path, start, end)
            print("render_dashboards: %s: %d panels, %d without data%s, %d query errors, %d KB"
                  % (path, len(dashboard["panels"]), len(empty),
                     (" (" + "; ".join(empty) + ")") if empty else "", len(errs),
                     os.path.getsize(path) // 1024), flush=True)
            for e in errs:
                print("  query error: " + e)
    finally:
        stack.stop()
        if args.keep:
            print("render_dashboards: kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
