#!/usr/bin/env bash
# Runs one cargo-fuzz target of tests/fuzz for a fixed time.
#
#   scripts/fuzz.sh TARGET SECONDS      TARGET: frame | record_batch
#
# cargo-fuzz builds with -Zsanitizer=address, which needs a nightly toolchain; the script
# installs cargo-fuzz if missing and stops with a clear message if nightly is missing.
# New inputs go to tests/fuzz/work/corpus/TARGET (ignored by git), so the checked-in seeds in
# tests/fuzz/corpus/TARGET stay small; crashes land in tests/fuzz/artifacts/TARGET and should
# become unit tests (then `cargo test --test fuzz_corpus` replays the seeds on stable).
set -euo pipefail

usage="usage: $0 frame|record_batch SECONDS"
target=${1:?$usage}
seconds=${2:?$usage}
case "$target" in
    frame | record_batch) ;;
    *)
        echo "unknown target '$target'; $usage" >&2
        exit 2
        ;;
esac
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "SECONDS must be a positive integer; $usage" >&2
    exit 2
fi

cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "cargo fuzz needs a nightly Rust toolchain (it builds with -Zsanitizer=address)," >&2
    echo "and none is installed. Install one with: rustup toolchain install nightly" >&2
    exit 3
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

work="tests/fuzz/work/corpus/$target"
mkdir -p "$work"
# The first corpus directory receives new inputs; the seeds are read only.
exec cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "$work" "tests/fuzz/corpus/$target" \
    -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
