#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another, and prints a
# summary line per target. Usage: fuzz/run-all.sh [SECONDS] [extra cargo-fuzz build options]
# e.g. `fuzz/run-all.sh 600` or `fuzz/run-all.sh 60 --sanitizer none`.
#
# The committed seeds (fuzz/corpus/<target>) are read, never written: new inputs go to
# fuzz/target/corpus/<target> (ignored by git), crashes to fuzz/artifacts/<target>.
# Logs: fuzz/target/logs/<target>.log. Exits non-zero when any target found a crash.
# TARGETS="a b" limits the run to those targets (e.g. to run two lanes side by side).
set -u
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
TARGETS="${TARGETS:-$(cargo fuzz list)}"
mkdir -p fuzz/target/logs
cargo fuzz build "$@" || exit 2
failed=0
for t in $TARGETS; do
    mkdir -p "fuzz/target/corpus/$t" "fuzz/corpus/$t"
    log="fuzz/target/logs/$t.log"
    if cargo fuzz run "$@" "$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
    corp=$(echo "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' | sed 's/corp: //')
    printf '%-18s %-6s execs=%s exec/s=%s cov=%s ft=%s corpus=%s\n' \
        "$t" "$status" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
done
exit $failed
