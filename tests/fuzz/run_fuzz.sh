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
asan=halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1
ubsan=halt_on_error=1:abort_on_error=1:print_stacktrace=1

report() {
    echo "run_fuzz: $(basename "$fuzzer") failed (exit $1); inputs in $work/artifacts/:" >&2
    ls -l "$work/artifacts/" >&2 || true
    echo "run_fuzz: reproduce with: $fuzzer <input>; keep it as a seed (tests/fuzz/README.md)" >&2
}

case "$mode" in
    gate) ;;
    explore)
        export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-$ubsan}
        status=0
        "$fuzzer" -max_total_time="${ARAGORA_FUZZ_SECONDS:-$amount}" -rss_limit_mb=2048 \
            -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
            "$work/corpus" "$seeds" || status=$?
        [[ $status -eq 0 ]] || report $status
        exit $status
        ;;
    *)
        echo "run_fuzz: unknown mode '$mode' (gate or explore)" >&2
        exit 2
        ;;
esac

# The gate. libFuzzer's next input depends on the coverage of the previous ones, so the
# run is the same every time only if nothing but the seeds and -seed decides:
#  - the seeds as a list in name order (-seed_inputs), not as a directory, which
#    libFuzzer would read in the file system's order;
#  - -use_cmp=0 -use_memmem=0: no mutations from the operands of recent comparisons
#    (pointers among them); -reload=0: nothing read back from disk on a timer;
#  - the same addresses: some code's branches depend on them (a Boost.JSON object of
#    more than 18 members salts its key hashes with its table's address), so address
#    randomization is off (setarch -R), and the process starts with the same strings on
#    its stack and in its heap wherever the tree is and whoever runs it: a fixed
#    environment, and the program, the work directory, the seeds and the dictionary named
#    by paths relative to the fuzzer's directory (the work directory is
#    <that>/run/<target>-gate; seeds and dictionary are copied into it).
if find "$seeds" -maxdepth 1 -type f -name '*,*' | grep -q .; then
    echo "run_fuzz: a seed name in $seeds holds a comma (-seed_inputs splits on it)" >&2
    exit 2
fi
dir=$(dirname "$fuzzer")
rel=$(realpath --relative-to="$dir" "$work")
rm -rf "$work/seeds"
mkdir -p "$work/seeds"
cp "$seeds"/* "$work/seeds/"
(cd "$work/seeds" && find . -maxdepth 1 -type f -printf "$rel/seeds/%P\n" | LC_ALL=C sort |
    paste -sd, >../seeds.txt)
flags=()
for flag in "$@"; do
    case "$flag" in
        -dict=*)
            cp "${flag#-dict=}" "$work/dict"
            flags+=("-dict=$rel/dict")
            ;;
        *) flags+=("$flag") ;;
    esac
done
runner=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
    runner=(setarch "$(uname -m)" -R)
else
    echo "run_fuzz: cannot turn address randomization off (setarch -R);" \
        "the gate's inputs may differ between runs" >&2
fi
status=0
(cd "$dir" && env -i PATH=/usr/bin:/bin ASAN_OPTIONS="$asan" UBSAN_OPTIONS="$ubsan" \
    "${runner[@]}" "./$(basename "$fuzzer")" -seed=1 -runs="${ARAGORA_FUZZ_RUNS:-$amount}" \
    -seed_inputs=@"$rel/seeds.txt" -use_cmp=0 -use_memmem=0 -reload=0 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$rel/artifacts/" "${flags[@]}" \
    "$rel/corpus") || status=$?
[[ $status -eq 0 ]] || report $status
exit $status
