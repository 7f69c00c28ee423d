#!/bin/bash
# Writes that fail on main succeed through dm-remap: the failing units, and
# only those, move to the spare, and every byte reads back. Errors sit at
# exact sectors: a lone sector, a whole unit, one inside a large multi-unit
# bio, and the last unit of the device.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

MiB=$((1024 * 1024))
load_module
base="$(make_nullb rbase 64 memory_backed)"
total=$(sectors "$base")
last_unit=$((total / 8 - 1))
# Unit = 4 KiB = 8 sectors.
main="$(bad_disk rmain "$base" 1003:1 20000:8 40963:2 $((total - 1)):1)"
expect="125 2500 5120 $last_unit"
spare="$(make_loop 16)"
format_spare "$main" "$spare" 4096
dev="$(dm_create r "0 $total remap $main $spare")"

# 64 MiB in 1 MiB O_DIRECT writes: four of them hit bad sectors.
random_file /tmp/data 64
write_at "$dev" 0 /tmp/data
log "all writes succeeded"
dmsetup status r

events=$(dmsetup info r | sed -n 's/^Event number: *//p')
((events >= 1)) || die "no dm event raised for the new remaps (event number $events)"
got="$(remap_list r | awk '$2 == "remapped" {print $1}' | xargs)"
assert_eq "$expect" "$got" "remapped units"
assert_eq 4 "$(remap_status r entries)" "entries in status"
assert_eq 0 "$(remap_status r pending)" "pending units"
assert_eq ok "$(remap_status r mode)" "mode"

# Byte-exact, through the page cache too.
assert_dev_matches "$dev" 0 /tmp/data
echo 3 >/proc/sys/vm/drop_caches
cmp "$dev" /tmp/data || die "buffered read differs"
log "64 MiB read back byte-exact"

# Rewrite a remapped unit with a partial write: it stays on the spare.
dd if=/dev/urandom of=/tmp/small bs=512 count=1 status=none
write_at "$dev" $((20003 * 512)) /tmp/small
dd if=/tmp/small of=/tmp/data bs=512 seek=20003 conv=notrunc status=none
assert_dev_matches "$dev" 0 /tmp/data
assert_eq 4 "$(remap_status r entries)" "entries after rewriting a remapped unit"

# Write-zeroes across remapped unit 2500 and its healthy neighbours: all
# three units read back as zeroes (the remapped one from the spare).
blkdiscard -z -o $((2499 * 4096)) -l $((3 * 4096)) "$dev" || die "write-zeroes failed"
dd if=/dev/zero of=/tmp/data bs=4096 seek=2499 count=3 conv=notrunc status=none
assert_dev_matches "$dev" 0 /tmp/data
assert_eq 4 "$(remap_status r entries)" "entries after write-zeroes"

# A query answers per unit.
dmsetup message r 0 query 2500 | grep -q '^2500 remapped ' || die "query 2500"
dmsetup message r 0 query 7 | grep -q '^7 ok$' || die "query 7"

dm_remove r
log "write-errors OK"
