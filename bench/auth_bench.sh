#!/usr/bin/env bash
# The per-request cost of the auth + rate-limit middleware of `aragora serve`: wrk against
# one cheap authenticated GET (default /api/v1/agents/circuit-breakers: kUser, kRead, no
# database) on a server with no credentials and no rate limit (the baseline), and on
# servers that must authenticate every request. Requests/s, latency p50/p99 and server CPU
# per request, each as a ratio to the baseline measured in the same run (STYLE.md):
# numbers to compare, never pass/fail.
#
#   a      open: no credential configured, ARAGORA_RATE_LIMIT_DISABLED=1 (baseline)
#   a+rl   open, rate limit on (the per-IP counter alone; auth is skipped in open mode)
#   b      service token: ARAGORA_API_TOKEN, wrk sends Authorization: Bearer <token>
#   c      JWT: ARAGORA_JWT_SECRET, an HS256 access token minted here with openssl
#   d      API key: a user added with `aragora users add`, a key made through
#          POST /api/v1/auth/login then POST /api/v1/auth/api-keys (cached lookups)
# b, c and d run with the rate limit on (per IP and per principal) at a limit that counts
# every request but never refuses one.
#
# Usage: bench/auth_bench.sh [BUILD_DIR]        (default: build-release; make bench-auth)
# Env:   ARAGORA_BIN (default BUILD_DIR/src/cli/aragora), ROUTE=/api/v1/agents/circuit-breakers,
#        WRK_THREADS=2 WRK_CONNECTIONS=32 WRK_DURATION=10s WRK_WARMUP=2s, REPEATS=3,
#        IO_THREADS=2 (ARAGORA_IO_THREADS of every server), RATE_LIMIT=10000000 (req/min per
#        IP, the largest accepted), USER_RPM=10000000 (per principal; 0 = off, the serve default).
# Needs wrk, curl, openssl (scripts/install-deps.sh --bench). Each run is a fresh server on
# a free 127.0.0.1 port (--api-port 0) with a clean environment and its data under one temp
# dir; the EXIT trap stops every process this script started (by pid) and removes that dir.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${1:-$here/../build-release}
aragora=$(realpath -m "${ARAGORA_BIN:-$build_dir/src/cli/aragora}")
route=${ROUTE:-/api/v1/agents/circuit-breakers}
wrk_threads=${WRK_THREADS:-2}
wrk_connections=${WRK_CONNECTIONS:-32}
wrk_duration=${WRK_DURATION:-10s}
wrk_warmup=${WRK_WARMUP:-2s}
repeats=${REPEATS:-3}
io_threads=${IO_THREADS:-2}
rate_limit=${RATE_LIMIT:-10000000}
user_rpm=${USER_RPM:-10000000}

for tool in wrk curl openssl timeout; do
    command -v "$tool" >/dev/null || {
        echo "auth_bench: $tool not found; run scripts/install-deps.sh --bench" >&2
        exit 2
    }
done
[[ -x "$aragora" ]] || {
    echo "auth_bench: $aragora not built; run make bench-auth" >&2
    exit 2
}

# wrk's duration ("10s", "1m", "500ms" is not accepted by wrk either) in whole seconds, for
# the timeouts around it.
seconds_of() {
    case $1 in
        *m) echo $((${1%m} * 60)) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}
wrk_secs=$(seconds_of "$wrk_duration")
warmup_secs=$(seconds_of "$wrk_warmup")
[[ "$wrk_secs" =~ ^[0-9]+$ && "$warmup_secs" =~ ^[0-9]+$ ]] || {
    echo "auth_bench: WRK_DURATION/WRK_WARMUP must be like 10s or 1m" >&2
    exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aragora-auth-bench.XXXXXX")
pids=()

untrack() {
    local keep=() p
    for p in "${pids[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
    pids=("${keep[@]}")
}

cleanup() {
    local p i
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- credentials --------------------------------------------------------------------------
service_token=$(openssl rand -hex 24)
jwt_secret=$(openssl rand -hex 24) # 48 bytes (production wants 32+)
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
jwt_header=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
jwt_payload=$(printf '{"sub":"usr_bench","role":"admin","typ":"access","iat":%d,"exp":%d}' \
    "$now" $((now + 3600)) | b64url)
jwt_sig=$(printf '%s' "$jwt_header.$jwt_payload" |
    openssl dgst -sha256 -mac HMAC -macopt "key:$jwt_secret" -binary | b64url)
jwt="$jwt_header.$jwt_payload.$jwt_sig"
api_key="" # made by setup_api_key

# The environment of configuration $1 (one VAR=value per line).
config_env() {
    local limits=(ARAGORA_RATE_LIMIT="$rate_limit" ARAGORA_RATE_LIMIT_USER_RPM="$user_rpm")
    case $1 in
        a) printf '%s\n' ARAGORA_RATE_LIMIT_DISABLED=1 ;;
        a+rl) printf '%s\n' "${limits[@]}" ;;
        b) printf '%s\n' "${limits[@]}" ARAGORA_API_TOKEN="$service_token" ;;
        c | d) printf '%s\n' "${limits[@]}" ARAGORA_JWT_SECRET="$jwt_secret" ;;
    esac
}

