#!/usr/bin/env bash
# Server benchmarks of `aragora serve`, each beside a baseline measured in the same run
# (STYLE.md): numbers to compare, never pass/fail.
#  1. HTTP: wrk against nginx's static 200 (baseline), aragora GET /healthz and GET
#     /api/v1/debates/<id> of a completed debate; requests/s, latency p50/p99, ratios.
#  2. WebSocket fan-out: aragora_ws_fanout, N clients on one debate (baseline N=1).
#  3. Startup: spawn to the first /readyz 200 (baseline: `aragora --version`), idle RSS.
#
# Usage: bench/server_bench.sh [BUILD_DIR]        (default: build-release; make bench-server)
# Env:   ARAGORA_BIN, FANOUT_BIN (default BUILD_DIR/src/cli/aragora, BUILD_DIR/bench/...),
#        WRK_THREADS=2 WRK_CONNECTIONS=32 WRK_DURATION=5s, FANOUT_CLIENTS=1,10,50,100,
#        FANOUT_ROUNDS=12 FANOUT_LATENCY_MS=20, STARTUP_RUNS=10.
# Needs wrk, nginx, curl, python3 (scripts/install-deps.sh --bench). Every server listens on a
# free 127.0.0.1 port, runs with a clean environment and a data dir under one temp dir; the
# EXIT trap stops every process this script started (by pid) and removes that dir.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and printf use "." as the decimal point

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${1:-$here/../build-release}
aragora=$(realpath -m "${ARAGORA_BIN:-$build_dir/src/cli/aragora}")
fanout=$(realpath -m "${FANOUT_BIN:-$build_dir/bench/aragora_ws_fanout}")
wrk_threads=${WRK_THREADS:-2}
wrk_connections=${WRK_CONNECTIONS:-32}
wrk_duration=${WRK_DURATION:-5s}
fanout_clients=${FANOUT_CLIENTS:-1,10,50,100}
fanout_rounds=${FANOUT_ROUNDS:-12}
fanout_latency_ms=${FANOUT_LATENCY_MS:-20}
startup_runs=${STARTUP_RUNS:-10}

for tool in wrk nginx curl python3; do
    command -v "$tool" >/dev/null || {
        echo "server_bench: $tool not found; run scripts/install-deps.sh --bench" >&2
        exit 2
    }
done
for bin in "$aragora" "$fanout"; do
    [[ -x "$bin" ]] || {
        echo "server_bench: $bin not built; run make bench-server" >&2
        exit 2
    }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aragora-server-bench.XXXXXX")
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

