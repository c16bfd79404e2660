#!/usr/bin/env python3
"""`make test-deploy`, the Docker part: the image and the compose file, each run by Docker.

  docker_test.py --repo . --binary build/src/cli/aragora [--console build/web]
                 [--source-build] [--skip container|compose]

1. base image: deploy/scripts/make-base-image.sh (debian:bookworm-slim, skipped when present)
2. image: `docker build -f deploy/Dockerfile --target prebuilt` with the binary of `make`
   (stripped of debug info into build/image/aragora) and the console of `make` (the build
   tree's web/, copied to build/image/web); --source-build builds the default target (the
   whole build inside Docker, the console with web/node_modules from the host) instead.
3. container: runs as non-root; HEALTHCHECK (/healthz) turns healthy; /readyz 200 (the
   start-to-ready time is measured); a demo debate completes and its receipt verifies;
   `docker stop` drains (exit 0, the running debate stored terminal); a new container on
   the same volume serves the same debates and receipts; the web console: `/` answers the
   image's /usr/local/share/aragora/web/index.html with the CSP header (no-cache), and a
   hashed asset it references answers with the immutable cache header.
4. compose: `config` of every profile; `up` of api x2 + worker + PostgreSQL + Redis +
   nginx (local stand-ins for the upstream images, tests/deploy/standins); a debate
   created through nginx (TLS) runs on the worker and streams over WebSocket through nginx;
   `--scale aragora=3`; `down` / `up` keeps every receipt.

Everything listens on loopback. Containers, volumes and networks of the run are removed at
the end, failed or not (the images are kept as a cache). Timings are printed at the end.
"""
import argparse
import base64
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

RUN_ID = f"{os.getpid()}"
PREFIX = f"aragora-deploytest-{RUN_ID}"
PROJECT = f"aratest{RUN_ID}"
TOKEN = base64.b64encode(os.urandom(24)).decode().replace("/", "x").replace("+", "y")
SECRETS = {
    "ARAGORA_JWT_SECRET": base64.b64encode(os.urandom(32)).decode(),
    "ARAGORA_RECEIPT_SIGNING_KEY": os.urandom(32).hex(),
    "ARAGORA_API_TOKEN": TOKEN,
    "ARAGORA_ENCRYPTION_KEY": os.urandom(32).hex(),
}
IMAGE = "aragora:test-deploy"
# The base image's tag (a different one measures a build from nothing while the usual one
# stays); the Dockerfiles take it as BASE_IMAGE.
BASE_IMAGE = os.environ.get("ARAGORA_TEST_BASE_IMAGE", "debian:bookworm-slim")
STANDINS = {  # compose default image -> stand-in directory
    "postgres:15-bookworm": "postgres",
    "redis:7-bookworm": "redis",
    "nginx:stable-bookworm": "nginx",
}
timings = {}
cleanups = []


def log(msg):
    print(f"[test-deploy {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)
    log(f"ok: {msg}")


def run(cmd, check_rc=True, capture=True, env=None, timeout=900, quiet=False):
    if not quiet:
        log("$ " + " ".join(str(c) for c in cmd))
    p = subprocess.run([str(c) for c in cmd], capture_output=capture, text=True, env=env,
                       timeout=timeout)
    if check_rc and p.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n"
                      f"{(p.stdout or '')[-3000:]}\n{(p.stderr or '')[-3000:]}")
    return p


