#!/usr/bin/env bash
# emergency_recovery.sh: the operational runbook's "Complete Service Outage" procedure for a
# systemd install (deploy/systemd), made safe. What it does, in order (each command printed
# before it runs; --dry-run prints them and changes nothing):
#
#   1. Stop aragora and aragora-worker: `systemctl stop` (SIGTERM, the drain: running debates
#      are given ARAGORA_SHUTDOWN_GRACE_SECONDS, the rest cancelled and stored). A unit still
#      active afterwards gets `systemctl kill --signal=SIGKILL`: only that unit's processes,
#      never a `pkill -f aragora` that would hit anything with "aragora" in its command line.
#   2. State. Nothing is deleted by default. The runbook's `redis-cli FLUSHALL` would wipe
#      every database of that Redis, and `rm /var/lib/aragora/*.db` (its "corrupted cache")
#      is the debate and receipt database itself: neither is done here. There are no lock
#      files to remove: the database lock is an flock(2), released by the kernel when the
#      process dies. --flush-rate-limits deletes only the rate-limit counters in Redis (keys
#      aragora:ratelimit:*, a cache that refills within a minute).
#   3. Dependencies: `redis-cli ping` (when ARAGORA_REDIS_URL is configured) and
#      `pg_isready` (when DATABASE_URL is); a failing one is restarted with systemctl
#      (restarting keeps its data).
#   4. Start with safe defaults: a runtime drop-in
#      /run/systemd/system/aragora.service.d/50-emergency.conf sets
#      ARAGORA_MAX_CONCURRENT_DEBATES=3 and ARAGORA_RATE_LIMIT_DISABLED=1 (gone at reboot;
#      `--clear-safe-mode` removes it and restarts with the normal settings), then starts
#      aragora (and the worker when it was running).
#   5. Verify: health_check.sh until OK or --wait seconds.
#
# Usage: emergency_recovery.sh [--dry-run] [--yes] [--flush-rate-limits] [--wait 60]
#        emergency_recovery.sh --clear-safe-mode [--dry-run]
# Overridable: SYSTEMCTL, ARAGORA_ENV_FILE (/etc/aragora/aragora.env), ARAGORA_DROPIN_DIR
# (/run/systemd/system), ARAGORA_URL (http://localhost:8080), REDIS_SERVICE (redis-server),
# POSTGRES_SERVICE (postgresql).
set -euo pipefail

dry_run=0 yes=0 flush_rate_limits=0 clear=0 wait_s=60
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) dry_run=1; shift ;;
        --yes|-y) yes=1; shift ;;
        --flush-rate-limits) flush_rate_limits=1; shift ;;
        --clear-safe-mode) clear=1; shift ;;
        --wait) wait_s="$2"; shift 2 ;;
        -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
        *) echo "emergency_recovery: unknown argument $1" >&2; exit 2 ;;
    esac
done
systemctl_cmd="${SYSTEMCTL:-systemctl}"
env_file="${ARAGORA_ENV_FILE:-/etc/aragora/aragora.env}"
dropin_dir="${ARAGORA_DROPIN_DIR:-/run/systemd/system}/aragora.service.d"
dropin="$dropin_dir/50-emergency.conf"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { echo "emergency_recovery: $*"; }
run() {
    echo "+ $*"
    [[ $dry_run -eq 1 ]] || "$@"
}
setting() {  # a KEY's value in the environment file (KEY=VALUE lines, optional quotes)
    [[ -r "$env_file" ]] || return 0
    sed -n "s/^[[:space:]]*$1=[\"']\{0,1\}\([^\"']*\)[\"']\{0,1\}[[:space:]]*$/\1/p" "$env_file" | tail -1
}
active() { "$systemctl_cmd" is-active --quiet "$1" 2>/dev/null; }
wait_healthy() {
    [[ $dry_run -eq 1 ]] && { echo "+ $here/health_check.sh (until OK, at most ${wait_s} s)"; return 0; }
    local deadline=$((SECONDS + wait_s))
    until "$here/health_check.sh" --quiet; do
        if [[ $SECONDS -ge $deadline ]]; then
            "$here/health_check.sh" || true
            say "not healthy within ${wait_s} s: journalctl -u aragora -n 50; aragora doctor"
            return 1
        fi
        sleep 2
    done
    "$here/health_check.sh"
}