# The bearer credential wrk sends for configuration $1 ("" for none).
credential_of() {
    case $1 in
        b) echo "$service_token" ;;
        c) echo "$jwt" ;;
        d) echo "$api_key" ;;
        *) echo "" ;;
    esac
}

label_of() {
    case $1 in
        a) echo "a  open, no rate limit (baseline)" ;;
        a+rl) echo "a+rl open, rate limit on" ;;
        b) echo "b  service token + rate limit" ;;
        c) echo "c  JWT (HS256) + rate limit" ;;
        d) echo "d  API key (cached) + rate limit" ;;
    esac
}

# Runs `aragora` with configuration $1's clean environment; the rest is its arguments.
aragora_env() {
    local cfg=$1 vars=()
    shift
    mapfile -t vars < <(config_env "$cfg")
    local run=(env -i PATH="$PATH" HOME="$tmp" ARAGORA_ENV=development
        ARAGORA_DATA_DIR="$tmp/$cfg.data" ARAGORA_LOG_FORMAT=json ARAGORA_LOG_LEVEL=WARNING
        ARAGORA_IO_THREADS="$io_threads" "${vars[@]}" "$aragora" "$@")
    # In the background (start_server) the subshell becomes the server, so that $! is the
    # server's pid: the pid stop_server signals and whose CPU time is read.
    if [[ "${exec_server:-0}" == 1 ]]; then exec "${run[@]}"; fi
    "${run[@]}"
}

