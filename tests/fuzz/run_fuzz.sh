#!/usr/bin/env bash
# Runs one libFuzzer target (the CTest commands of tests/fuzz, README.md there):
#
#   run_fuzz.sh gate <fuzzer> <seed-corpus-dir> <work-dir> <runs> [libFuzzer flags...]
#       What `make test` runs (`make fuzz-gate`, label fuzz-gate): every committed seed,
#       then inputs mutated from them with the fixed -seed=1 until <runs> inputs ran in
#       all. The same inputs every time, so a commit that passed passes again.
#       ARAGORA_FUZZ_RUNS overrides <runs>.
#   run_fuzz.sh explore <fuzzer> <seed-corpus-dir> <work-dir> <seconds> [libFuzzer flags...]
#       Open-ended (`make fuzz FUZZ_SECONDS=...`, label fuzz-explore): a random seed for
#       <seconds>. What it finds gets fixed or classified, then copied into the seed
#       corpus so that the gate replays it. ARAGORA_FUZZ_SECONDS overrides <seconds>.
#
# New inputs go to <work-dir>/corpus (fresh each run), never into the seed directory,
# which libFuzzer only reads; crash, timeout and OOM inputs go to <work-dir>/artifacts/.
set -euo pipefail
mode=$1 fuzzer=$2 seeds=$3 work=$4 amount=$5
shift 5

rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"
case "$mode" in
    gate)
        # The seeds as a list in name order (-seed_inputs), not as a directory: libFuzzer
        # would take a directory's files in readdir order, which differs between file
        # systems, and the order decides which inputs it mutates.
        if find "$seeds" -maxdepth 1 -type f -name '*,*' | grep -q .; then
            echo "run_fuzz: a seed name in $seeds holds a comma (-seed_inputs splits on it)" >&2
            exit 2
        fi
        find "$seeds" -maxdepth 1 -type f -printf '%p\n' | LC_ALL=C sort | paste -sd, \
            >"$work/seeds.txt"
        # -use_cmp=0 -use_memmem=0: mutations from the operands of recent comparisons
        # include pointers, which differ between runs (ASLR); -reload=0: nothing read back
        # from disk on a timer. What is left depends only on the seeds and -seed.
        budget=(-seed=1 -runs="${ARAGORA_FUZZ_RUNS:-$amount}" -seed_inputs=@"$work/seeds.txt"
            -use_cmp=0 -use_memmem=0 -reload=0)
        corpora=("$work/corpus")
        ;;
    explore)
        budget=(-max_total_time="${ARAGORA_FUZZ_SECONDS:-$amount}")
        corpora=("$work/corpus" "$seeds")
        ;;
    *)
        echo "run_fuzz: unknown mode '$mode' (gate or explore)" >&2
        exit 2
        ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

status=0
"$fuzzer" "${budget[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "${corpora[@]}" || status=$?
if [[ $status -ne 0 ]]; then
    echo "run_fuzz: $(basename "$fuzzer") failed (exit $status); inputs in $work/artifacts/:" >&2
    ls -l "$work/artifacts/" >&2 || true
    echo "run_fuzz: reproduce with: $fuzzer <input>; keep it as a seed (tests/fuzz/README.md)" >&2
fi
exit $status