def docker(*args, **kw):
    return run(["docker", *args], **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deadline_loop(seconds, what):
    """Yields until `seconds` pass, then fails naming `what`; each turn waits 0.25 s more
    than the last, up to 2 s."""
    end = time.monotonic() + seconds
    pause = 0.1
    while time.monotonic() < end:
        yield
        time.sleep(pause)
        pause = min(2.0, pause + 0.25)
    raise Failure(f"timed out after {seconds}s waiting for {what}")


# --- HTTP and WebSocket ----------------------------------------------------------------

INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def http(method, url, body=None, token=TOKEN, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=INSECURE) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
        return 0, str(e)


def wait_ready(base, seconds=60):
    for _ in deadline_loop(seconds, f"{base}/readyz"):
        status, _ = http("GET", f"{base}/readyz", token=None, timeout=3)
        if status == 200:
            return


def create_debate(base, task, rounds=2):
    status, body = http("POST", f"{base}/api/v1/debates",
                        {"task": task, "agents": "demo,demo,demo", "rounds": rounds})
    if status != 201:
        raise Failure(f"POST {base}/api/v1/debates: {status} {body}")
    return body["id"]


def wait_terminal(base, debate_id, seconds=120):
    for _ in deadline_loop(seconds, f"debate {debate_id} terminal"):
        status, body = http("GET", f"{base}/api/v1/debates/{debate_id}")
        if status == 200 and body.get("status") in ("completed", "failed", "cancelled"):
            return body


def verify_receipt(base, receipt_or_debate_id):
    status, body = http("POST", f"{base}/api/v2/receipts/{receipt_or_debate_id}/verify")
    return status == 200 and body.get("valid") is True and body.get("signature_valid") is True


def all_receipts(base):
    ids, offset = [], 0
    while True:
        status, body = http("GET", f"{base}/api/v2/receipts?limit=100&offset={offset}")
        if status != 200:
            raise Failure(f"GET receipts: {status} {body}")
        ids += [r.get("receipt_id") or r.get("id") for r in body["receipts"]]
        if not body.get("pagination", {}).get("has_more"):
            return sorted(ids)
        offset += 100


def ws_watch(host, port, path, until_type="debate_end", seconds=120, tls=True):
    """A WebSocket client (RFC 6455, client side only): connects, reads text frames until
    one whose JSON `type` is `until_type`; returns the event types seen."""
    raw = socket.create_connection((host, port), timeout=10)
    sock = INSECURE.wrap_socket(raw, server_hostname=host) if tls else raw
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise Failure("WebSocket: connection closed during the handshake")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise Failure(f"WebSocket handshake refused: {head[:200]!r}")

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise Failure("WebSocket: closed before " + until_type)
            buf += chunk

    types = []
    end = time.monotonic() + seconds
    sock.settimeout(5)
    while time.monotonic() < end:
        try:
            need(2)
        except socket.timeout:
            continue
        op, ln = buf[0] & 0x0F, buf[1] & 0x7F
        hdr = 2
        if ln == 126:
            need(4)
            ln, hdr = int.from_bytes(buf[2:4], "big"), 4
        elif ln == 127:
            need(10)
            ln, hdr = int.from_bytes(buf[2:10], "big"), 10
        need(hdr + ln)
        payload, buf = buf[hdr:hdr + ln], buf[hdr + ln:]
        if op == 0x8:
            raise Failure(f"WebSocket closed by the server before {until_type}: {payload!r}")
        if op == 0x9:  # ping -> pong (masked, as a client must)
            mask = os.urandom(4)
            sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask +
                         bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            continue
        if op != 0x1:
            continue
        try:
            ev = json.loads(payload)
        except ValueError:
            continue
        types.append(ev.get("type"))
        if ev.get("type") == until_type:
            sock.close()
            return types
    raise Failure(f"WebSocket: no {until_type} within {seconds}s (saw {types[-10:]})")


# --- steps -----------------------------------------------------------------------------


def step_base_image(repo):
    t = time.monotonic()
    run([repo / "deploy/scripts/make-base-image.sh"], capture=False,
        env={**os.environ, "BASE_IMAGE_TAG": BASE_IMAGE})
    timings["base image (make-base-image.sh)"] = time.monotonic() - t


def build_env():
    env = dict(os.environ)
    # Debian's docker.io has no buildx: the classic builder (it builds multi-stage
    # Dockerfiles and --target the same way).
    if docker("buildx", "version", check_rc=False, quiet=True).returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"
    return env


def stage_console(repo, console):
    """Copies the console built by `make` (index.html + assets/) to build/image/web, the
    `prebuilt` stage's source."""
    if not (console / "index.html").is_file() or not (console / "assets").is_dir():
        raise Failure(f"no built console in {console} (index.html + assets/): run "
                      "scripts/install-deps.sh, then build the aragora_console target")
    staged = repo / "build/image/web"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(console, staged)
    (staged / "build-manifest.json").unlink(missing_ok=True)  # build metadata, not served


def step_build_image(repo, binary, source_build, console):
    env = build_env()
    t = time.monotonic()
    if source_build:
        run(["docker", "build", "-f", repo / "deploy/Dockerfile", "-t", IMAGE,
             "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--build-arg", "BUILD_JOBS=2", repo],
            capture=False, env=env, timeout=7200)
        timings["docker build (from source)"] = time.monotonic() - t
    else:
        staged = repo / "build/image/aragora"
        staged.parent.mkdir(parents=True, exist_ok=True)
        run(["objcopy", "--strip-debug", binary, staged])
        stage_console(repo, console)
        run(["docker", "build", "-q", "-f", repo / "deploy/Dockerfile", "--target", "prebuilt",
             "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", IMAGE, repo], env=env)
        timings["docker build (prebuilt binary)"] = time.monotonic() - t
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE, quiet=True).stdout)
    timings["image size MB"] = size / 1e6


