#!/bin/bash
# The README's demo: a disk with bad sectors kept in service by dm-remap.
# An ext4 filesystem and a data set are written through it with no error,
# the failing blocks move to the spare, and after the device is recreated
# (as after a reboot) the remaps and the data are still there.
# Run it with scripts/demo.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

say() { printf '\n==> %s\n' "$*"; }
show_status() {
	printf '    mode=%s  remaps=%s  pending=%s  spare used=%s of %s  main errors=%s\n' \
		"$(remap_status demo mode)" "$(remap_status demo entries)" \
		"$(remap_status demo pending)" "$(remap_status demo spare_used)" \
		"$(remap_status demo spare_total)" "$(remap_status demo main_errors)"
}

say "Kernel $(uname -r); loading dm-remap.ko built for it"
load_module
dmsetup targets | grep '^remap '

say "A 256 MiB main disk with 12 bad sectors (an error segment each), and a 16 MiB spare"
base="$(make_nullb rbase 256 memory_backed)"
bad=()
for s in 2056 9001 65541 131077 200003 262153 300000 333331 400007 450001 480000 510001; do
	bad+=("$s:1")
done
main="$(bad_disk baddisk "$base" "${bad[@]}")"
spare="$(make_loop 16)"
if dd if="$main" of=/dev/null bs=4096 skip=$((9001 / 8)) count=1 iflag=direct status=none 2>/dev/null; then
	die "the bad sector reads fine"
fi
echo "    reading sector 9001 of $main directly fails: Input/output error"

say "remapctl format, then remapctl create"
remapctl format --main "$main" --spare "$spare" --batch
dev="$(remapctl create demo --main "$main" --spare "$spare")"
_lib_track dm demo
table="$(dmsetup table demo)"
echo "    $dev: $table"
show_status

say "mkfs.ext4 and a data set written through $dev"
mkfs.ext4 -q -F "$dev"
mkdir -p /tmp/mnt
mount "$dev" /tmp/mnt
random_file /tmp/mnt/random.bin 160
cp -r /usr/share/doc/bash /usr/share/doc/coreutils /tmp/mnt/ 2>/dev/null || true
(cd /tmp/mnt && find . -type f -print0 | sort -z | xargs -0 sha256sum) >/tmp/sums
sync
umount /tmp/mnt
if dmesg | grep -E 'Buffer I/O error|EXT4-fs (error|warning)'; then
	die "an I/O error reached the filesystem"
fi
echo "    $(wc -l </tmp/sums) files written, no I/O error reached the filesystem"
show_status
echo "    the remapped units (unit = 4 KiB, 8 sectors):"
dmsetup message demo 0 list | sed 's/^/      /'
remapctl status demo | sed 's/^/    /'

say "'Reboot': remapctl remove, then remapctl create again"
remapctl remove demo
dev="$(remapctl create demo --main "$main" --spare "$spare")"
show_status
fsck.ext4 -f -n "$dev" >/dev/null || die "fsck found errors"
echo "    fsck.ext4: clean"
mount "$dev" /tmp/mnt
(cd /tmp/mnt && sha256sum --quiet -c /tmp/sums) || die "data differs after the reboot"
echo "    all $(wc -l </tmp/sums) files verified byte-exact (sha256)"
umount /tmp/mnt

[[ $(remap_status demo entries) -gt 0 ]] || die "no remaps: the bad sectors were never hit"
remapctl remove demo
unload_module
say "Demo finished: the disk kept working, every byte is intact"
