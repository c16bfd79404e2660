#!/usr/bin/env bash
# deploy/systemd's units checked by systemd itself: `systemd-analyze verify` on each unit as
# `make install` lays it out. verify refuses a unit whose ExecStart binary does not exist, and
# /opt/aragora is not installed on a test machine, so the test installs a release into a
# temporary prefix (`make install PREFIX=<tmp>/opt/aragora`, the real install step) and
# verifies copies of the installed units with /opt/aragora replaced by that prefix: the
# ExecStart path verified is the one `current` points at, exactly as on a server. Any
# warning systemd prints (unknown key, bad value) fails the test, not only its exit code.
# Then the settings the runbooks and the binary rely on, read from the units as shipped.
set -euo pipefail
source_dir=${1:?usage: systemd_verify.sh <source dir> <aragora binary>}
binary=${2:?usage: systemd_verify.sh <source dir> <aragora binary>}
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: scripts/install-deps.sh"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/opt/aragora"
make -s -C "$source_dir" install PREFIX="$prefix" VERSION=0.0.0-verify INSTALL_BINARY="$binary" >/dev/null
mkdir "$tmp/units"
failed=0
fail() { echo "FAIL: $*"; failed=1; }
units=("$prefix"/current/share/aragora/systemd/*.service)
[[ ${#units[@]} -eq 2 ]] || fail "expected aragora.service and aragora-worker.service, got ${units[*]}"
for unit in "${units[@]}"; do
    name=$(basename "$unit")
    sed "s#/opt/aragora#$prefix#g" "$unit" > "$tmp/units/$name"
    out=$(cd "$tmp/units" && systemd-analyze verify "$name" 2>&1) || fail "$name: verify exit $?"
    if [[ -z "$out" ]]; then echo "ok: systemd-analyze verify $name"; else fail "$name: $out"; fi
done

# The settings, from the units as shipped (deploy/systemd).
value() { sed -n "s/^$2=//p" "$source_dir/deploy/systemd/$1" | tail -1; }
env_value() { sed -n "s/^Environment=$2=//p" "$source_dir/deploy/systemd/$1" | tail -1; }
for u in aragora.service aragora-worker.service; do
    cmd=serve; [[ $u == aragora-worker.service ]] && cmd=worker
    [[ $(value $u ExecStart) == "/opt/aragora/current/bin/aragora $cmd" ]] || fail "$u ExecStart $(value $u ExecStart)"
    [[ $(value $u Type) == notify ]] || fail "$u Type is not notify"
    [[ -n $(value $u WatchdogSec) ]] || fail "$u has no WatchdogSec"
    [[ $(value $u EnvironmentFile) == /etc/aragora/aragora.env ]] || fail "$u EnvironmentFile"
    # shellcheck disable=SC2016 # $MAINPID is systemd's, literal here
    [[ $(value $u ExecReload) == '/bin/kill -HUP $MAINPID' ]] || fail "$u ExecReload is not SIGHUP"
    [[ $(value $u NoNewPrivileges) == yes ]] || fail "$u NoNewPrivileges"
    [[ $(value $u ProtectSystem) == strict ]] || fail "$u ProtectSystem"
    [[ $(value $u ReadWritePaths) == "/var/lib/aragora /var/log/aragora" ]] || fail "$u ReadWritePaths"
    [[ $(env_value $u ARAGORA_DATA_DIR) == /var/lib/aragora ]] || fail "$u ARAGORA_DATA_DIR"
    [[ $(env_value $u ARAGORA_LOG_DIR) == /var/log/aragora* ]] || fail "$u ARAGORA_LOG_DIR"
    grace=$(env_value $u ARAGORA_SHUTDOWN_GRACE_SECONDS)
    stop=$(value $u TimeoutStopSec)
    [[ -n "$grace" && -n "$stop" && $stop -gt $grace ]] ||
        fail "$u TimeoutStopSec ($stop) must exceed the drain ARAGORA_SHUTDOWN_GRACE_SECONDS ($grace)"
done
# The runbook greps /var/log/aragora/api.log: serve's log files are there.
[[ $(env_value aragora.service ARAGORA_LOG_DIR) == /var/log/aragora ]] || fail "serve logs outside /var/log/aragora"
[[ $failed -eq 0 ]] && echo "systemd units: verified and consistent"
exit $failed
