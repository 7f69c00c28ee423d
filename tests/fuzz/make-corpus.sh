#!/usr/bin/env bash
# Regenerates the committed seed corpus in tests/fuzz/corpus/ from real
# inputs: v4 images, blocks and dumps made by fuzz-make-seeds with the
# library's own format and commit code; the metadata area (first 8 KiB) of
# every legacy v3 fixture; the status lines, table lines and message answers
# of docs/dm-remap.rst and of a real module. Inputs that a fuzzer found to
# crash (corpus/<target>/crash-*) are kept.
#
#   tests/fuzz/make-corpus.sh TREE     (TREE: a tree built by sanitize-tree.sh)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
(($# == 1)) || { echo "usage: make-corpus.sh TREE" >&2; exit 16; }
tree=$1
corpus=$src/tests/fuzz/corpus

for t in v4-load v4-block restore v3 status; do
	mkdir -p "$corpus/$t"
	find "$corpus/$t" -type f ! -name 'crash-*' -delete
done
ASAN_OPTIONS=detect_leaks=0 "$tree/tests/fuzz/fuzz-make-seeds" "$corpus"

# v3: mode byte, spare area start and length (8 bytes each), the area.
for img in "$src"/tests/fixtures/legacy-v3/*.spare.img; do
	name=$(basename "$img" .spare.img)
	for mode in 0 1; do
		{
			printf "\\x$(printf %02x "$mode")"
			head -c 16 /dev/zero
			head -c 8192 "$img"
		} >"$corpus/v3/$name-mode$mode"
	done
done

# status: selector byte (0 status line, 1 table line, 2 message answer), text.
n=0
seed() {
	printf "\\x$(printf %02x "$1")%s" "$2" >"$corpus/status/$(printf %02d "$n")"
	n=$((n + 1))
}
seed 0 '4 ok 4096 1 0 18144 0 16094 0 0 0 0 0 0 0 0'
seed 0 '4 ok 4096 2 1 18144 1 16094 0 0 0 1 0 1 0 3'
seed 0 '4 degraded 4096 9 5 4032 5 3800 1 2 100 200 3 4 1 12'
seed 0 '4 spare-exhausted 512 311 126 126 126 126 0 0 5000 7000 900 130 0 390'
seed 0 '4 metadata-failed 4096 3 1 252 1 200 0 0 1 1 0 1 5 0 extra1 extra2'
seed 1 '253:0 7:1'
seed 1 '253:0 7:1 2 retries 5'
seed 1 '/dev/sdb /dev/sdc 2 retries 0'
seed 2 '2500 remapped 3'
seed 2 '9 pending'
seed 2 '7 ok'
seed 2 'remapped 12 0'
seed 2 'already-remapped 12'
seed 2 $'125 0 remapped\n2500 1 remapped\n9 - pending\n'
seed 2 'reads=2 writes=2 remapped_ios=0 main_errors=2 spare_errors=0 retries=9'
echo "make-corpus.sh: $(find "$corpus" -type f | wc -l) seeds, $(du -sh "$corpus" | cut -f1)"
