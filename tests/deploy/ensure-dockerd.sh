#!/usr/bin/env bash
# Exit 0 when a Docker engine answers (starting dockerd when it is installed but not
# running, as root), 1 with one line saying why not. Used by `make test` (skip test-deploy
# when there is no engine) and `make test-deploy`.
set -uo pipefail
quiet=0
[[ "${1:-}" == "--quiet" ]] && quiet=1
say() { [[ $quiet -eq 1 ]] || echo "ensure-dockerd: $*"; }

command -v docker >/dev/null || { echo "no docker client (scripts/install-deps.sh --docker)"; exit 1; }
docker info >/dev/null 2>&1 && exit 0
command -v dockerd >/dev/null || { echo "no Docker engine installed (scripts/install-deps.sh --docker)"; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "the Docker engine is not running and starting it needs root"; exit 1; }
log=${TMPDIR:-/tmp}/aragora-dockerd.log
say "starting dockerd (log: $log); it keeps running after the tests"
nohup dockerd >"$log" 2>&1 &
# The engine answers within a few seconds; give up after 60.
if timeout 60 bash -c 'until docker info >/dev/null 2>&1; do sleep 0.5; done'; then
    say "dockerd is up"
    exit 0
fi
echo "dockerd did not start within 60 s: $(tail -1 "$log" 2>/dev/null)"
exit 1