def step_image_config():
    cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", IMAGE,
                            quiet=True).stdout)
    check(cfg["User"] == "aragora", "image USER is aragora (non-root)")
    check(cfg["Entrypoint"] == ["aragora"] and cfg["Cmd"] == ["serve"],
          "entry point `aragora`, command `serve`")
    check(cfg.get("StopSignal") == "SIGTERM", "STOPSIGNAL SIGTERM")
    check(set(cfg.get("ExposedPorts", {})) == {"8080/tcp", "8765/tcp", "9090/tcp"},
          "EXPOSE 8080 8765 9090")
    check("/var/lib/aragora" in (cfg.get("Volumes") or {}), "VOLUME /var/lib/aragora")
    check("/healthz" in " ".join(cfg.get("Healthcheck", {}).get("Test", [])),
          "HEALTHCHECK on /healthz")
    # Every shared library the binary needs is in the runtime stage (a new dependency
    # must be added to the Dockerfile's runtime package list too).
    linked = docker("run", "--rm", "--entrypoint", "ldd", IMAGE, "/usr/local/bin/aragora",
                    check_rc=False, quiet=True)
    missing = [line.strip() for line in (linked.stdout + linked.stderr).splitlines()
               if "not found" in line]
    check(linked.returncode == 0 and not missing,
          "every library the binary links is in the image" +
          (": missing " + ", ".join(missing) if missing else ""))


def container_port(name, port=8080):
    out = docker("port", name, f"{port}/tcp", quiet=True).stdout.strip().splitlines()[0]
    return int(out.rsplit(":", 1)[1])


def start_container(name, volume):
    cleanups.append(("container", name))
    env_args = []
    for k, v in {**SECRETS, "ARAGORA_DEMO_LATENCY_MS": "600"}.items():
        env_args += ["-e", f"{k}={v}"]
    t = time.monotonic()
    # --health-interval: the image's HEALTHCHECK command, checked every 2 s instead of 30.
    docker("run", "-d", "--name", name, "--stop-timeout", "45", "--health-interval", "2s",
           "-v", f"{volume}:/var/lib/aragora", "-p", "127.0.0.1::8080", *env_args, IMAGE)
    base = f"http://127.0.0.1:{container_port(name)}"
    wait_ready(base)
    return base, time.monotonic() - t


def http_raw(url, timeout=10):
    """GET without a token: (status, headers, body bytes)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def check_console(name, base):
    """The image's console is what `aragora serve` answers at /."""
    shipped = docker("exec", name, "cat", "/usr/local/share/aragora/web/index.html",
                     check_rc=False, quiet=True)
    check(shipped.returncode == 0 and "<html" in shipped.stdout.lower(),
          "the console is in the image (/usr/local/share/aragora/web/index.html)")
    status, headers, body = http_raw(f"{base}/")
    # The server adds <base href="/"> (ARAGORA_CONSOLE_BASE_PATH); the rest is the file.
    served = re.sub(r'<base href="[^"]*" ?/?>', "", body.decode())
    check(status == 200 and served == re.sub(r'<base href="[^"]*" ?/?>', "", shipped.stdout),
          f"GET / answers the console's index.html ({status}, {len(body)} bytes)")
    csp = headers.get("Content-Security-Policy") or ""
    check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp,
          "GET / has the console's Content-Security-Policy header")
    check(headers.get("Cache-Control") == "no-cache", "GET / is Cache-Control: no-cache")
    check(headers.get_content_type() == "text/html", "GET / is text/html")

    assets = re.findall(r'(?:src|href)="/?(assets/[^"]+-[A-Z0-9]{8}\.(?:js|css))"',
                        body.decode())
    check(assets, f"index.html references hashed assets ({', '.join(assets)})")
    status, headers, asset = http_raw(f"{base}/{assets[0]}")
    shipped_len = docker("exec", name, "stat", "-c", "%s",
                         f"/usr/local/share/aragora/web/{assets[0]}", quiet=True).stdout
    check(status == 200 and len(asset) == int(shipped_len),
          f"GET /{assets[0]} answers the shipped file ({status}, {len(asset)} bytes)")
    check(headers.get("Cache-Control") == "public, max-age=31536000, immutable",
          f"GET /{assets[0]} is Cache-Control: public, max-age=31536000, immutable")


