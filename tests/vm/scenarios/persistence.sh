#!/bin/bash
# Remaps and data survive removing and recreating the device, and a reload
# of its table.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb rbase 32 memory_backed)"
total=$(sectors "$base")
main="$(bad_disk rmain "$base" 808:8 30000:3)"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
table="0 $total remap $main $spare"
dev="$(dm_create r "$table")"
random_file /tmp/data 16
write_at "$dev" 0 /tmp/data
before="$(remap_list r)"
assert_eq "101 remapped 3750 remapped" "$(echo "$before" | xargs)" "remaps"

dm_remove r
dev="$(dm_create r "$table")"
assert_eq "$before" "$(remap_list r)" "remaps after recreate"
assert_dev_matches "$dev" 0 /tmp/data

# A reload: the new table's constructor runs while the old one is live.
dmsetup load r --table "$table"
dmsetup suspend --noudevsync r
dmsetup resume --noudevsync r
assert_eq "$before" "$(remap_list r)" "remaps after reload"
assert_dev_matches "$dev" 0 /tmp/data
dm_remove r
log "persistence OK"
