#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time (the CTest command of tests/fuzz):
#   run_fuzz.sh <fuzzer> <seed-corpus-dir> <work-dir> <seconds> [libFuzzer flags...]
# New inputs go to <work-dir>/corpus (fresh each run), never into the seed directory,
# which libFuzzer only reads; crash, timeout and OOM inputs go to <work-dir>/artifacts/.
# ARAGORA_FUZZ_SECONDS overrides <seconds>.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=${ARAGORA_FUZZ_SECONDS:-$4}
shift 4

rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

status=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds" || status=$?
if [[ $status -ne 0 ]]; then
    echo "run_fuzz: $(basename "$fuzzer") failed (exit $status); inputs in $work/artifacts/:" >&2
    ls -l "$work/artifacts/" >&2 || true
    echo "run_fuzz: reproduce with: $fuzzer <input>; keep it as a seed (tests/fuzz/README.md)" >&2
fi
exit $status
