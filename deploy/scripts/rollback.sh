#!/usr/bin/env bash
# rollback.sh: the operational runbook's "Rollback Deployment" for a `make install` layout
# (<prefix>/releases/v<version>, <prefix>/current -> releases/<one of them>):
#
#   1. lists the releases;
#   2. points `current` at the previous release (the one before the current in version
#      order, or --to): a new symlink renamed over the old, so `current` always exists;
#   3. restarts aragora (and aragora-worker when it is active): systemctl restart, i.e. a
#      graceful drain of the old binary, then the new one from `current`;
#   4. waits up to --wait seconds for health_check.sh to answer OK.
#
# It never deletes or changes a release; rolling forward again is `rollback.sh --to <newer>`.
# Usage: rollback.sh [--prefix /opt/aragora] [--to v0.7.0] [--no-restart] [--wait 60]
#                    [--dry-run]
#   SYSTEMCTL (default systemctl) and ARAGORA_URL (health check) may be overridden.
set -euo pipefail

prefix=/opt/aragora
to=""
restart=1
wait_s=60
dry_run=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --to) to="$2"; shift 2 ;;
        --no-restart) restart=0; shift ;;
        --wait) wait_s="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "rollback: unknown argument $1" >&2; exit 2 ;;
    esac
done
systemctl_cmd="${SYSTEMCTL:-systemctl}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { echo "rollback: $*"; }
run() {  # prints the command; runs it unless --dry-run
    echo "+ $*"
    [[ $dry_run -eq 1 ]] || "$@"
}

[[ -d "$prefix/releases" ]] || { say "no $prefix/releases: not a make install layout"; exit 1; }
mapfile -t releases < <(find "$prefix/releases" -mindepth 1 -maxdepth 1 -type d -name 'v*' \
                            -printf '%f\n' | sort -V)
say "releases in $prefix/releases: ${releases[*]:-none}"
current=$(readlink "$prefix/current" || true)
current=${current#releases/}
say "current: ${current:-none}"

if [[ -z "$to" ]]; then
    for r in "${releases[@]}"; do
        [[ "$r" == "$current" ]] && break
        to="$r"
    done
    [[ -n "$to" ]] || { say "no release older than ${current:-none} to roll back to"; exit 1; }
fi
to="v${to#v}"
[[ -x "$prefix/releases/$to/bin/aragora" ]] || { say "$prefix/releases/$to/bin/aragora missing"; exit 1; }
[[ "$to" != "$current" ]] || { say "$to is already current"; exit 0; }

say "pointing current at releases/$to (was ${current:-none})"
run ln -sfn "releases/$to" "$prefix/.current.rollback"
run mv -Tf "$prefix/.current.rollback" "$prefix/current"

if [[ $restart -eq 1 ]]; then
    units=(aragora)
    if "$systemctl_cmd" is-active --quiet aragora-worker 2>/dev/null; then units+=(aragora-worker); fi
    say "restarting ${units[*]} (graceful: each drains before the new binary starts)"
    run "$systemctl_cmd" restart "${units[@]}"
    if [[ $dry_run -eq 0 ]]; then
        deadline=$((SECONDS + wait_s))
        until "$here/health_check.sh" --quiet; do
            if [[ $SECONDS -ge $deadline ]]; then
                "$here/health_check.sh" || true
                say "not healthy within $wait_s s after the restart; see journalctl -u aragora"
                exit 1
            fi
            sleep 2
        done
        "$here/health_check.sh"
    fi
fi
say "done: current -> releases/$to"
