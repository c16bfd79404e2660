#!/usr/bin/env bash
# health_check.sh: the operational runbook's health check, for cron, a load balancer or a
# monitoring agent (Nagios-style exit codes). Read-only: it only sends GET requests.
#
#   0 OK        /healthz 200, /readyz 200, /api/health "healthy" with database "ok"
#   1 WARNING   up but degraded: not ready (starting, draining), status not healthy, or a
#               failing check (database, redis) named in the message
#   2 CRITICAL  the server does not answer (/api/health unreachable)
#
# Usage: health_check.sh [--url http://localhost:8080] [--timeout 5] [--quiet]
#   ARAGORA_URL sets the default URL. Needs curl and jq.
set -euo pipefail

url="${ARAGORA_URL:-http://localhost:8080}"
timeout=5
quiet=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --url) url="$2"; shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        --quiet) quiet=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "health_check: unknown argument $1" >&2; exit 3 ;;
    esac
done
url="${url%/}"

report() {  # <exit code> <message>
    [[ $quiet -eq 1 ]] || echo "$2"
    exit "$1"
}
status_of() {  # HTTP status of GET <path>, 000 when nothing answers
    curl -s -o /dev/null -w '%{http_code}' --max-time "$timeout" "$url$1" || true
}

if ! health=$(curl -sf --max-time "$timeout" "$url/api/health" 2>/dev/null); then
    # 503 with a body still means the process answers: degraded, not down.
    code=$(status_of /api/health)
    [[ "$code" == 000 ]] && report 2 "CRITICAL: Health endpoint unreachable ($url/api/health)"
    health=$(curl -s --max-time "$timeout" "$url/api/health" || true)
fi

status=$(jq -r '.status // "unknown"' <<<"$health" 2>/dev/null || echo unparsable)
db=$(jq -r '.checks.database.status // "unknown"' <<<"$health" 2>/dev/null || echo unknown)
redis=$(jq -r '.checks.redis.status // "unknown"' <<<"$health" 2>/dev/null || echo unknown)
version=$(jq -r '.version // "?"' <<<"$health" 2>/dev/null || echo "?")
live=$(status_of /healthz)
ready=$(status_of /readyz)

[[ "$live" == 200 ]] || report 2 "CRITICAL: /healthz answers $live"
[[ "$db" == ok ]] || report 1 "WARNING: Database check failed (database: $db)"
[[ "$status" == healthy ]] || report 1 "WARNING: Service degraded - $status (database: $db, redis: $redis)"
[[ "$ready" == 200 ]] || report 1 "WARNING: not ready (/readyz $ready): starting or draining"
report 0 "OK: All checks passed (version $version, redis: $redis)"
