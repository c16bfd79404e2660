"""Shared pieces of the reliability scenarios (docs/reliability.md): processes, HTTP on
loopback, the fake provider, `aragora serve` / `aragora worker`, PostgreSQL, a minimal
WebSocket client, the JSON pieces of the report. Python 3 standard library only.

Every child process is started through spawn() and stopped by stop_all() (also on
SIGINT/SIGTERM and at exit), so an interrupted scenario leaves nothing running.
"""
import atexit
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import base64

CHILDREN = []
PG_BIN = "/usr/lib/postgresql/15/bin"
_lock = threading.Lock()


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


# --------------------------------------------------------------------------------------
# processes


def spawn(cmd, log_path, env=None, user=None):
    if user and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--"] + cmd
    out = open(log_path, "a")
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=False)
    p.log_path = log_path
    with _lock:
        CHILDREN.append(p)
    return p


def forget(p):
    with _lock:
        if p in CHILDREN:
            CHILDREN.remove(p)


def stop(p, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    forget(p)


def kill9(p):
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()
    forget(p)


def stop_all():
    with _lock:
        procs = list(reversed(CHILDREN))
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    with _lock:
        CHILDREN.clear()


def install_cleanup():
    atexit.register(stop_all)

    def on_signal(signum, _frame):
        stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def wait_for_log(pattern, p, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = open(p.log_path, errors="replace").read()
        found = re.findall(pattern, text)
        if found:
            return found
        if p.poll() is not None:
            raise RuntimeError(f"{p.args[0]} exited ({p.returncode}): {text[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{p.args[0]}: no {pattern!r} within {timeout} s: "
                       f"{open(p.log_path, errors='replace').read()[-2000:]}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


# --------------------------------------------------------------------------------------
# HTTP (one keep-alive connection per thread and port)

_local = threading.local()


def request(port, method, path, body=None, timeout=30):
    """(status, parsed JSON or {"raw": ...}); raises OSError/HTTPException when the server
    cannot be reached (after one retry on a fresh connection)."""
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    for attempt in range(2):
        c = conns.get(port)
        if c is None:
            c = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            data = json.dumps(body) if body is not None else None
            c.request(method, path, body=data,
                      headers={"Content-Type": "application/json"} if data else {})
            r = c.getresponse()
            raw = r.read()
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                conns.pop(port, None)
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                parsed = {"raw": raw[:200].decode(errors="replace")}
            return r.status, parsed
        except (OSError, http.client.HTTPException):
            c.close()
            conns.pop(port, None)
            if attempt == 1:
                raise


def drop_connections():
    conns = getattr(_local, "conns", None) or {}
    for c in conns.values():
        c.close()
    conns.clear()


TERMINAL = ("completed", "failed", "cancelled")


# --------------------------------------------------------------------------------------
# the fake provider

PROVIDERS = ["ANTHROPIC", "OPENAI", "GEMINI"]
# One model name per provider agent; the fault rules name these models, so the model-list
# GETs (which carry no model) are never faulted.
PROVIDER_MODELS = {"ANTHROPIC": "rel-anthropic", "OPENAI": "rel-openai", "GEMINI": "rel-gemini"}
PROVIDER_AGENTS = ["anthropic:rel-anthropic", "openai:rel-openai", "gemini:rel-gemini"]


class Fake:
    """aragora_fake_llm with one listener per provider, keeping no request records."""

    def __init__(self, binary, workdir, name="fake", latency_ms=0, seed=1, token_delay_ms=0):
        self.proc = spawn([binary, "--port", "0", "--latency-ms", str(latency_ms),
                           "--token-delay-ms", str(token_delay_ms),
                           "--listeners", str(len(PROVIDERS)), "--keep-requests", "0",
                           "--seed", str(seed)], os.path.join(workdir, name + ".log"))
        pattern = r"listening on 127\.0\.0\.1:(\d+)\n"
        ports = wait_for_log(pattern, self.proc)
        deadline = time.time() + 10
        while len(ports) < len(PROVIDERS) and time.time() < deadline:
            time.sleep(0.02)
            ports = re.findall(pattern, open(self.proc.log_path).read())
        self.ports = [int(p) for p in ports[:len(PROVIDERS)]]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]

    def set_fault(self, action, probability):
        """One rule per provider listener: `action` for that provider's model with
        `probability` (none when probability is 0)."""
        for provider, port in zip(PROVIDERS, self.ports):
            request(port, "DELETE", "/_fake/rules")
            if probability > 0:
                status, body = request(port, "POST", "/_fake/rules",
                                       {"model": PROVIDER_MODELS[provider], "action": action,
                                        "probability": probability})
                if status != 200:
                    raise RuntimeError(f"fake rule refused: {status} {body}")

    def reset(self):
        for port in self.ports:
            request(port, "DELETE", "/_fake/requests")

    def stats(self):
        """The listeners' /_fake/stats summed (faults per kind too)."""
        total = {"faults": {}}
        for port in self.ports:
            _, one = request(port, "GET", "/_fake/stats")
            for k, v in one.items():
                if k == "faults":
                    for kind, n in v.items():
                        total["faults"][kind] = total["faults"].get(kind, 0) + n
                elif k.startswith("cpu") or k == "max_rss_kib":
                    total[k] = v
                elif isinstance(v, (int, float)):
                    total[k] = total.get(k, 0) + v
        return total

    def env(self):
        env = {}
        for provider, url in zip(PROVIDERS, self.urls):
            env[f"{provider}_API_KEY"] = "reliability"
            env[f"ARAGORA_{provider}_BASE_URL"] = url
        return env


# --------------------------------------------------------------------------------------
# aragora serve / worker


def base_env(data_dir, home):
    """Development mode on loopback, ports chosen by the OS, no rate limit, no key of any
    real provider and none of OpenRouter (only PATH is taken from the caller)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
            "ARAGORA_ENV": "development", "ARAGORA_DATA_DIR": data_dir,
            "ARAGORA_LOG_LEVEL": "WARNING", "ARAGORA_LOG_FORMAT": "text",
            "ARAGORA_RATE_LIMIT_DISABLED": "1", "ARAGORA_API_PORT": "0", "ARAGORA_WS_PORT": "0",
            "ARAGORA_METRICS_PORT": "0", "ARAGORA_RECEIPT_SIGNING_KEY": "reliability-key",
            "ARAGORA_MAX_CONCURRENT_DEBATES": "1000", "ARAGORA_MAX_QUEUED_DEBATES": "100000"}


class Serve:
    def __init__(self, aragora, workdir, name, env):
        self.aragora = aragora
        self.env = env
        self.name = name
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.starts = 0

    def start(self, timeout=60):
        """Starts serve and waits until /readyz answers 200; returns that time."""
        self.starts += 1
        log_path = os.path.join(self.workdir, f"{self.name}.log")
        pattern = r"API\s+http://127\.0\.0\.1:(\d+)"

        def api_lines():
            try:
                return re.findall(pattern, open(log_path, errors="replace").read())
            except OSError:
                return []

        before = len(api_lines())  # the log is appended to across restarts
        self.proc = spawn([self.aragora, "serve"], log_path, self.env)
        deadline = time.time() + timeout
        while True:
            lines = api_lines()
            if len(lines) > before:
                self.port = int(lines[-1])
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited ({self.proc.returncode}): "
                                   f"{open(log_path, errors='replace').read()[-3000:]}")
            if time.time() > deadline:
                raise RuntimeError("serve printed no API line in time")
            time.sleep(0.05)
        while time.time() < deadline:
            try:
                if request(self.port, "GET", "/readyz", timeout=5)[0] == 200:
                    return time.time()
            except (OSError, http.client.HTTPException):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited ({self.proc.returncode})")
            time.sleep(0.05)
        raise RuntimeError("serve never became ready")

    def kill9(self):
        kill9(self.proc)

    def stop(self):
        stop(self.proc, 120)

    @property
    def pid(self):
        return self.proc.pid


class Worker:
    def __init__(self, aragora, workdir, name, env):
        self.aragora, self.workdir, self.name, self.env = aragora, workdir, name, env
        self.proc = None
        self.starts = 0

    def start(self, timeout=60):
        self.starts += 1
        self.proc = spawn([self.aragora, "worker"], os.path.join(self.workdir, f"{self.name}.log"),
                          self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            n = open(self.proc.log_path, errors="replace").read().count("worker started")
            if n >= self.starts:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode})")
            time.sleep(0.05)
        raise RuntimeError("worker did not start")

    def kill9(self):
        kill9(self.proc)

    def stop(self):
        stop(self.proc, 60)


def run_cli(aragora, env, args, timeout=300):
    """Runs `aragora <args>`; (exit code, parsed JSON of stdout or None, stderr tail)."""
    p = subprocess.run([aragora] + args, env=env, capture_output=True, text=True, timeout=timeout)
    try:
        parsed = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else None
    except ValueError:
        parsed = None
    return p.returncode, parsed, (p.stderr or "")[-2000:]


# --------------------------------------------------------------------------------------
# debates


def create_debate(port, agents, rounds, task):
    """(debate id or None, error text or None)."""
    try:
        status, body = request(port, "POST", "/api/v1/debates",
                               {"task": task, "agents": agents, "rounds": rounds})
    except (OSError, http.client.HTTPException) as e:
        return None, f"create failed: {e}"
    if status != 201:
        return None, f"create answered {status}: {str(body)[:200]}"
    return body["debate_id"], None


def get_debate(port, debate_id):
    """The debate, {"status": "missing"} on 404, None when unreachable."""
    try:
        status, body = request(port, "GET", f"/api/v1/debates/{debate_id}")
    except (OSError, http.client.HTTPException):
        return None
    if status == 404:
        return {"status": "missing"}
    if status != 200:
        return {"status": f"http_{status}"}
    return body


def all_events(port, debate_id):
    """Every stored event of a debate through /events (paged); None when unreachable."""
    events, since = [], 0
    while True:
        try:
            status, body = request(port, "GET",
                                   f"/api/v1/debates/{debate_id}/events?since={since}&limit=500")
        except (OSError, http.client.HTTPException):
            return None
        if status != 200:
            return None
        events.extend(body.get("events", []))
        nxt = body.get("next_seq", since)
        if not body.get("has_more") or nxt <= since:
            return events
        since = nxt


def list_all_debates(port):
    """Every debate id the server lists (newest first, paged by 100)."""
    ids, offset = [], 0
    while True:
        status, body = request(port, "GET", f"/api/v1/debates?limit=100&offset={offset}")
        if status != 200:
            raise RuntimeError(f"list answered {status}: {body}")
        page = body.get("debates", [])
        ids.extend(d["debate_id"] for d in page)
        if not body.get("has_more") or not page:
            return ids
        offset += len(page)


def verify_receipt(port, receipt_id):
    """The server's verification of a stored receipt: (valid, answer)."""
    try:
        status, body = request(port, "POST", f"/api/v1/receipts/{receipt_id}/verify")
    except (OSError, http.client.HTTPException) as e:
        return False, {"error": str(e)}
    return status == 200 and body.get("valid") is True, body


def percentile(values, p):
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]


def linear_fit(xs, ys):
    """(slope, intercept) of the least-squares line; (0, mean) for fewer than 2 points."""
    n = len(xs)
    if n < 2:
        return 0.0, (ys[0] if ys else 0.0)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


# --------------------------------------------------------------------------------------
# PostgreSQL (a private cluster in the scenario's directory, as bench/distributed_bench.py)


def start_postgres(workdir):
    data = os.path.join(workdir, "pg")
    os.makedirs(data, exist_ok=True)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(as_postgres + [f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    spawn([f"{PG_BIN}/postgres", "-D", data, "-p", str(port), "-k", workdir,
           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300"],
          os.path.join(workdir, "pg.log"), user="postgres")
    deadline = time.time() + 60
    while time.time() < deadline:
        if subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc",
                           "select 1"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return port
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not start")


def create_db(port, name):
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc",
                    f"create database {name}"], check=True, stdout=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------
# a minimal WebSocket client (RFC 6455: handshake, masked client frames, text, ping, close)


class WebSocket:
    def __init__(self, port, path, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"handshake refused: {head[:200]!r}")

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self):
        """The next text message (str); None once the server closed. Answers pings."""
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                return None
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            message += payload
            if b0 & 0x80:
                return message.decode("utf-8", errors="replace")

    def send_text(self, text):
        self._send(0x1, text.encode())

    def close(self):
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


# --------------------------------------------------------------------------------------
# report pieces


def out_dir():
    d = os.environ.get("RELIABILITY_OUT", "build-reliability")
    os.makedirs(d, exist_ok=True)
    return d


def write_piece(name, data):
    """Writes <out>/<name>.json (one scenario's figures); report.py combines them."""
    path = os.path.join(out_dir(), f"{name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    log(f"wrote {path}")
    return path


def workdir(name):
    """A fresh scratch directory for one scenario under <out>/work/<name>."""
    d = os.path.join(os.path.abspath(out_dir()), "work", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def git_head():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def seeded_random():
    seed = env_int("RELIABILITY_SEED", int(time.time()))
    return seed, random.Random(seed)