def step_container():
    volume = f"{PREFIX}-data"
    cleanups.append(("volume", volume))
    docker("volume", "create", volume)
    first = f"{PREFIX}-api1"
    base, ready = start_container(first, volume)
    timings["container start-to-ready (docker run -> /readyz 200)"] = ready
    check(True, f"/readyz 200 after {ready:.2f}s")
    uid = docker("exec", first, "id", "-u", quiet=True).stdout.strip()
    pid1 = docker("exec", first, "sh", "-c", "grep ^Uid: /proc/1/status", quiet=True).stdout
    check(uid == "10001" and pid1.split()[1] == "10001", f"container runs as uid {uid} (non-root)")
    for _ in deadline_loop(30, "docker health status healthy"):
        health = docker("inspect", "-f", "{{.State.Health.Status}}", first, quiet=True).stdout
        if health.strip() == "healthy":
            break
    check(True, "the image's HEALTHCHECK (/healthz) reports healthy")
    check_console(first, base)

    d1 = create_debate(base, "Should the deploy test pass?", rounds=1)
    done = wait_terminal(base, d1)
    check(done["status"] == "completed" and done.get("receipt_id"), f"demo debate {d1} completed")
    check(verify_receipt(base, done["receipt_id"]), "its receipt verifies")

    d2 = create_debate(base, "A debate running while the container stops", rounds=4)
    for _ in deadline_loop(30, f"debate {d2} running"):
        status = http("GET", f"{base}/api/v1/debates/{d2}")[1].get("status")
        if status == "running":
            break
        if status not in ("pending",):
            raise Failure(f"debate {d2} is {status} before the stop: make it longer")
    t = time.monotonic()
    docker("stop", first)
    stop_s = time.monotonic() - t
    code = docker("inspect", "-f", "{{.State.ExitCode}}", first, quiet=True).stdout.strip()
    logs = docker("logs", first, quiet=True).stderr + docker("logs", first, quiet=True).stdout
    check(code == "0", f"docker stop: exit code 0 after {stop_s:.1f}s")
    check("draining" in logs, "docker stop drained (the log says draining)")

    second = f"{PREFIX}-api2"
    base2, _ = start_container(second, volume)
    after = http("GET", f"{base2}/api/v1/debates/{d2}")[1]
    check(after.get("status") in ("completed", "failed", "cancelled"),
          f"the debate running at stop is stored terminal ({after.get('status')}) "
          "in the data volume, read by a new container")
    check(http("GET", f"{base2}/api/v1/debates/{d1}")[1].get("status") == "completed" and
          verify_receipt(base2, done["receipt_id"]),
          "the volume survived the container replacement: first debate and receipt verify")
    docker("rm", "-f", "-v", first, second, quiet=True)


def ensure_standins(repo, env):
    """Builds the missing stand-ins, all at once; returns a function that waits for them
    and raises the first failure."""
    procs = []
    for tag, directory in STANDINS.items():
        if docker("image", "inspect", tag, check_rc=False, quiet=True).returncode == 0:
            continue
        log(f"building the local stand-in for {tag} (tests/deploy/standins/{directory})")
        out = tempfile.TemporaryFile(mode="w+")
        procs.append((tag, out, subprocess.Popen(
            ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag,
             str(repo / "tests/deploy/standins" / directory)],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True)))

    def wait():
        for tag, out, p in procs:
            try:
                rc = p.wait(timeout=900)
            except subprocess.TimeoutExpired:
                p.kill()
                raise Failure(f"building the stand-in {tag} took over 900 s")
            if rc != 0:
                out.seek(0)
                raise Failure(f"building the stand-in {tag} failed:\n{out.read()[-3000:]}")
    return wait


