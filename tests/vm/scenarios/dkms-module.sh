#!/bin/bash
# The module as DKMS builds it (kernel/dkms.conf, built on the host by the
# ctest install/dkms-build into <build>/dkms/<kernel>/): it loads on its
# kernel, and a bad unit written through it moves to the spare, reads back
# and survives recreating the device.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

DMREMAP_MODULE=$DMREMAP_BUILD/dkms/$DMREMAP_KERNEL/dm-remap.ko
[[ -f $DMREMAP_MODULE ]] ||
	die "no DKMS-built module at $DMREMAP_MODULE: run ctest -R install/dkms-build first"
assert_eq "$DMREMAP_KVER" "$(modinfo -F vermagic "$DMREMAP_MODULE" | cut -d' ' -f1)" "vermagic"
load_module

base="$(make_nullb dbase 64 memory_backed)"
main="$(bad_disk dmain "$base" 9000:8)" # unit 1125 with 4 KiB units
spare="$(make_loop 16)"
format_spare "$main" "$spare" 4096
table="0 $(sectors "$main") remap $main $spare"
dev="$(dm_create d "$table")"

random_file /tmp/unit 1
write_at "$dev" $((1124 * 4096)) /tmp/unit # units 1124..1379, 1125 bad
assert_dev_matches "$dev" $((1124 * 4096)) /tmp/unit
assert_eq "1125 remapped" "$(remap_list d)" "remap list"
assert_eq ok "$(remap_status d mode)" "mode"

dm_remove d
dev="$(dm_create d "$table")"
assert_eq "1125 remapped" "$(remap_list d)" "remap list after recreate"
assert_dev_matches "$dev" $((1124 * 4096)) /tmp/unit
dm_remove d
unload_module
echo "dkms-module: $(uname -r): DKMS-built dm-remap.ko loaded, remapped unit 1125, kept it"