# A sleep without forking (startup timing polls with it): a read that times out on a FIFO
# nobody writes to.
mkfifo "$tmp/sleep.fifo"
exec {sleep_fd}<>"$tmp/sleep.fifo"
nap() { read -r -t "$1" -u "$sleep_fd" || true; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# HTTP status of GET 127.0.0.1:$1$2 into $status, with bash builtins only (no fork), so
# that polling does not disturb the start being timed. Returns 1 when nothing answers.
http_status() {
    local fd line
    status=""
    exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&"$fd"
    if read -r -t 5 -u "$fd" line && [[ "$line" =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then
        status=${BASH_REMATCH[1]}
    fi
    exec {fd}>&-
    [[ -n "$status" ]]
}

# The API port from the INFO "listening api=http://127.0.0.1:<port>" log line (stderr), or
# from the development banner on stdout when the log level hides that line.
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

# Starts aragora serve: $1 name (its data dir, logs), $2 log level, $3 demo latency ms,
# $4 data dir (default $tmp/$1.data). Sets server_pid and server_port once /readyz is 200;
# started_us / ready_us bracket spawn to readiness. ARAGORA_CONVERGENCE_THRESHOLD=1 keeps
# the demo debates from stopping early, so a 12-round debate runs its 12 rounds.
start_aragora() {
    local name=$1 level=$2 latency=$3 data=${4:-$tmp/$1.data} deadline port=""
    mkdir -p "$data"
    : >"$tmp/$name.out"
    : >"$tmp/$name.err"
    started_us=${EPOCHREALTIME/./}
    env -i PATH="$PATH" HOME="$tmp" ARAGORA_ENV=development ARAGORA_DATA_DIR="$data" \
        ARAGORA_DEMO_LATENCY_MS="$latency" ARAGORA_LOG_FORMAT=json ARAGORA_LOG_LEVEL="$level" \
        ARAGORA_CONVERGENCE_THRESHOLD=1 \
        "$aragora" serve --host 127.0.0.1 --api-port 0 --ws-port 0 --metrics-port 0 \
        >"$tmp/$name.out" 2>"$tmp/$name.err" &
    server_pid=$!
    pids+=("$server_pid")
    deadline=$((started_us + 30000000))
    while true; do
        if [[ -z "$port" ]]; then
            find_port "$tmp/$name.err" "$tmp/$name.out" || port=""
        fi
        if [[ -n "$port" ]] && http_status "$port" /readyz 2>/dev/null && [[ "$status" == 200 ]]; then
            ready_us=${EPOCHREALTIME/./}
            server_port=$port
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null || ((${EPOCHREALTIME/./} > deadline)); then
            echo "server_bench: aragora ($name) did not become ready; its stderr:" >&2
            tail -n 20 "$tmp/$name.err" >&2
            exit 1
        fi
        nap 0.001
    done
}

# SIGTERM, wait, and complain unless it exits 0.
stop_pid() {
    local rc=0
    kill -TERM "$1"
    wait "$1" || rc=$?
    untrack "$1"
    ((rc == 0)) || echo "  note: pid $1 exited $rc after SIGTERM (expected 0)"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Creates a debate ($2 rounds, 4 demo agents) on port $1 and waits until it completed;
# sets debate_id.
run_debate() {
    local body i
    body=$(curl -sf -X POST "http://127.0.0.1:$1/api/v1/debates" \
        -d "{\"task\": \"Should we adopt a four-day work week?\", \"agents\": [\"demo\", \"demo\", \"demo\", \"demo\"], \"rounds\": $2}")
    [[ "$body" =~ \"debate_id\":\ *\"([A-Za-z0-9_-]+)\" ]] || {
        echo "server_bench: create debate answered: $body" >&2
        exit 1
    }
    debate_id=${BASH_REMATCH[1]}
    for ((i = 0; i < 1200; i++)); do
        body=$(curl -sf "http://127.0.0.1:$1/api/v1/debates/$debate_id")
        [[ "$body" =~ \"status\":\ *\"completed\" ]] && return 0
        [[ "$body" =~ \"status\":\ *\"(failed|cancelled)\" ]] && {
            echo "server_bench: debate $debate_id ${BASH_REMATCH[1]}: $body" >&2
            exit 1
        }
        nap 0.05
    done
    echo "server_bench: debate $debate_id did not complete in 60 s" >&2
    exit 1
}

# wrk with a 1 s warm-up; prints "req/s p50_ms p99_ms non2xx socket_errors".
run_wrk() {
    local url=$1 out=$tmp/wrk.out
    wrk -t"$wrk_threads" -c"$wrk_connections" -d1s "$url" >/dev/null
    wrk -t"$wrk_threads" -c"$wrk_connections" -d"$wrk_duration" --latency "$url" >"$out"
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
        END { printf "%s %s %s %d %d\n", rps, p50, p99, bad, errs }
    ' "$out"
}

median_min() { # numbers on stdin -> "median min"
    sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f\n", m, v[1] }'
}

cores=$(nproc)
echo "Aragora server benchmarks — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $cores cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr)," \
    "load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "aragora: $aragora ($("$aragora" --version 2>&1 | head -n 1))"
echo "nginx:   $(nginx -v 2>&1 | sed 's/^nginx version: //'); wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
echo "Every server and client here (nginx, aragora, wrk, the fan-out client) shares these $cores"
echo "cores, and so does anything else running on the machine: compare ratios, not absolutes."

# ---- 1. HTTP throughput beside nginx ------------------------------------------------------
workers=2
nginx_dir=$tmp/nginx
mkdir -p "$nginx_dir"
nginx_port=$(free_port)
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user $(id -un) $(id -gn);"
sed -e "s|@USER_LINE@|$user_line|" -e "s|@WORKERS@|$workers|" -e "s|@DIR@|$nginx_dir|g" \
    -e "s|@PORT@|$nginx_port|" "$here/nginx.conf.in" >"$nginx_dir/nginx.conf"
nginx -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
for ((i = 0; i < 500; i++)); do
    http_status "$nginx_port" / 2>/dev/null && [[ "$status" == 200 ]] && break
    kill -0 "$nginx_pid" 2>/dev/null || {
        echo "server_bench: nginx did not start:" >&2
        cat "$nginx_dir/error.log" >&2
        exit 1
    }
    nap 0.01
done

start_aragora http-info INFO "$fanout_latency_ms"
info_pid=$server_pid info_port=$server_port
run_debate "$info_port" 3
info_debate=$debate_id
start_aragora http-warn WARNING 0
warn_pid=$server_pid warn_port=$server_port
run_debate "$warn_port" 3
warn_debate=$debate_id
io_threads=$(curl -sf "http://127.0.0.1:$info_port/health/threads" |
    sed -n 's/.*"io_threads": *\([0-9]*\).*/\1/p' || true)

echo
echo "== 1. HTTP: wrk -t$wrk_threads -c$wrk_connections -d$wrk_duration --latency (keep-alive, 1 s warm-up each)"
echo "   nginx: worker_processes $workers, access_log off, return 200 '{\"status\":\"ok\"}' (baseline)."
echo "   aragora: ${io_threads:-?} io threads; INFO writes one JSON access-log line per request to a"
echo "   file (the serve default), WARNING does not (like nginx here). All share the $cores cores with wrk."
printf '   %-44s %9s %8s %8s %8s %8s %8s %s\n' target "req/s" "p50 ms" "p99 ms" "x req/s" "x p50" "x p99" "non-2xx/errors"
targets=(
    "nginx static 200 (baseline)|http://127.0.0.1:$nginx_port/"
    "aragora GET /healthz (INFO)|http://127.0.0.1:$info_port/healthz"
    "aragora GET /api/v1/debates/<id> (INFO)|http://127.0.0.1:$info_port/api/v1/debates/$info_debate"
    "aragora GET /healthz (WARNING)|http://127.0.0.1:$warn_port/healthz"
    "aragora GET /api/v1/debates/<id> (WARNING)|http://127.0.0.1:$warn_port/api/v1/debates/$warn_debate"
)
base=""
for t in "${targets[@]}"; do
    label=${t%%|*} url=${t#*|}
    read -r rps p50 p99 bad errs < <(run_wrk "$url")
    [[ -n "$base" ]] || base="$rps $p50 $p99"
    read -r brps bp50 bp99 <<<"$base"
    awk -v l="$label" -v r="$rps" -v a="$p50" -v b="$p99" -v br="$brps" -v ba="$bp50" \
        -v bb="$bp99" -v bad="$bad" -v errs="$errs" 'BEGIN {
        printf "   %-44s %9.0f %8.3f %8.3f %8.2f %8.2f %8.2f %d/%d\n", l, r, a, b,
            (br > 0 ? r / br : 0), (ba > 0 ? a / ba : 0), (bb > 0 ? b / bb : 0), bad, errs }'
done
echo "   x = aragora / nginx in this run (x req/s < 1: slower; x p50, x p99 > 1: slower)."
echo "   RSS after part 1: aragora INFO $(rss_kb "$info_pid") kB, WARNING $(rss_kb "$warn_pid") kB"
stop_pid "$warn_pid"
stop_pid "$nginx_pid"

# ---- 2. WebSocket fan-out -------------------------------------------------------------------
echo
echo "== 2. WebSocket fan-out (same server: INFO, ARAGORA_DEMO_LATENCY_MS=$fanout_latency_ms," \
    "ARAGORA_CONVERGENCE_THRESHOLD=1)"
fanout_rc=0
"$fanout" --port="$info_port" --clients="$fanout_clients" --rounds="$fanout_rounds" --agents=4 |
    sed 's/^/   /' || fanout_rc=$?
((fanout_rc == 0)) || echo "   note: aragora_ws_fanout exited $fanout_rc (see its rows)"
echo "   RSS of this server after parts 1 and 2: $(rss_kb "$info_pid") kB"
stop_pid "$info_pid"

# ---- 3. Startup and idle memory ---------------------------------------------------------------
echo
echo "== 3. Startup: spawn to the first /readyz 200, $startup_runs runs each (polled every 1 ms"
echo "   with bash builtins); baseline: the \`aragora --version\` process, spawned the same way."
echo "   cold = empty data dir (creates the SQLite file, migrates, writes a dev signing key);"
echo "   warm = the data dir of an earlier start."
start_aragora warm-prep INFO 0 "$tmp/warm.data"
stop_pid "$server_pid"
: >"$tmp/version.us"
: >"$tmp/cold.us"
: >"$tmp/warm.us"
for ((run = 1; run <= startup_runs; run++)); do
    t0=${EPOCHREALTIME/./}
    env -i PATH="$PATH" HOME="$tmp" "$aragora" --version >/dev/null
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$tmp/version.us"
    start_aragora "cold-$run" INFO 0
    echo $((ready_us - started_us)) >>"$tmp/cold.us"
    stop_pid "$server_pid"
    start_aragora "warm-$run" INFO 0 "$tmp/warm.data"
    echo $((ready_us - started_us)) >>"$tmp/warm.us"
    stop_pid "$server_pid"
done
read -r v_med v_min < <(awk '{print $1 / 1000}' "$tmp/version.us" | median_min)
printf '   %-34s median %8.2f ms  min %8.2f ms\n' "aragora --version (baseline)" "$v_med" "$v_min"
for kind in cold warm; do
    read -r med min < <(awk '{print $1 / 1000}' "$tmp/$kind.us" | median_min)
    awk -v l="serve to ready, $kind" -v m="$med" -v n="$min" -v bm="$v_med" -v bn="$v_min" 'BEGIN {
        printf "   %-34s median %8.2f ms  min %8.2f ms  x%.1f / x%.1f the baseline\n", l, m, n,
            (bm > 0 ? m / bm : 0), (bn > 0 ? n / bn : 0) }'
done

start_aragora rss INFO "$fanout_latency_ms"
nap 0.5
rss_ready=$(rss_kb "$server_pid")
run_debate "$server_port" "$fanout_rounds"
nap 0.5
rss_debate=$(rss_kb "$server_pid")
echo "   idle RSS (VmRSS) after ready: $rss_ready kB; after 1 completed debate" \
    "(4 demo agents, $fanout_rounds rounds): $rss_debate kB"
stop_pid "$server_pid"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($cores cores)"
