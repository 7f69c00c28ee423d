#!/usr/bin/env bash
# The sanitizer tree: clang with ASan and UBSan on the library, the tools and
# their tests, plus the libFuzzer targets (-DDMREMAP_FUZZ=ON).
#
#   sanitize-tree.sh build TREE   configure and build it (the main tree stays gcc)
#   sanitize-tree.sh test TREE    run ctest -L 'unit|tools' there (without the
#                                 exhaustive ByteFlip test unless DMREMAP_FULL=1);
#                                 any sanitizer report fails the run
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
	echo "usage: sanitize-tree.sh build|test TREE" >&2
	exit 16
}
(($# == 2)) || usage
action=$1
tree=$2

# Every report is fatal (the code is also built with -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case $action in
build)
	cmake -S "$src" -B "$tree" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
		-DDMREMAP_FUZZ=ON -DDMREMAP_SANITIZE=ON -DDMREMAP_WERROR=OFF >/dev/null
	cmake --build "$tree" -j"$(nproc)" # everything the tests use, and the fuzzers
	;;
test)
	[[ -x $tree/tests/unit/unit-tests ]] ||
		{ echo "sanitize-tree.sh: $tree is not built; run 'sanitize-tree.sh build $tree'" >&2; exit 1; }
	log=$tree/sanitize-test.log
	set +e
	# ByteFlip flips every byte of every metadata block: minutes under ASan,
	# and what the fuzzers do at random; CI leaves it to the gcc tree.
	exclude=('^ByteFlip\.')
	[[ ${DMREMAP_FULL:-0} == 1 ]] && exclude=()
	ctest --test-dir "$tree" -L 'unit|tools' ${exclude:+-E "${exclude[0]}"} --output-on-failure \
		--no-tests=error 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
		echo "sanitize-tree.sh: sanitizer reports in $log:" >&2
		grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" >&2
		exit 1
	fi
	exit "$rc"
	;;
*) usage ;;
esac
