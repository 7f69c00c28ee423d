#!/bin/bash
# A unit that becomes unreadable: reads fail with EIO (never zeros or stale
# data) and the unit is recorded as pending. A full rewrite on a main that
# still fails remaps it; on a healed main it clears the pending state with
# no remap. A partial write to a pending unit is refused.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb rbase 32 memory_backed)"
total=$(sectors "$base")
main="$(bad_disk rmain "$base")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
dev="$(dm_create r "0 $total remap $main $spare")"

random_file /tmp/data 8
write_at "$dev" 0 /tmp/data
log "8 MiB written while main was healthy"

# Units 375 and 500 go bad after the data was written.
set_bad rmain "$base" 3000:8 4000:8 4800:8
reads_fail() { ! dd if="$dev" of=/dev/null bs=4096 skip="$1" count=1 iflag=direct status=none 2>/dev/null; }
reads_fail 375 || die "read of unreadable unit 375 succeeded"
reads_fail 375 || die "second read of unit 375 succeeded"
reads_fail 500 || die "read of unreadable unit 500 succeeded"
assert_eq 2 "$(remap_status r pending)" "pending after the read errors"
assert_eq "375 pending 500 pending" "$(remap_list r | xargs)" "pending list"
# Neighbours still read, byte-exact.
read_at "$dev" 0 $((375 * 4096)) /tmp/head
head -c $((375 * 4096)) /tmp/data >/tmp/want
cmp /tmp/head /tmp/want || die "data before unit 375 differs"

# Unit 375, rewritten while main still fails: remapped.
dd if=/dev/urandom of=/tmp/u375 bs=4096 count=1 status=none
write_at "$dev" $((375 * 4096)) /tmp/u375
assert_dev_matches "$dev" $((375 * 4096)) /tmp/u375
dmsetup message r 0 query 375 | grep -q '^375 remapped ' || die "unit 375 not remapped after rewrite"

# Unit 600 goes bad too; a partial write to it is refused.
reads_fail 600 || die "read of unreadable unit 600 succeeded"
dd if=/dev/urandom of=/tmp/half bs=512 count=1 status=none
if dd if=/tmp/half of="$dev" bs=512 seek=$((600 * 8 + 1)) oflag=direct conv=notrunc status=none 2>/dev/null; then
	die "partial write to pending unit 600 succeeded"
fi

# Main heals; unit 500 rewritten: pending cleared, no remap.
set_bad rmain "$base"
dd if=/dev/urandom of=/tmp/u500 bs=4096 count=1 status=none
write_at "$dev" $((500 * 4096)) /tmp/u500
assert_dev_matches "$dev" $((500 * 4096)) /tmp/u500
dmsetup message r 0 query 500 | grep -q '^500 ok$' || die "unit 500 still in the table after a healed rewrite"
assert_dev_matches "$base" $((500 * 4096)) /tmp/u500
assert_eq "375 remapped 600 pending" "$(remap_list r | xargs)" "table at the end"
assert_eq 1 "$(remap_status r pending)" "pending at the end"

dm_remove r
log "read-errors OK"