if [[ $clear -eq 1 ]]; then
    say "leaving safe mode: removing $dropin and restarting aragora with its normal settings"
    if [[ -e "$dropin" ]]; then run rm -f "$dropin"; else say "no $dropin: not in safe mode"; fi
    run "$systemctl_cmd" daemon-reload
    run "$systemctl_cmd" restart aragora
    wait_healthy
    exit $?
fi

if [[ $dry_run -eq 0 && $yes -eq 0 ]]; then
    read -r -p "Stop aragora, check Redis/PostgreSQL and restart in safe mode? [y/N] " answer
    [[ "$answer" == [yY]* ]] || { say "nothing done"; exit 1; }
fi

say "1/5 stopping aragora (graceful drain)"
worker_was_active=0
if active aragora-worker; then worker_was_active=1; fi
run "$systemctl_cmd" stop aragora-worker aragora || true
for unit in aragora aragora-worker; do
    if [[ $dry_run -eq 0 ]] && active "$unit"; then
        say "$unit still active after stop: SIGKILL to its own processes only"
        run "$systemctl_cmd" kill --signal=SIGKILL "$unit"
    fi
done

say "2/5 state: nothing deleted (no lock files exist to clear; data and Redis kept)"
redis_url=$(setting ARAGORA_REDIS_URL)
if [[ $flush_rate_limits -eq 1 ]]; then
    if [[ -n "$redis_url" ]]; then
        say "deleting the rate-limit counters (aragora:ratelimit:*) in Redis, nothing else"
        if [[ $dry_run -eq 1 ]]; then
            echo "+ redis-cli -u <ARAGORA_REDIS_URL> --scan --pattern 'aragora:ratelimit:*' | xargs redis-cli UNLINK"
        else
            redis-cli -u "$redis_url" --scan --pattern 'aragora:ratelimit:*' |
                xargs -r -n 100 redis-cli -u "$redis_url" UNLINK >/dev/null
        fi
    else
        say "no ARAGORA_REDIS_URL in $env_file: rate limits are in memory, already reset"
    fi
fi

say "3/5 dependencies"
if [[ -n "$redis_url" ]]; then
    if [[ $dry_run -eq 1 ]]; then
        echo "+ redis-cli -u <ARAGORA_REDIS_URL> ping || $systemctl_cmd restart ${REDIS_SERVICE:-redis-server}"
    elif ! redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
        say "Redis does not answer: restarting ${REDIS_SERVICE:-redis-server}"
        run "$systemctl_cmd" restart "${REDIS_SERVICE:-redis-server}"
    else
        say "Redis answers"
    fi
else
    say "Redis not configured (no ARAGORA_REDIS_URL in $env_file)"
fi
database_url=$(setting DATABASE_URL)
[[ -n "$database_url" ]] || database_url=$(setting ARAGORA_POSTGRES_DSN)
if [[ -n "$database_url" ]]; then
    if [[ $dry_run -eq 1 ]]; then
        echo "+ pg_isready -d <DATABASE_URL> || $systemctl_cmd restart ${POSTGRES_SERVICE:-postgresql}"
    elif ! pg_isready -q -d "$database_url"; then
        say "PostgreSQL does not answer: restarting ${POSTGRES_SERVICE:-postgresql}"
        run "$systemctl_cmd" restart "${POSTGRES_SERVICE:-postgresql}"
    else
        say "PostgreSQL answers"
    fi
else
    say "PostgreSQL not configured (SQLite under ARAGORA_DATA_DIR)"
fi

say "4/5 starting in safe mode ($dropin: 3 debates at once, rate limits off)"
run mkdir -p "$dropin_dir"
if [[ $dry_run -eq 1 ]]; then
    echo "+ write $dropin"
else
    printf '%s\n' "# emergency_recovery.sh $(date -u +%Y-%m-%dT%H:%M:%SZ); remove with --clear-safe-mode" \
        "[Service]" "Environment=ARAGORA_MAX_CONCURRENT_DEBATES=3" \
        "Environment=ARAGORA_RATE_LIMIT_DISABLED=1" > "$dropin"
fi
run "$systemctl_cmd" daemon-reload
run "$systemctl_cmd" start aragora
if [[ $worker_was_active -eq 1 ]]; then run "$systemctl_cmd" start aragora-worker; fi

say "5/5 verifying"
wait_healthy
say "recovered in safe mode; when stable: $0 --clear-safe-mode"
