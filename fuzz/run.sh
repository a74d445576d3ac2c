#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz (libFuzzer, nightly Rust), each for
# SECONDS, on the stored corpus (fuzz/corpus/TARGET, where new finds go) and
# the seeds from the repository's files (fuzz/seed.py).
#
#   fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Environment: FUZZ_SANITIZER (address, the default; none builds faster, as
# CI does), FUZZ_JOBS (parallel jobs per target; libFuzzer then writes its
# output to fuzz-N.log files).
# Limits per input: 10 s, 2 GiB RSS under AddressSanitizer (its shadow
# memory doubles what hvxform uses; hvxform's own limit is 1 GiB, see book:
# Limits and robustness), inputs up to 1 MiB.
# A failure leaves the input in fuzz/artifacts/TARGET/ and exits non-zero;
# copy it to fuzz/regressions/TARGET/ once fixed.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(mapping input scan vmx xl hyperv session escape)
san=${FUZZ_SANITIZER:-address}
rss=2048
[[ $san == none ]] && rss=1024
python3 fuzz/seed.py

cargo +nightly fuzz build -O -s "$san"
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "=== fuzz $t (${secs}s, sanitizer $san)"
    cargo +nightly fuzz run -O -s "$san" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb="$rss" -max_len=1048576 \
        -dict="fuzz/dict/$t.dict" ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS} \
        -print_final_stats=1 2>&1 | grep -E "^(#[0-9]+\s+(DONE|INITED)|stat::|==[0-9]+==|SUMMARY|Done|artifact_prefix|Test unit written)" || true
    # libFuzzer's exit status is lost in the pipe: a written test unit is a failure.
    if compgen -G "fuzz/artifacts/$t/*" > /dev/null; then
        echo "fuzz $t: failure inputs in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
