#!/usr/bin/env bash
# Runs one libFuzzer target of the sanitizer tree over its committed seed
# corpus for a bounded time, and fails on any crash, sanitizer report, leak,
# timeout or out-of-memory. New inputs go to TREE/fuzz-corpus/TARGET (the
# committed corpus is only read); a crashing input lands in
# TREE/fuzz-artifacts/ and its path is printed.
#
#   run-fuzzer.sh TREE TARGET [SECONDS]
#
# SECONDS defaults to 20, or 600 with DMREMAP_FULL=1 (scripts/test --full);
# DMREMAP_FUZZ_SECONDS overrides both. The last line is the summary the
# reliability report quotes: "fuzz TARGET: N executions in S s, 0 crashes".
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)

(($# == 2 || $# == 3)) || { echo "usage: run-fuzzer.sh TREE TARGET [SECONDS]" >&2; exit 16; }
tree=$1
target=$2
if (($# == 3)); then
	seconds=$3
elif [[ -n ${DMREMAP_FUZZ_SECONDS:-} ]]; then
	seconds=$DMREMAP_FUZZ_SECONDS
elif [[ ${DMREMAP_FULL:-0} == 1 ]]; then
	seconds=600
else
	seconds=20
fi

fuzzer=$tree/tests/fuzz/fuzz-$target
seeds=$src/tests/fuzz/corpus/$target
[[ -x $fuzzer ]] || { echo "run-fuzzer.sh: $fuzzer is not built; run tests/fuzz/sanitize-tree.sh build $tree" >&2; exit 1; }
[[ -d $seeds ]] || { echo "run-fuzzer.sh: no seed corpus $seeds" >&2; exit 1; }

work=$tree/fuzz-corpus/$target
artifacts=$tree/fuzz-artifacts
mkdir -p "$work" "$artifacts"
dict=()
[[ -f $src/tests/fuzz/$target.dict ]] && dict=(-dict="$src/tests/fuzz/$target.dict")

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$tree/fuzz-$target.log
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
	-print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${dict[@]}" \
	"$work" "$seeds" >"$log" 2>&1
rc=$?
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
if ((rc != 0)); then
	tail -n 60 "$log" >&2
	echo "fuzz $target: FAILED (exit $rc) after ${execs:-?} executions; log $log" >&2
	ls -1 "$artifacts"/"$target"-* 2>/dev/null | sed 's/^/artifact: /' >&2 || true
	exit 1
fi
echo "fuzz $target: ${execs:-0} executions in $seconds s, 0 crashes (corpus $(ls "$work" | wc -l) new + $(ls "$seeds" | wc -l) seeds)"