class Compose:
    def __init__(self, repo, tmp):
        self.repo = repo
        self.tmp = tmp
        self.file = repo / "deploy/docker-compose.production.yml"
        self.env_file = tmp / "env"
        self.ports = {"https": free_port(), "http": free_port(), "ops": free_port()}
        self.cmd = ["docker", "compose"]
        if run(["docker", "compose", "version"], check_rc=False, quiet=True).returncode != 0:
            self.cmd = ["docker-compose"]

    def write_env(self, execution="worker"):
        certs = self.tmp / "certs"
        certs.mkdir(exist_ok=True)
        self.backups = self.tmp / "backups"
        self.backups.mkdir(exist_ok=True)
        os.chown(self.backups, 10001, 10001)  # the image's aragora user
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", certs / "privkey.pem",
             "-out", certs / "fullchain.pem"], quiet=True)
        os.chmod(certs / "privkey.pem", 0o644)
        # The template itself, with the secrets filled in: what an operator does.
        text = (self.repo / "deploy/.env.template").read_text()
        values = {
            **SECRETS,
            "COMPOSE_PROJECT_NAME": PROJECT,
            "POSTGRES_PASSWORD": base64.b64encode(os.urandom(18)).decode().replace("/", "x")
            .replace("+", "y"),
            "REDIS_PASSWORD": os.urandom(18).hex(),
            "GRAFANA_PASSWORD": "test",
        }
        self.values = dict(values)
        lines = []
        for line in text.splitlines():
            name = line.split("=", 1)[0]
            lines.append(f"{name}={values.pop(name)}" if name in values else line)
        extra = {
            **values,
            "ARAGORA_IMAGE": IMAGE,
            "ARAGORA_ENV_FILE": str(self.env_file),
            "ARAGORA_DEBATE_EXECUTION": execution,
            "ARAGORA_DEMO_LATENCY_MS": "200",
            "WORKER_REPLICAS": "1",
            "ARAGORA_HEALTHCHECK_INTERVAL": "3s",
            "ARAGORA_CPUS": str(min(4, os.cpu_count() or 1)),
            "NGINX_BIND": "127.0.0.1",
            "NGINX_HTTP_PORT": str(self.ports["http"]),
            "NGINX_HTTPS_PORT": str(self.ports["https"]),
            "NGINX_OPS_PORT": str(self.ports["ops"]),
            "NGINX_CERTS_DIR": str(certs),
            "BACKUP_HOST_DIR": str(self.backups),
            "BACKUP_INTERVAL": "3600",
            "PROMETHEUS_PORT": str(free_port()),
            "ALERTMANAGER_PORT": str(free_port()),
            "GRAFANA_PORT": str(free_port()),
            "JAEGER_UI_PORT": str(free_port()),
        }
        lines += ["", "# deploy test"] + [f"{k}={v}" for k, v in extra.items()]
        self.env_file.write_text("\n".join(lines) + "\n")
        self.environ = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT,
                        "ARAGORA_ENV_FILE": str(self.env_file)}

    def __call__(self, *args, profiles=("workers",), **kw):
        prof = [a for p in profiles for a in ("--profile", p)]
        return run([*self.cmd, "-f", self.file, "--env-file", self.env_file, "-p", PROJECT,
                    *prof, *args], env=self.environ, **kw)

    def containers(self, service):
        out = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
                     "--filter", f"label=com.docker.compose.service={service}",
                     quiet=True).stdout.split()
        return out

    def wait_healthy(self, service, count, seconds=180):
        for _ in deadline_loop(seconds, f"{count} healthy {service} container(s)"):
            ids = self.containers(service)
            if len(ids) == count:
                states = [docker("inspect", "-f", "{{.State.Health.Status}}", i, quiet=True)
                          .stdout.strip() for i in ids]
                if all(s == "healthy" for s in states):
                    return ids

    def down(self, volumes=False):
        self("down", *(["-v"] if volumes else []), "--remove-orphans", "-t", "45",
             profiles=("workers", "monitoring", "backup"), check_rc=False)


