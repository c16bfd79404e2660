#!/usr/bin/env python3
"""deploy/scripts run against a real `aragora serve`.

  scripts_test.py <source dir> <aragora binary>

health_check.sh: OK (0) against a running serve, CRITICAL (2) once it is stopped.
rollback.sh and emergency_recovery.sh run with SYSTEMCTL=fake_systemctl.py, which runs the
unit as deploy/systemd/aragora.service would (ExecStart from <prefix>/current, drop-ins,
READY=1 awaited; see that file): two releases installed with `make install`,
  - rollback.sh --dry-run changes nothing; rollback.sh moves current to the previous release
    and the restarted server runs that binary, its debates intact;
  - emergency_recovery.sh --dry-run changes nothing (same process, no drop-in);
    emergency_recovery.sh --yes restarts in safe mode (the new process has
    ARAGORA_MAX_CONCURRENT_DEBATES=3) and deletes nothing: every debate is still there and
    every receipt verifies; --clear-safe-mode goes back to the normal settings.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aragora_proc import Aragora, base_env  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(argv, env, expect=0):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    print(f"$ {' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv))}"
          f"  -> {r.returncode}\n{r.stdout}{r.stderr}", end="")
    assert r.returncode == expect, f"exit {r.returncode}, want {expect}"
    return r.stdout


def environ_of(pid):
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return dict(e.decode().partition("=")[::2] for e in raw if e)


def main(source, binary):
    scripts = os.path.join(source, "deploy", "scripts")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        env = base_env(data)

        # health_check.sh against a live serve, then against nothing.
        serve = Aragora.serve(binary, env)
        try:
            serve.wait_ready()
            check_env = dict(env, ARAGORA_URL=f"http://127.0.0.1:{serve.port}")
            out = sh([f"{scripts}/health_check.sh"], check_env, 0)
            assert out.startswith("OK:"), out
            assert serve.stop() == 0
            out = sh([f"{scripts}/health_check.sh", "--timeout", "2"], check_env, 2)
            assert out.startswith("CRITICAL:"), out
        finally:
            serve.kill()

        prefix = os.path.join(tmp, "opt", "aragora")
        for version in ("0.7.0", "0.8.0"):
            subprocess.run(["make", "-s", "-C", source, "install", f"PREFIX={prefix}",
                            f"VERSION={version}", f"INSTALL_BINARY={binary}"], check=True,
                           capture_output=True, timeout=300)
        port = free_port()
        state = os.path.join(tmp, "systemd")
        os.makedirs(state)
        unit_env = dict(env, SYSTEMCTL=os.path.join(HERE, "fake_systemctl.py"),
                        FAKE_SYSTEMD_DIR=state, ARAGORA_DROPIN_DIR=os.path.join(tmp, "run"),
                        ARAGORA_ENV_FILE=os.path.join(tmp, "aragora.env"),
                        ARAGORA_URL=f"http://127.0.0.1:{port}",
                        FAKE_EXEC_START=f"{prefix}/current/bin/aragora serve --host 127.0.0.1 "
                                        f"--api-port {port} --ws-port 0 --metrics-port 0")
        systemctl = unit_env["SYSTEMCTL"]
        pid = lambda: int(open(os.path.join(state, "aragora.pid")).read())  # noqa: E731
        exe = lambda: os.path.realpath(f"/proc/{pid()}/exe")  # noqa: E731
        client = Aragora.__new__(Aragora)
        client.port = port
        try:
            sh([systemctl, "start", "aragora"], unit_env)
            assert exe() == f"{prefix}/releases/v0.8.0/bin/aragora", exe()
            debates = [client.run_debate("scripts test: before the rollback")]

            before = pid()
            sh([f"{scripts}/rollback.sh", "--prefix", prefix, "--dry-run"], unit_env)
            assert os.readlink(f"{prefix}/current") == "releases/v0.8.0" and pid() == before
            sh([f"{scripts}/rollback.sh", "--prefix", prefix, "--wait", "60"], unit_env)
            assert os.readlink(f"{prefix}/current") == "releases/v0.7.0"
            assert exe() == f"{prefix}/releases/v0.7.0/bin/aragora", exe()
            assert sorted(os.listdir(f"{prefix}/releases")) == ["v0.7.0", "v0.8.0"]
            debates.append(client.run_debate("scripts test: after the rollback"))

            before = pid()
            out = sh([f"{scripts}/emergency_recovery.sh", "--dry-run"], unit_env)
            assert "+ " in out and pid() == before
            assert not os.path.exists(os.path.join(tmp, "run")), "dry run wrote a drop-in"

            sh([f"{scripts}/emergency_recovery.sh", "--yes", "--wait", "60"], unit_env)
            assert pid() != before
            assert environ_of(pid()).get("ARAGORA_MAX_CONCURRENT_DEBATES") == "3"
            for d in debates:
                status, body = client.http("GET", f"/api/v1/debates/{d}")
                assert status == 200 and body["status"] == "completed", (d, status, body)
            debates.append(client.run_debate("scripts test: in safe mode"))

            sh([f"{scripts}/emergency_recovery.sh", "--clear-safe-mode", "--wait", "60"], unit_env)
            assert "ARAGORA_MAX_CONCURRENT_DEBATES" not in environ_of(pid())
            sh([systemctl, "stop", "aragora"], unit_env)

            chain = subprocess.run([f"{prefix}/current/bin/aragora", "receipt", "verify-chain",
                                    "--json"], env=env, capture_output=True, text=True,
                                   timeout=120)
            assert chain.returncode == 0, chain.stdout + chain.stderr
            print("verify-chain:", chain.stdout.strip()[:300])
            assert json.loads(chain.stdout)["verified"] == len(debates), chain.stdout
            print(f"scripts: health_check, rollback, emergency_recovery ok; {len(debates)} "
                  "debates kept, receipts verify")
        finally:
            subprocess.run([systemctl, "kill", "--signal=SIGKILL", "aragora"], env=unit_env)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
