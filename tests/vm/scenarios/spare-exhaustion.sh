#!/bin/bash
# A spare with three pool blocks: the first three failing units move to it,
# the next writes to failing units fail with EIO and the mode becomes
# spare-exhausted, while remapped data still reads back and healthy units
# and remapped units still read and write. Also: the smallest spare the
# format accepts (one pool block).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096 # unit bytes; 8 sectors
load_module
base="$(make_nullb rbase 32 memory_backed)"
total=$(sectors "$base")
# Units 100, 200, 300, 400 and 500 fail on main.
main="$(bad_disk rmain "$base" 800:8 1600:8 2400:8 3200:8 4000:8)"
sbase="$(make_loop 1)"

# The smallest spare: metadata (superblocks A and B, two table blocks per
# copy: 24 KiB) plus one unit, 56 sectors. One sector less is refused.
dm_create rs55 "0 55 linear $sbase 0" >/dev/null
if out="$("$DMREMAP_BUILD/tests/support/remap-test-format" "$main" /dev/mapper/rs55 $U 2>&1)"; then
	die "a 55-sector spare was accepted: $out"
fi
[[ $out == *"too small"* ]] || die "55-sector spare refused for another reason: $out"
dm_remove rs55
dm_create rs56 "0 56 linear $sbase 0" >/dev/null
out="$("$DMREMAP_BUILD/tests/support/remap-test-format" "$main" /dev/mapper/rs56 $U)" ||
	die "56-sector spare refused"
[[ $out == *" pool_blocks=1 "* ]] || die "56-sector spare: $out"
dm_remove rs56
log "smallest spare: 56 sectors, $out"

# The spare for the test: 72 sectors, three pool blocks.
spare="$(dm_create rspare "0 72 linear $sbase 0")"
format_spare "$main" "$spare" $U
assert_eq 3 "$(dump_get "$spare" 'd["superblock"]["pool_blocks"]')" "pool blocks"
table="0 $total remap $main $spare"
dev="$(dm_create r "$table")"
assert_eq 3 "$(remap_status r spare_total)" "spare_total"

random_file /tmp/data 16
unit_of() { dd if=/tmp/data of="$2" bs=$U skip="$1" count=1 status=none; }
put_unit() { # UNIT: one O_DIRECT write of the data set's unit
	dd if=/tmp/data of="$dev" bs=$U skip="$1" seek="$1" count=1 oflag=direct conv=notrunc status=none
}
put_fails() { # UNIT: the write fails with EIO
	io_fails "Input/output error" if=/tmp/data of="$dev" bs=$U skip="$1" seek="$1" count=1 oflag=direct conv=notrunc
}
list() { dmsetup message r 0 list | xargs; }
expect_list="100 0 remapped 200 1 remapped 300 2 remapped"

# Healthy units first, then the failing ones one by one.
head -c $((100 * U)) /tmp/data >/tmp/head
write_at "$dev" 0 /tmp/head
for u in 100 200 300; do put_unit $u || die "write of failing unit $u failed"; done
assert_eq "$expect_list" "$(list)" "list with the pool full"
assert_eq 3 "$(remap_status r spare_used)" "spare_used with the pool full"
assert_eq ok "$(remap_status r mode)" "mode with the pool full"

# Units 400 and 500: no block left.
put_fails 400
assert_eq spare-exhausted "$(remap_status r mode)" "mode after unit 400"
put_fails 500
assert_eq "$expect_list" "$(list)" "list after the refused writes"
assert_eq 3 "$(remap_status r entries)" "entries after the refused writes"
assert_eq 0 "$(remap_status r pending)" "pending after the refused writes"
# A 64 KiB write over units 496..511 (500 fails) fails too.
io_fails "Input/output error" if=/tmp/data of="$dev" bs=$((16 * U)) skip=31 seek=31 count=1 oflag=direct conv=notrunc
# A read of failing unit 400 fails (EIO, or ENODATA for a medium error):
# never zeroes or stale data.
io_fails "Input/output error|No data available" if="$dev" of=/tmp/out bs=$U skip=400 count=1 iflag=direct
# A proactive remap is refused.
if out="$(dmsetup message r 0 remap 7 2>&1)"; then
	die "proactive remap of unit 7 succeeded with no spare block, answering '$out' (list: $(list))"
fi
assert_eq "$expect_list" "$(list)" "list after the refused remaps"

# Earlier remaps read back; healthy and remapped units still work.
for u in 100 200 300; do
	unit_of $u /tmp/u
	assert_dev_matches "$dev" $((u * U)) /tmp/u
done
head -c $((100 * U)) /tmp/data >/tmp/head
assert_dev_matches "$dev" 0 /tmp/head
# 1 MiB over healthy units 1024..1279, and a rewrite of remapped unit 200.
dd if=/dev/urandom of=/tmp/mib bs=1M count=1 status=none
write_at "$dev" $((1024 * U)) /tmp/mib
assert_dev_matches "$dev" $((1024 * U)) /tmp/mib
assert_dev_matches "$base" $((1024 * U)) /tmp/mib
dd if=/dev/urandom of=/tmp/u200 bs=$U count=1 status=none
dd if=/tmp/u200 of="$dev" bs=$U seek=200 count=1 oflag=direct conv=notrunc status=none ||
	die "rewrite of remapped unit 200 failed"
assert_dev_matches "$dev" $((200 * U)) /tmp/u200
# Units 101..399 are healthy: rewrite them, skipping the remapped ones.
dd if=/tmp/data of="$dev" bs=$U skip=101 seek=101 count=99 oflag=direct conv=notrunc status=none
dd if=/tmp/data of="$dev" bs=$U skip=201 seek=201 count=99 oflag=direct conv=notrunc status=none
dd if=/tmp/data of="$dev" bs=$U skip=301 seek=301 count=99 oflag=direct conv=notrunc status=none
dd if=/tmp/u200 of=/tmp/data bs=$U seek=200 conv=notrunc status=none
head -c $((400 * U)) /tmp/data >/tmp/head
assert_dev_matches "$dev" 0 /tmp/head
assert_eq "$expect_list" "$(list)" "list at the end"
assert_eq spare-exhausted "$(remap_status r mode)" "mode at the end"

# After a "reboot" the pool is still full: the next failing write is
# refused again, the remaps and their data are intact.
dm_remove r
dev="$(dm_create r "$table")"
assert_eq "$expect_list" "$(list)" "list after recreate"
assert_eq 3 "$(remap_status r spare_used)" "spare_used after recreate"
put_fails 400
assert_eq spare-exhausted "$(remap_status r mode)" "mode after recreate and a failing write"
assert_dev_matches "$dev" 0 /tmp/head
dm_remove r
log "spare-exhaustion OK"
