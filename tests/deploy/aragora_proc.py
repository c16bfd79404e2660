"""The built `aragora` as the deploy tests drive it: serve/worker on free loopback ports with
a temp data dir (development mode, demo agents), HTTP calls, a graceful stop. Every wait has
a deadline; nothing sleeps for a fixed time to let something happen."""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request


def base_env(data_dir, extra=None):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update({
        "ARAGORA_ENV": "development",
        "ARAGORA_DATA_DIR": data_dir,
        "ARAGORA_DEMO_LATENCY_MS": "5",
        "ARAGORA_LOG_FORMAT": "text",
        "ARAGORA_RECEIPT_SIGNING_KEY": "deploy-test-key-1",
        "ARAGORA_IO_THREADS": "2",
        "ARAGORA_SHUTDOWN_GRACE_SECONDS": "5",
        "ARAGORA_RATE_LIMIT_DISABLED": "1",
    })
    env.update(extra or {})
    return env


class Aragora:
    """One `aragora serve` (or `worker`) process; its stderr is collected line by line."""

    def __init__(self, argv, env):
        self.lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = None

    @classmethod
    def serve(cls, binary, env):
        a = cls([binary, "serve", "--host", "127.0.0.1", "--api-port", "0", "--ws-port", "0",
                 "--metrics-port", "0"], env)
        line = a.wait_line(r"listening api=http://127\.0\.0\.1:(\d+)", 60)
        a.port = int(re.search(r"api=http://127\.0\.0\.1:(\d+)", line).group(1))
        return a

    def _read(self):
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        with self._cond:
            while True:
                for line in self.lines:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} (exit {self.proc.poll()}):\n"
                                         + "\n".join(self.lines[-40:]))
                self._cond.wait(min(left, 0.5))

    def http(self, method, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.http("GET", "/readyz")[0] == 200:
                return
            time.sleep(0.05)  # polled with a deadline, like a readiness probe
        raise AssertionError("/readyz not 200 within %d s" % timeout)

    def run_debate(self, task, timeout=120):
        status, body = self.http("POST", "/api/v1/debates",
                                 {"task": task, "agents": ["demo", "demo", "demo"], "rounds": 1})
        assert status in (200, 201, 202), (status, body)
        debate_id = body.get("debate_id") or body.get("id")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, d = self.http("GET", f"/api/v1/debates/{debate_id}")
            if status == 200 and d.get("status") in ("completed", "failed", "cancelled"):
                assert d["status"] == "completed", d
                return debate_id
            time.sleep(0.05)  # polled with a deadline: a demo debate takes ~100 ms
        raise AssertionError(f"debate {debate_id} not completed within {timeout} s")

    def stop(self, timeout=60, signal_sent=False):
        """SIGTERM (unless already sent: a second one forces exit 1), then the exit code."""
        if not signal_sent and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("did not exit within %d s of SIGTERM" % timeout)
        self._reader.join(10)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
