#!/usr/bin/env python3
"""A stand-in for `systemctl` that the deploy/scripts tests put in SYSTEMCTL: it runs the
aragora unit the way deploy/systemd/aragora.service does, without systemd (the test
machine's systemd is not ours to use). The unit's ExecStart is FAKE_EXEC_START (a
<prefix>/current/bin/aragora serve command line), its environment the test's plus the
Environment= lines of every drop-in in $ARAGORA_DROPIN_DIR/aragora.service.d/*.conf (as
systemd merges them). Type=notify is honoured: `start` binds a NOTIFY_SOCKET and returns
once READY=1 arrives (60 s at most, TimeoutStartSec's role); `stop` sends SIGTERM and waits
45 s (TimeoutStopSec) before SIGKILL. Other units (aragora-worker, redis-server, postgresql)
are inactive and their start/stop/restart are recorded and ignored.

Commands: start|stop|restart <unit>..., is-active [--quiet] <unit>, daemon-reload,
kill --signal=SIGKILL <unit>. State (pid files, the call log) in FAKE_SYSTEMD_DIR."""
import glob
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

state = os.environ["FAKE_SYSTEMD_DIR"]
pidfile = os.path.join(state, "aragora.pid")


def log(*args):
    with open(os.path.join(state, "calls.log"), "a") as f:
        f.write(" ".join(args) + "\n")


def pid():
    try:
        p = int(open(pidfile).read())
        os.kill(p, 0)
        with open(f"/proc/{p}/stat") as f:
            if f.read().split(")")[1].split()[0] == "Z":
                return None
        return p
    except (OSError, ValueError):
        return None


def unit_env():
    env = dict(os.environ)
    for k in ("SYSTEMCTL", "FAKE_EXEC_START", "FAKE_SYSTEMD_DIR"):
        env.pop(k, None)
    dropins = os.path.join(os.environ.get("ARAGORA_DROPIN_DIR", "/nonexistent"),
                           "aragora.service.d")
    for conf in sorted(glob.glob(os.path.join(dropins, "*.conf"))):
        for line in open(conf):
            if line.startswith("Environment="):
                k, _, v = line.strip()[len("Environment="):].partition("=")
                env[k] = v
    return env


def start():
    if pid():
        return 0
    env = unit_env()
    sock_path = os.path.join(state, "notify.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env["NOTIFY_SOCKET"] = sock_path
    out = open(os.path.join(state, "aragora.log"), "a")
    p = subprocess.Popen(shlex.split(os.environ["FAKE_EXEC_START"]), env=env,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         start_new_session=True)
    open(pidfile, "w").write(str(p.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            if "READY=1" in sock.recv(4096).decode().split("\n"):
                return 0
        except socket.timeout:
            break
        if p.poll() is not None:
            break
    print("fake systemctl: aragora did not send READY=1", file=sys.stderr)
    return 1


def stop():
    p = pid()
    if not p:
        return 0
    os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and pid():
        time.sleep(0.05)
    if pid():
        os.kill(p, signal.SIGKILL)
    return 0


def main(argv):
    log(*argv)
    args = [a for a in argv if not a.startswith("--")]
    cmd, units = args[0], args[1:]
    if cmd == "daemon-reload":
        return 0
    if cmd == "is-active":
        return 0 if "aragora" in units and pid() else 3
    if cmd == "kill":
        p = pid()
        if "aragora" in units and p:
            os.kill(p, signal.SIGKILL)
        return 0
    rc = 0
    if "aragora" in units:
        if cmd in ("stop", "restart"):
            rc |= stop()
        if cmd in ("start", "restart"):
            rc |= start()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
