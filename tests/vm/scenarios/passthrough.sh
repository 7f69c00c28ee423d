#!/bin/bash
# dm-remap with nothing remapped is a pass-through: data written through the
# target reads back byte-exact, and lands unchanged on the main device.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

MiB=$((1024 * 1024))

majmin() { printf '%d:%d' "0x$(stat -c %t "$1")" "0x$(stat -c %T "$1")"; }

load_module
main="$(make_nullb rmain 64 memory_backed)"
spare="$(make_loop 16)"
main_sectors="$(sectors "$main")"
assert_eq $((64 * MiB / 512)) "$main_sectors" "main size in sectors"
log "main=$main spare=$spare"

format_spare "$main" "$spare"
dev="$(dm_create rtest "0 $main_sectors remap $main $spare")"
assert_eq "$main_sectors" "$(sectors "$dev")" "size of $dev"

# Table and status sanity (only the fields this stage defines).
read -r t_start t_len t_type t_main t_spare _ <<<"$(dmsetup table rtest)"
assert_eq "0 $main_sectors remap" "$t_start $t_len $t_type" "table head"
assert_eq "$(majmin "$main")" "$t_main" "table main device"
assert_eq "$(majmin "$spare")" "$t_spare" "table spare device"
read -r s_start s_len s_type _ <<<"$(dmsetup status rtest)"
assert_eq "0 $main_sectors remap" "$s_start $s_len $s_type" "status head"

# 32 MiB of random data, written in pieces with O_DIRECT; the same writes go
# to an expected image (the memory-backed null_blk starts zeroed).
random_file /tmp/data 32
truncate -s $((64 * MiB)) /tmp/expected
put() { # DATA_OFFSET LENGTH DEV_OFFSET
	dd if=/tmp/data of=/tmp/piece bs=1M skip="$1" count="$2" iflag=skip_bytes,count_bytes status=none
	write_at "$dev" "$3" /tmp/piece
	dd if=/tmp/piece of=/tmp/expected bs=1M seek="$3" oflag=seek_bytes conv=notrunc status=none
	assert_dev_matches "$dev" "$3" /tmp/piece
}
put 0 $((8 * MiB)) 0                                  # start of the device
put $((8 * MiB)) $((8 * MiB)) $((17 * MiB + 3584))    # sector- but not page-aligned
put $((16 * MiB)) $((12 * MiB)) $((36 * MiB))         # middle
put $((28 * MiB)) $((4 * MiB - 512)) $((60 * MiB))    # up to the last sector...
put $((32 * MiB - 512)) 512 $((64 * MiB - 512))       # ...and the last sector alone
log "wrote 32 MiB in 5 pieces"

assert_dev_matches "$dev" 0 /tmp/expected
assert_dev_matches "$main" 0 /tmp/expected
log "whole device matches through $dev and directly on $main"

# Past the end must fail, not wrap around.
if dd if=/tmp/piece of="$dev" bs=512 count=1 seek="$main_sectors" oflag=direct status=none 2>/dev/null; then
	die "write past the end of $dev succeeded"
fi

dm_remove rtest
remove_loop "$spare"
remove_nullb rmain
unload_module
if grep -q '^dm_remap ' /proc/modules; then die "dm_remap still loaded"; fi
log "passthrough OK"