def step_compose(repo, tmp, standins_ready):
    standins_ready()
    c = Compose(repo, tmp)
    c.write_env()
    cleanups.append(("compose", c))
    log(f"compose command: {' '.join(c.cmd)}; project {PROJECT}")

    # `config` of every profile, the five at once (docker-compose 1.29 takes seconds to start).
    checks = []
    for profiles in ((), ("workers",), ("monitoring",), ("backup",),
                     ("workers", "monitoring", "backup")):
        prof = [a for p in profiles for a in ("--profile", p)]
        checks.append((profiles, subprocess.Popen(
            [*c.cmd, "-f", str(c.file), "--env-file", str(c.env_file), "-p", PROJECT, *prof,
             "config", "-q"], env=c.environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)))
    for profiles, p in checks:
        out, _ = p.communicate(timeout=300)
        check(p.returncode == 0, f"docker compose config valid with profiles "
                                 f"{list(profiles) or 'none'}" + ("" if p.returncode == 0 else
                                                                 f": {out[-2000:]}"))

    t = time.monotonic()
    c("up", "-d", "--scale", "aragora=2", capture=False, timeout=600)
    c.wait_healthy("aragora", 2)
    https = f"https://127.0.0.1:{c.ports['https']}"
    wait_ready(https)
    check(len(c.containers("debate-worker")) == 1, "one debate-worker running (WORKER_REPLICAS=1)")
    check(True, "up: 2 api replicas + worker + PostgreSQL + Redis + nginx, all healthy")
    ops_status = http("GET", f"http://127.0.0.1:{c.ports['ops']}/healthz", token=None)[0]
    check(ops_status == 200, "the runbook's `curl http://localhost:8080/healthz` port (nginx, loopback)")
    redirect = http("GET", f"http://127.0.0.1:{c.ports['http']}/nginx-health", token=None)[0]
    check(redirect == 200, ":80 /nginx-health 200")
    # The runbook's diagnosis commands, as written (container names from the project name).
    c("logs", "aragora", "--tail", "5", profiles=(), quiet=True)
    docker("exec", f"{PROJECT}-postgres", "pg_isready", "-U", "aragora", "-d", "aragora",
           quiet=True)
    pong = docker("exec", f"{PROJECT}-redis", "redis-cli", "-a", c.values["REDIS_PASSWORD"],
                  "--no-auth-warning", "ping", quiet=True).stdout.strip()
    check(pong == "PONG", "runbook diagnosis: `logs aragora --tail`, `docker exec "
                          "<project>-postgres pg_isready`, `<project>-redis redis-cli ping`")

    debate = create_debate(https, "Does the compose stack work end to end?", rounds=2)
    events = ws_watch("127.0.0.1", c.ports["https"], f"/ws?debate_id={debate}")
    timings["compose up to first debate completed"] = time.monotonic() - t
    live = events[events.index("replay_end") + 1:] if "replay_end" in events else []
    check("debate_end" in live and len(live) > 3,
          f"debate {debate} streamed over WebSocket through nginx (TLS): "
          f"{len(live)} live events after the replay, {', '.join(dict.fromkeys(live))}")
    done = wait_terminal(https, debate)
    check(done["status"] == "completed", "it completed")
    worker_logs = "".join(docker("logs", i, quiet=True).stderr + docker("logs", i, quiet=True)
                          .stdout for i in c.containers("debate-worker"))
    api_logs = "".join(docker("logs", i, quiet=True).stderr + docker("logs", i, quiet=True)
                       .stdout for i in c.containers("aragora"))
    check(f"debate_start debate_id={debate}" in worker_logs and
          f"debate_start debate_id={debate}" not in api_logs,
          "it ran on the worker (debate_start in the worker's log, not the API's)")
    check(verify_receipt(https, done["receipt_id"]), "its receipt verifies through nginx")
    logs_dir = docker("exec", c.containers("aragora")[0], "ls", "/var/log/aragora",
                      quiet=True).stdout.split()
    check("api.log" in logs_dir, f"JSON log files for promtail in the aragora-logs volume "
                                 f"({', '.join(logs_dir)})")
    c.wait_healthy("nginx", 1)
    check(True, "nginx's healthcheck (/nginx-health) reports healthy")

    # The backup profile: its loop's first `aragora backup create` (pg_dump of a snapshot,
    # verified, every receipt re-checked) lands in BACKUP_HOST_DIR.
    c("up", "-d", "--no-deps", "backup", profiles=("workers", "backup"), capture=False)
    manifest = c.backups / "manifest.json"
    for _ in deadline_loop(180, "the backup profile's first verified backup"):
        if manifest.exists():
            entries = json.loads(manifest.read_text()).get("backups", {})
            if isinstance(entries, dict):
                entries = list(entries.values())
            if any(isinstance(e, dict) and e.get("status") == "verified" for e in entries):
                break
    dumps = sorted(p.name for p in c.backups.iterdir() if p.name.endswith(".dump.gz"))
    check(bool(dumps), f"backup profile: a verified PostgreSQL backup in BACKUP_HOST_DIR "
                       f"({dumps[0] if dumps else 'none'})")
    t_stop = time.monotonic()
    c("rm", "-s", "-f", "-v", "backup", profiles=("backup",))
    check(time.monotonic() - t_stop < 30, "the backup loop stops on SIGTERM (no kill after the grace)")

    c("up", "-d", "--scale", "aragora=3", capture=False, timeout=600)
    ids = c.wait_healthy("aragora", 3)
    c("exec", "-T", "nginx", "nginx", "-s", "reload", profiles=())
    for i in ids:
        docker("exec", i, "curl", "-sf", "http://127.0.0.1:8080/readyz", quiet=True)
    check(True, "--scale aragora=3: three replicas healthy and ready; nginx reloaded")
    second = create_debate(https, "A second debate after scaling")
    check(wait_terminal(https, second)["status"] == "completed", "a debate after scaling completed")

    before = all_receipts(https)
    check(len(before) >= 2, f"{len(before)} receipts before down")
    c("down", "-t", "45", profiles=("workers",), capture=False)
    t2 = time.monotonic()
    c("up", "-d", "--scale", "aragora=2", capture=False, timeout=600)
    c.wait_healthy("aragora", 2)
    wait_ready(https)
    timings["compose up again to ready (existing volumes)"] = time.monotonic() - t2
    after = all_receipts(https)
    check(after == before, f"down/up kept every receipt ({len(after)})")
    check(all(verify_receipt(https, r) for r in after), "and every one still verifies")


