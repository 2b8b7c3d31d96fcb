#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for SECONDS each, starting from the
# committed seed corpus (fuzz/corpus/<target>/); new inputs go to a scratch corpus, crashes to
# fuzz/artifacts/<target>/. Prints the executions per target and exits 1 on any finding.
# A finding is fixed, and its input committed to fuzz/regressions/<target>/, which
# tests/fuzz_replay.rs replays under plain `cargo test`.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 60 s, every target)
# Needs: the nightly toolchain (`rustup toolchain list`) and `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz.sh: cargo install cargo-fuzz --locked" >&2; exit 1; }
rustup toolchain list | grep -q nightly || { echo "fuzz.sh: needs a nightly toolchain" >&2; exit 1; }
mapfile -t TARGETS < <(if (($#)); then printf '%s\n' "$@"; else cargo +nightly fuzz list; fi)
cargo +nightly fuzz build >/dev/null
scratch=$(mktemp -d /tmp/llmload-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
total=0
failed=0
printf '%-10s %14s %8s  %s\n' target executions seconds result
for t in "${TARGETS[@]}"; do
    mkdir -p "$scratch/$t"
    log="$scratch/$t.log"
    if cargo +nightly fuzz run "$t" "$scratch/$t" "fuzz/corpus/$t" -- -max_total_time="$SECONDS_EACH" \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="FINDING (see fuzz/artifacts/$t/)"
        failed=1
        tail -n 30 "$log" >&2
    fi
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    total=$((total + runs))
    printf '%-10s %14s %8s  %s\n' "$t" "$runs" "$SECONDS_EACH" "$result"
done
printf '%-10s %14s\n' total "$total"
exit "$failed"
