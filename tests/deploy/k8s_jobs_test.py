#!/usr/bin/env python3
"""The commands of deploy/kubernetes's backup CronJobs, run as the pod runs them
(`/bin/sh -c <args[0]>`, `aragora` on PATH, the ConfigMap's BACKUP_DIR) against the built
binary and a data dir holding a completed debate. SQLite here, PostgreSQL in the cluster:
the commands are the same.

  k8s_jobs_test.py <deploy/kubernetes> <aragora binary>

The pods' ConfigMap + Secret pass `aragora doctor`'s settings and secrets checks; backup
job: exit 0 and one verified backup; verification job: exit 0 on it, non-zero once the
backup file is corrupted, non-zero with no backup at all."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aragora_proc import Aragora, base_env  # noqa: E402


def job_script(path):
    cron = yaml.safe_load(open(path))
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"], container["command"]
    return container["args"][0]


def run_job(name, script, env, expect_ok):
    r = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True,
                       timeout=300)
    print(f"--- {name}: exit {r.returncode}\n{r.stdout}{r.stderr}", end="")
    assert (r.returncode == 0) == expect_ok, f"{name}: exit {r.returncode}"


def check_pod_settings(k8s_dir, binary):
    """The pods' environment (configmap.yaml + secret.yaml with its REPLACE_ME filled in)
    passes `aragora doctor`'s settings and secrets checks in production mode: every value
    parses and the combination is one the binary accepts. (The database and Redis named
    there do not resolve here; those checks are not read.)"""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(yaml.safe_load(open(os.path.join(k8s_dir, "configmap.yaml")))["data"])
    for k, v in yaml.safe_load(open(os.path.join(k8s_dir, "secret.yaml")))["stringData"].items():
        env[k] = v.replace("REPLACE_ME", os.urandom(32).hex())
    with tempfile.TemporaryDirectory() as tmp:
        env["ARAGORA_DATA_DIR"] = tmp
        env["BACKUP_DIR"] = os.path.join(tmp, "backups")
        r = subprocess.run([binary, "doctor", "--json"], env=env, capture_output=True, text=True,
                           timeout=120)
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    for name in ("settings", "secrets"):
        assert checks[name]["status"] == "ok", checks[name]
        print(f"pod settings: doctor {name}: {checks[name]['detail']}")


def main(k8s_dir, binary):
    check_pod_settings(k8s_dir, binary)
    backup = job_script(os.path.join(k8s_dir, "backup-cronjob.yaml"))
    verify = job_script(os.path.join(k8s_dir, "backup-verification-cronjob.yaml"))
    config = yaml.safe_load(open(os.path.join(k8s_dir, "configmap.yaml")))["data"]
    with tempfile.TemporaryDirectory() as tmp:
        env = base_env(os.path.join(tmp, "data"))
        serve = Aragora.serve(binary, env)
        try:
            serve.wait_ready()
            serve.run_debate("Kubernetes backup job test")
            assert serve.stop() == 0
        finally:
            serve.kill()
        os.makedirs(os.path.join(tmp, "bin"))
        os.symlink(binary, os.path.join(tmp, "bin", "aragora"))
        backups = os.path.join(tmp, "backups")  # the PVC, mounted at BACKUP_DIR
        env = dict(env, PATH=os.path.join(tmp, "bin") + ":" + env.get("PATH", "/usr/bin:/bin"),
                   BACKUP_DIR=backups, BACKUP_RETENTION_DAYS=config["BACKUP_RETENTION_DAYS"])
        assert config["BACKUP_DIR"] == "/backups"

        run_job("verification, no backups yet", verify, env, expect_ok=False)
        run_job("aragora-backup", backup, env, expect_ok=True)
        files = [f for f in os.listdir(backups) if f.endswith(".db.gz")]
        assert len(files) == 1, os.listdir(backups)
        run_job("aragora-backup-verification", verify, env, expect_ok=True)

        path = os.path.join(backups, files[0])
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(path, "wb").write(bytes(data))
        run_job("verification, corrupted backup", verify, env, expect_ok=False)
        print("k8s jobs: backup + verification commands work; a corrupted backup fails the job")


if __name__ == "__main__":
    main(sys.argv[1], os.path.abspath(sys.argv[2]))