def cleanup():
    for kind, what in reversed(cleanups):
        try:
            if kind == "container":
                docker("rm", "-f", "-v", what, check_rc=False, quiet=True)
            elif kind == "volume":
                docker("volume", "rm", "-f", what, check_rc=False, quiet=True)
            elif kind == "compose":
                what.down(volumes=True)
        except Exception as e:  # keep cleaning
            log(f"cleanup of {kind} {what}: {e}")
    # Anything of this run's project the above missed.
    for kind, flt in (("container", f"label=com.docker.compose.project={PROJECT}"),):
        left = docker("ps", "-aq", "--filter", flt, check_rc=False, quiet=True).stdout.split()
        if left:
            docker("rm", "-f", "-v", *left, check_rc=False, quiet=True)
    for v in docker("volume", "ls", "-q", "--filter", f"name={PROJECT}", check_rc=False,
                    quiet=True).stdout.split():
        docker("volume", "rm", "-f", v, check_rc=False, quiet=True)
    for n in docker("network", "ls", "-q", "--filter", f"name={PROJECT}", check_rc=False,
                    quiet=True).stdout.split():
        docker("network", "rm", n, check_rc=False, quiet=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default=".")
    ap.add_argument("--binary", default="build/src/cli/aragora")
    ap.add_argument("--console", default="",
                    help="the built console (default: the binary's build tree's web/)")
    ap.add_argument("--source-build", action="store_true")
    ap.add_argument("--skip", action="append", default=[], choices=["container", "compose"])
    args = ap.parse_args()
    repo = pathlib.Path(args.repo).resolve()
    binary = (repo / args.binary) if not os.path.isabs(args.binary) else pathlib.Path(args.binary)
    # build/src/cli/aragora -> build/web
    console = (pathlib.Path(args.console).resolve() if args.console
               else binary.resolve().parents[2] / "web")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    start = time.monotonic()
    ok = False
    with tempfile.TemporaryDirectory(prefix="aragora-deploytest-") as tmp:
        try:
            step_base_image(repo)
            # The stand-ins build while the image is built and tested.
            standins_ready = (ensure_standins(repo, build_env())
                              if "compose" not in args.skip else None)
            step_build_image(repo, binary, args.source_build, console)
            step_image_config()
            if "container" not in args.skip:
                step_container()
            if "compose" not in args.skip:
                step_compose(repo, pathlib.Path(tmp), standins_ready)
            ok = True
        except (Failure, subprocess.TimeoutExpired) as e:
            log(f"FAILED: {e}")
        except Exception as e:  # a bug of the test itself: still clean up and fail
            log(f"FAILED (test error): {type(e).__name__}: {e}")
        except KeyboardInterrupt:
            log("interrupted")
        finally:
            cleanup()
    timings["whole test-deploy"] = time.monotonic() - start
    for k, v in timings.items():
        print(f"  {k}: {v:.1f}" + ("" if k.endswith("MB") else " s"))
    print("test-deploy: " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
