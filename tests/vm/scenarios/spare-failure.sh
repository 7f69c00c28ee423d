#!/bin/bash
# Spare blocks that fail: a remap whose spare block fails its write moves on
# to the next good block, the failed one is recorded as bad (persistently:
# it is never handed out again, even after the spare "heals"), and the data
# lands byte-exact on the block the table names. A remapped unit whose spare
# block fails later reads as an error, never as stale main data.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096 # unit bytes; 8 sectors
load_module
base="$(make_nullb rbase 32 memory_backed)"
total=$(sectors "$base")
# Main: units 100 and 200 fail whole, unit 300 on one sector.
main="$(bad_disk rmain "$base" 800:8 1600:8 2403:1)"
# Spare: a dm device over a loop, healthy while it is formatted.
sbase="$(make_loop 8)"
spare="$(bad_disk rspare "$sbase")"
format_spare "$main" "$spare" $U
pool_start=$(dump_get "$spare" 'd["superblock"]["pool_start"]')
pool_blocks=$(dump_get "$spare" 'd["superblock"]["pool_blocks"]')
log "pool_start=$pool_start sectors, $pool_blocks blocks"
((pool_blocks > 8)) || die "pool too small for this test: $pool_blocks"
pblk() { echo $((pool_start + $1 * 8)); } # first sector of pool block N
# Pool blocks 0, 1 and 4 fail every I/O.
set_bad rspare "$sbase" "$(pblk 0):16" "$(pblk 4):8"

table="0 $total remap $main $spare"
dev="$(dm_create r "$table")"
random_file /tmp/data 16
unit_of() { dd if=/tmp/data of="$2" bs=$U skip="$1" count=1 status=none; }
# spare_holds BLOCK FILE: pool block BLOCK, read under the target, is FILE.
spare_holds() { assert_dev_matches "$sbase" $(($(pblk "$1") * 512)) "$2"; }
list() { dmsetup message r 0 list | xargs; }

# Unit 100 alone: blocks 0 and 1 fail, block 2 takes it.
unit_of 100 /tmp/u100
write_at "$dev" $((100 * U)) /tmp/u100
assert_eq "100 2 remapped" "$(list)" "list after unit 100"
assert_eq "100 remapped 2" "$(dmsetup message r 0 query 100)" "query 100"
assert_eq 2 "$(remap_status r spare_bad)" "spare_bad after unit 100"
assert_eq 3 "$(remap_status r spare_used)" "spare_used after unit 100"
assert_eq 2 "$(remap_status r spare_errors)" "spare_errors after unit 100"
assert_eq 1 "$(remap_status r entries)" "entries after unit 100"
assert_eq ok "$(remap_status r mode)" "mode after unit 100"
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
spare_holds 2 /tmp/u100

# Unit 200: block 3 is good.
unit_of 200 /tmp/u200
write_at "$dev" $((200 * U)) /tmp/u200
assert_eq "100 2 remapped 200 3 remapped" "$(list)" "list after unit 200"
assert_eq 2 "$(remap_status r spare_bad)" "spare_bad after unit 200"
spare_holds 3 /tmp/u200

# The whole data set: unit 300 skips bad block 4 and lands on 5; units 100
# and 200 are rewritten on their spare blocks.
write_at "$dev" 0 /tmp/data
assert_eq "100 2 remapped 200 3 remapped 300 5 remapped" "$(list)" "list after the data set"
assert_eq 3 "$(remap_status r spare_bad)" "spare_bad after the data set"
assert_eq 6 "$(remap_status r spare_used)" "spare_used after the data set"
assert_eq 3 "$(remap_status r spare_errors)" "spare_errors after the data set"
assert_eq 0 "$(remap_status r pending)" "pending"
assert_eq ok "$(remap_status r mode)" "mode"
assert_dev_matches "$dev" 0 /tmp/data
unit_of 300 /tmp/u300
spare_holds 5 /tmp/u300
log "remaps skipped the failed spare blocks; 16 MiB read back byte-exact"

# The bad blocks are on the spare's metadata.
dm_remove r
assert_eq "0 1 4" "$(dump_get "$spare" 'd["bad_spare_blocks"]' | xargs)" "bad blocks in the dump"
assert_eq "100:2 200:3 300:5" \
	"$(dump_get "$spare" '[str(e["main_block"]) + ":" + str(e["spare_block"]) for e in d["entries"] if e["state"] == "remapped"]' | xargs)" \
	"remaps in the dump"

# The spare heals and the device comes back: bad blocks stay bad, the next
# remap (unit 400, now failing on main) takes block 6.
set_bad rspare "$sbase"
set_bad rmain "$base" 800:8 1600:8 2403:1 3200:8
dev="$(dm_create r "$table")"
assert_eq "100 2 remapped 200 3 remapped 300 5 remapped" "$(list)" "list after recreate"
assert_eq 3 "$(remap_status r spare_bad)" "spare_bad after recreate"
dd if=/dev/urandom of=/tmp/u400 bs=$U count=1 status=none
write_at "$dev" $((400 * U)) /tmp/u400
dd if=/tmp/u400 of=/tmp/data bs=$U seek=400 conv=notrunc status=none
assert_eq "100 2 remapped 200 3 remapped 300 5 remapped 400 6 remapped" "$(list)" "list after unit 400"
spare_holds 6 /tmp/u400
assert_dev_matches "$dev" 0 /tmp/data

# A proactive remap of healthy unit 500 (block 7), a rewrite through the
# target, then block 7 fails: reads of unit 500 fail, never return main's
# stale copy, and the rest of the device still reads.
assert_eq "remapped 500 7" "$(dmsetup message r 0 remap 500)" "proactive remap of unit 500"
dd if=/dev/urandom of=/tmp/u500 bs=$U count=1 status=none
write_at "$dev" $((500 * U)) /tmp/u500
spare_holds 7 /tmp/u500
set_bad rspare "$sbase" "$(pblk 7):8"
errs=$(remap_status r spare_errors)
io_fails "Input/output error" if="$dev" of=/tmp/out bs=$U skip=500 count=1 iflag=direct
assert_eq $((errs + 1)) "$(remap_status r spare_errors)" "spare_errors after the failed read"
dd if=/tmp/u500 of=/tmp/data bs=$U seek=500 conv=notrunc status=none
head -c $((500 * U)) /tmp/data >/tmp/head
assert_dev_matches "$dev" 0 /tmp/head
tail -c +$((501 * U + 1)) /tmp/data >/tmp/tail
assert_dev_matches "$dev" $((501 * U)) /tmp/tail

dm_remove r
log "spare-failure OK"
