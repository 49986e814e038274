#!/usr/bin/env bash
# Fuzzes every decoder, verifier and JSON request body (docs/fuzzing.md).
#
#   scripts/fuzz.sh [seconds-per-target]        (default 60)
#   FUZZ_TARGETS="grant manifest" scripts/fuzz.sh 30
#
# Installs cargo-fuzz if missing, writes the seed corpus (valid objects made
# by the real client code) into fuzz/corpus/, builds every target once with
# `cargo +nightly fuzz build`, runs each for the budget on one core
# (-jobs=1 -workers=1), then minimizes its corpus in place with libFuzzer's
# -merge=1 (what `cargo fuzz cmin` runs). Runs and minimization call the
# binaries that one build made, so every target is fuzzed against the same
# sources even if the tree changes meanwhile (`cargo fuzz run`/`cmin` would
# rebuild first). Logs and the summary table go to fuzz/target/fuzz-logs/.
# Exits non-zero if any target crashed; the reproducer is in
# fuzz/artifacts/<target>/.
set -euo pipefail

SECS="${1:-60}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/fuzz"
LOGS="$FUZZ/target/fuzz-logs"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd "$ROOT"
# Seeds: idempotent (files are named by content hash).
SESPHR_FUZZ_SEEDS="$FUZZ/corpus" cargo test -q -p sesphr-client --test fuzz_corpus write_seed_corpus >/dev/null
SESPHR_FUZZ_SEEDS="$FUZZ/corpus" cargo test -q -p sesphr-relay --test fuzz_corpus write_seed_corpus >/dev/null

cd "$FUZZ"
cargo +nightly fuzz build
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bins="$FUZZ/target/$triple/release"
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"

mkdir -p "$LOGS"
summary="$LOGS/summary.tsv"
printf 'target\tseconds\texecs\texecs_per_s\tcov\tft\tcorpus_files\tcorpus_bytes\tresult\n' >"$summary"
failed=0
for t in $targets; do
    echo "== $t (${SECS}s)"
    work="$LOGS/$t"
    corpus="$FUZZ/corpus/$t"
    rm -rf "$work" && mkdir -p "$work" "$corpus" "$FUZZ/artifacts/$t"
    result=ok
    # With -jobs, libFuzzer writes the run's output to fuzz-0.log in the
    # working directory.
    if ! (cd "$work" && "$bins/$t" "$corpus" -jobs=1 -workers=1 -max_total_time="$SECS" \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$t/" \
        >"$work/driver.log" 2>&1); then
        result=CRASH
        failed=1
    fi
    log="$work/fuzz-0.log"
    [ -f "$log" ] || log="$work/driver.log"
    if grep -q 'ERROR: libFuzzer\|panicked at\|SUMMARY: .*Sanitizer' "$log"; then
        result=CRASH
        failed=1
    fi
    # Minimize in place (cargo fuzz cmin's -merge=1): only inputs that add
    # coverage stay.
    rm -rf "$work/min" && mkdir "$work/min"
    if "$bins/$t" -merge=1 -timeout=10 "$work/min" "$corpus" >"$work/cmin.log" 2>&1 \
        && [ -n "$(ls -A "$work/min")" ]; then
        rm -rf "$corpus" && mv "$work/min" "$corpus"
    else
        result="$result,cmin-failed"
    fi
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    files="$(find "$FUZZ/corpus/$t" -type f | wc -l)"
    bytes="$(find "$FUZZ/corpus/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$SECS" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$result" | tee -a "$summary"
done

echo
column -t -s $'\t' "$summary"
if [ "$failed" != 0 ]; then
    echo "crashes: see fuzz/artifacts/ and $LOGS/<target>/" >&2
    exit 1
fi
