#!/bin/bash
# Units remapped to consecutive spare blocks are served by one bio to the
# spare (not one per unit), and every byte still reads back: reads that
# start and end inside a run, runs cut by units on main, and lone remapped
# units next to a run.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb rbase 16 memory_backed)"
total=$(sectors "$base")
# Unit = 4 KiB = 8 sectors. Units 1024-1031 fail (a run of 8), then 1033
# and 1035 alone; 1032 and 1034 stay on main.
main="$(bad_disk rmain "$base" 8192:64 $((1033 * 8)):8 $((1035 * 8)):8)"
spare="$(make_loop 16)"
format_spare "$main" "$spare" 4096
dev="$(dm_create r "0 $total remap $main $spare")"

# One 1 MiB write over units 1024-1279 remaps the failing ones in order,
# so the run gets spare blocks 0-7 and the lone units 8 and 9.
random_file /tmp/data 16
write_at "$dev" 0 /tmp/data
assert_eq "1024 1025 1026 1027 1028 1029 1030 1031 1033 1035" \
	"$(remap_list r | awk '$2 == "remapped" {print $1}' | xargs)" "remapped units"

# reads_to_spare OFFSET LEN: remapped I/Os one O_DIRECT read of LEN bytes at
# OFFSET takes; the bytes must match what was written.
reads_to_spare() {
	local before after
	before=$(remap_status r remapped_ios)
	read_at "$dev" "$1" "$2" /tmp/got
	dd if=/tmp/data of=/tmp/want bs=4096 iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none
	cmp /tmp/want /tmp/got >&2 || die "read of $2 bytes at $1 differs from what was written"
	after=$(remap_status r remapped_ios)
	echo $((after - before))
}

assert_eq 1 "$(reads_to_spare $((1024 * 4096)) $((8 * 4096)))" "bios to the spare for the whole run"
assert_eq 1 "$(reads_to_spare $((1025 * 4096 + 512)) $((5 * 4096)))" "bios for a read inside the run"
# 1030-1031 (run), 1032 (main), 1033 (spare), 1034 (main), 1035 (spare).
assert_eq 3 "$(reads_to_spare $((1030 * 4096)) $((6 * 4096)))" "bios for a read across the run's end"
# 1020-1023 (main), 1024-1031 (run), 1032 (main).
assert_eq 1 "$(reads_to_spare $((1020 * 4096)) $((12 * 4096 + 1024)))" "bios for a read from main over the run"

# Rewrite across the run and its neighbours, then everything reads back.
dd if=/dev/urandom of=/tmp/patch bs=4096 count=20 status=none
write_at "$dev" $((1022 * 4096)) /tmp/patch
dd if=/tmp/patch of=/tmp/data bs=4096 seek=1022 conv=notrunc status=none
assert_dev_matches "$dev" 0 /tmp/data
echo 3 >/proc/sys/vm/drop_caches
cmp "$dev" /tmp/data || die "buffered read differs"
assert_eq 10 "$(remap_status r entries)" "entries"

dm_remove r
log "remapped-runs OK"