# The API port from the INFO "listening api=http://127.0.0.1:<port>" line (stderr) or, at
# WARNING, which hides that line, from the development banner on stdout.
find_port() {
    local err=$1 out=$2 line
    while IFS= read -r line; do
        [[ "$line" =~ listening\ api=http://127\.0\.0\.1:([0-9]+) ]] && {
            port=${BASH_REMATCH[1]}
            return 0
        }
    done <"$err"
    while IFS= read -r line; do
        [[ "$line" =~ API\ +http://127\.0\.0\.1:([0-9]+)/ ]] && {
            port=${BASH_REMATCH[1]}
            return 0
        }
    done <"$out"
    return 1
}

# Starts a fresh `aragora serve` for configuration $1 (data dir $tmp/$1.data, kept across
# its runs). Sets server_pid and server_port once /readyz answers 200; 30 s at most.
start_server() {
    local cfg=$1 log=$tmp/$1.log i port=""
    mkdir -p "$tmp/$cfg.data"
    : >"$log.out"
    : >"$log.err"
    exec_server=1 aragora_env "$cfg" serve --host 127.0.0.1 --api-port 0 --ws-port 0 --metrics-port 0 \
        >"$log.out" 2>"$log.err" &
    server_pid=$!
    pids+=("$server_pid")
    for ((i = 0; i < 300; i++)); do
        [[ -n "$port" ]] || find_port "$log.err" "$log.out" || port=""
        if [[ -n "$port" ]] && [[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$port/readyz" || true) == 200 ]]; then
            server_port=$port
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "auth_bench: aragora ($cfg) did not become ready in 30 s; its stderr:" >&2
    tail -n 20 "$log.err" >&2
    exit 1
}

# SIGTERM, then SIGKILL after 10 s; complains unless it exits 0.
stop_server() {
    local pid=$1 rc=0 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    untrack "$pid"
    ((rc == 0)) || echo "   note: pid $pid exited $rc after SIGTERM (expected 0)"
}

# The user and the API key of configuration d: `aragora users add` on d's data dir before
# any server, then a server (with the JWT secret) for login and key creation.
setup_api_key() {
    local body token
    mkdir -p "$tmp/d.data"
    aragora_env d users add bench@example.com --role admin --password benchpass1 \
        >"$tmp/users-add.out" 2>&1 || {
        echo "auth_bench: aragora users add failed:" >&2
        cat "$tmp/users-add.out" >&2
        exit 1
    }
    start_server d
    body=$(curl -s -m 10 -X POST "http://127.0.0.1:$server_port/api/v1/auth/login" \
        -H 'Content-Type: application/json' \
        -d '{"email":"bench@example.com","password":"benchpass1"}')
    [[ "$body" =~ \"access_token\":\ *\"([^\"]+)\" ]] || {
        echo "auth_bench: login answered: $body" >&2
        exit 1
    }
    token=${BASH_REMATCH[1]}
    body=$(curl -s -m 10 -X POST "http://127.0.0.1:$server_port/api/v1/auth/api-keys" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"name":"auth-bench"}')
    [[ "$body" =~ \"key\":\ *\"(ara_[A-Za-z0-9]+)\" ]] || {
        echo "auth_bench: POST /api/v1/auth/api-keys answered: $body" >&2
        exit 1
    }
    api_key=${BASH_REMATCH[1]}
    stop_server "$server_pid"
}

# Before timing: the credential is accepted (200), a missing one is refused (401) when the
# configuration has credentials, and X-RateLimit-* headers appear iff the limit is on.
check_server() {
    local cfg=$1 url=$2 cred want_anon code anon headers
    cred=$(credential_of "$cfg")
    want_anon=401
    [[ "$cfg" == a || "$cfg" == a+rl ]] && want_anon=200
    if [[ -n "$cred" ]]; then
        code=$(curl -s -m 5 -o /dev/null -D "$tmp/headers" -w '%{http_code}' \
            -H "Authorization: Bearer $cred" "$url")
    else
        code=$(curl -s -m 5 -o /dev/null -D "$tmp/headers" -w '%{http_code}' "$url")
    fi
    anon=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url")
    headers=$(tr -d '\r' <"$tmp/headers")
    if [[ "$code" != 200 || "$anon" != "$want_anon" ]]; then
        echo "auth_bench: $cfg: GET $route answered $code with its credential and $anon" \
            "without (expected 200 and $want_anon)" >&2
        exit 1
    fi
    local has_rl=0
    if grep -qi '^x-ratelimit-limit:' <<<"$headers"; then has_rl=1; fi
    if [[ "$cfg" == a && $has_rl == 1 ]] || [[ "$cfg" != a && $has_rl == 0 ]]; then
        echo "auth_bench: $cfg: X-RateLimit-Limit header present=$has_rl, not as configured" >&2
        exit 1
    fi
}

# utime + stime of $1 in clock ticks.
cpu_ticks() {
    local stat rest f
    read -r stat <"/proc/$1/stat"
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}
clk_tck=$(getconf CLK_TCK)

# One run of configuration $1: fresh server, checks, warm-up, timed wrk, stop. Appends
# "rps p50_ms p99_ms srv_us_per_req non2xx errors" to $tmp/$1.runs.
run_one() {
    local cfg=$1 url cred hdr=() t0 t1 out=$tmp/wrk.out
    start_server "$cfg"
    url="http://127.0.0.1:$server_port$route"
    check_server "$cfg" "$url"
    cred=$(credential_of "$cfg")
    [[ -z "$cred" ]] || hdr=(-H "Authorization: Bearer $cred")
    timeout -k 5 $((warmup_secs + 30)) wrk -t"$wrk_threads" -c"$wrk_connections" \
        -d"$wrk_warmup" "${hdr[@]}" "$url" >/dev/null
    t0=$(cpu_ticks "$server_pid")
    timeout -k 5 $((wrk_secs + 30)) wrk -t"$wrk_threads" -c"$wrk_connections" \
        -d"$wrk_duration" --latency "${hdr[@]}" "$url" >"$out"
    t1=$(cpu_ticks "$server_pid")
    stop_server "$server_pid"
    awk -v ticks=$((t1 - t0)) -v hz="$clk_tck" '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        / requests in / { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
        END {
            cpu = (n > 0) ? ticks / hz / n * 1e6 : 0
            printf "%s %s %s %.3f %d %d\n", rps, p50, p99, cpu, bad, errs
        }
    ' "$out" >>"$tmp/$cfg.runs"
}

median() { # numbers on stdin -> median
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print 0; exit }
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

configs=(a a+rl b c d)
cores=$(nproc)
echo "Aragora auth + rate-limit middleware benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $cores cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr)," \
    "load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "aragora: $aragora ($("$aragora" --version 2>&1 | head -n 1))"
echo "wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
echo "wrk and every server share these $cores cores (and so does anything else running on the"
echo "machine): the server gets what wrk leaves. Compare ratios, not absolutes."

setup_api_key

echo
echo "== GET $route: wrk -t$wrk_threads -c$wrk_connections -d$wrk_duration --latency after a" \
    "$wrk_warmup warm-up, keep-alive"
echo "   every run a fresh aragora serve (ARAGORA_ENV=development, ARAGORA_LOG_LEVEL=WARNING: no"
echo "   access log, ARAGORA_IO_THREADS=$io_threads); configurations interleaved" \
    "(${configs[*]}) x $repeats, median of $repeats."
echo "   rate limit on = ARAGORA_RATE_LIMIT=$rate_limit/min per IP and" \
    "ARAGORA_RATE_LIMIT_USER_RPM=$user_rpm per principal:"
echo "   every request is counted, none refused."
for ((rep = 1; rep <= repeats; rep++)); do
    for cfg in "${configs[@]}"; do
        run_one "$cfg"
        read -r rps _ <<<"$(tail -n 1 "$tmp/$cfg.runs")"
        printf '   run %d/%d %-5s %9.0f req/s\n' "$rep" "$repeats" "$cfg" "$rps"
    done
done

echo
printf '   %-36s %9s %8s %8s %8s %8s %8s %8s %9s %s\n' configuration "req/s" "p50 ms" "p99 ms" \
    "srv us" "x req/s" "x p50" "x p99" "x srv us" "non-2xx/errors"
base=""
for cfg in "${configs[@]}"; do
    runs=$tmp/$cfg.runs
    rps=$(awk '{print $1}' "$runs" | median)
    p50=$(awk '{print $2}' "$runs" | median)
    p99=$(awk '{print $3}' "$runs" | median)
    cpu=$(awk '{print $4}' "$runs" | median)
    bad=$(awk '{s += $5} END {print s + 0}' "$runs")
    errs=$(awk '{s += $6} END {print s + 0}' "$runs")
    spread=$(awk '{print $1}' "$runs" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f-%.0f", lo, hi}')
    [[ -n "$base" ]] || base="$rps $p50 $p99 $cpu"
    read -r brps bp50 bp99 bcpu <<<"$base"
    awk -v l="$(label_of "$cfg")" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v br="$brps" \
        -v ba="$bp50" -v bb="$bp99" -v bc="$bcpu" -v bad="$bad" -v errs="$errs" -v sp="$spread" 'BEGIN {
        printf "   %-36s %9.0f %8.3f %8.3f %8.2f %8.3f %8.2f %8.2f %9.2f %d/%d  (req/s %s)\n", l, r, a, b, c,
            (br > 0 ? r / br : 0), (ba > 0 ? a / ba : 0), (bb > 0 ? b / bb : 0),
            (bc > 0 ? c / bc : 0), bad, errs, sp }'
done
awk -v br="${base%% *}" 'BEGIN { printf "   baseline: %.2f us of machine time per request (1/req/s)\n", 1e6 / br }'
for cfg in a+rl b c d; do
    rps=$(awk '{print $1}' "$tmp/$cfg.runs" | median)
    awk -v l="$cfg" -v r="$rps" -v br="${base%% *}" 'BEGIN {
        printf "   %-5s adds %+.2f us of machine time per request (1/req/s - 1/req/s of a)\n", l,
            1e6 / r - 1e6 / br }'
done
echo "   x = configuration / a, medians of this run (x req/s < 1: slower; x p50, x p99, x srv us > 1:"
echo "   costlier). srv us = the server's CPU time (utime + stime, /proc) over the timed run divided"
echo "   by the requests wrk completed; (req/s lo-hi) = the spread of the $repeats runs. non-2xx/errors"
echo "   should read 0/0."
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($cores cores)"
