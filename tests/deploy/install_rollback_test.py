#!/usr/bin/env python3
"""`make install` twice into a temporary prefix, then the operational runbook's rollback
("Recovery Procedures / 2. Rollback Deployment") followed line by line.

  install_rollback_test.py <source dir> <aragora binary> [<operational-runbook.md>]

1. `make install PREFIX=<tmp>/opt/aragora VERSION=0.7.0`: releases/v0.7.0, current -> it.
   serve started as the unit starts it (<prefix>/current/bin/aragora serve), two debates.
2. `make install ... VERSION=0.8.0`: releases/v0.8.0 beside v0.7.0, current -> v0.8.0;
   "systemctl restart" (below), one more debate on v0.8.0.
3. The runbook's block, with /opt/aragora replaced by the prefix, localhost:8080 by the
   test server's port, and `systemctl restart aragora` played by the test: SIGTERM to the
   running serve (what systemd sends; KillMode=mixed), wait for its exit 0, then start
   <prefix>/current/bin/aragora serve (the unit's ExecStart). systemd itself is not run:
   the test machine's is not ours to use. Every other line runs in bash as written.
4. The process now runs releases/v0.7.0's binary (/proc/<pid>/exe), v0.8.0 is still
   installed, all three debates are listed completed, and `aragora receipt verify-chain`
   (v0.7.0's) verifies every receipt and link.
The block is kept here; when the runbook is at hand the test first checks it is the same.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aragora_proc import Aragora, base_env  # noqa: E402

RUNBOOK_BLOCK = """\
# List available versions
ls -la /opt/aragora/releases/

# Rollback to previous version
cd /opt/aragora
rm current
ln -s releases/v0.7.0 current
systemctl restart aragora

# Verify rollback
curl http://localhost:8080/api/health | jq '.version'
"""


def runbook_block(path):
    text = open(path, encoding="utf-8").read()
    section = text.split("### 2. Rollback Deployment", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def make_install(source, binary, prefix, version):
    out = subprocess.run(["make", "-s", "-C", source, "install", f"PREFIX={prefix}",
                          f"VERSION={version}", f"INSTALL_BINARY={binary}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    print(out.stdout, end="")


def exe_of(proc):
    return os.path.realpath(f"/proc/{proc.proc.pid}/exe")


def main(source, binary, runbook=None):
    if runbook and os.path.exists(runbook):
        assert runbook_block(runbook) == RUNBOOK_BLOCK, "the runbook's rollback block changed"
        print("runbook block: identical to the one followed here")
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "opt", "aragora")
        env = base_env(os.path.join(tmp, "var", "lib", "aragora"))
        started = []

        def start():
            s = Aragora.serve(os.path.join(prefix, "current", "bin", "aragora"), env)
            started.append(s)
            s.wait_ready()
            return s

        try:
            make_install(source, binary, prefix, "0.7.0")
            assert os.readlink(os.path.join(prefix, "current")) == "releases/v0.7.0"
            serve = start()
            assert exe_of(serve) == os.path.join(prefix, "releases/v0.7.0/bin/aragora")
            debates = [serve.run_debate("Rollback test: first on v0.7.0"),
                       serve.run_debate("Rollback test: second on v0.7.0")]

            make_install(source, binary, prefix, "0.8.0")
            assert os.readlink(os.path.join(prefix, "current")) == "releases/v0.8.0"
            assert sorted(os.listdir(os.path.join(prefix, "releases"))) == ["v0.7.0", "v0.8.0"]
            assert serve.stop() == 0
            serve = start()
            assert exe_of(serve) == os.path.join(prefix, "releases/v0.8.0/bin/aragora")
            debates.append(serve.run_debate("Rollback test: on v0.8.0"))

            # The runbook, line by line.
            shell = []
            for line in RUNBOOK_BLOCK.splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                if line == "systemctl restart aragora":
                    subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(shell)],
                                   check=True, timeout=60)
                    shell = [f"cd {prefix}"] if any(s.startswith("cd ") for s in shell) else []
                    print("$ systemctl restart aragora   (played: SIGTERM, exit, ExecStart)")
                    assert serve.stop() == 0
                    serve = start()
                    continue
                line = line.replace("/opt/aragora", prefix)
                line = line.replace("localhost:8080", f"127.0.0.1:{serve.port}")
                print("$ " + line)
                shell.append(line)
            out = subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(shell)],
                                 capture_output=True, text=True, check=True, timeout=60)
            print(out.stdout, end="")
            assert out.stdout.strip() not in ("", "null"), "no version in /api/health"

            assert os.readlink(os.path.join(prefix, "current")) == "releases/v0.7.0"
            assert exe_of(serve) == os.path.join(prefix, "releases/v0.7.0/bin/aragora"), \
                exe_of(serve)
            assert os.path.isfile(os.path.join(prefix, "releases/v0.8.0/bin/aragora"))
            for d in debates:
                status, body = serve.http("GET", f"/api/v1/debates/{d}")
                assert status == 200 and body["status"] == "completed", (d, status, body)
            assert serve.stop() == 0

            chain = subprocess.run([os.path.join(prefix, "current", "bin", "aragora"), "receipt",
                                    "verify-chain", "--json"], env=env, capture_output=True,
                                   text=True, timeout=120)
            assert chain.returncode == 0, chain.stdout + chain.stderr
            report = json.loads(chain.stdout)
            print("verify-chain:", json.dumps(report)[:300])
            counted = report.get("receipts", report.get("receipts_checked", report.get("count")))
            assert counted == len(debates), f"{counted} receipts verified, {len(debates)} debates"
            print(f"rollback: v0.8.0 -> v0.7.0 runs, {len(debates)} receipts verify, "
                  "both releases kept")
        finally:
            for s in started:
                s.kill()


if __name__ == "__main__":
    main(*sys.argv[1:4])
