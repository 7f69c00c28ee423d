#!/bin/bash
# Remaps, pending units and data survive a reboot.
#
# With two --disk images (main base, spare), PHASE=1 formats the spare and
# writes a data set through a main with bad sectors (an error-segment table
# over the first disk), and PHASE=2, in a later boot (possibly of the other
# kernel), recreates the bad disk and the target and checks the exact table
# and every byte, then goes on: a pending unit recovered by a rewrite, a new
# remap after the reboot, a module reload. tests/vm/reboot.sh runs the two
# boots. With no disks (a plain `scripts/vm/run reboot-persistence`) both
# phases run in one boot over loop devices, with a module unload and the
# devices' caches dropped in between.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

MiB=$((1024 * 1024))
U=4096 # unit bytes; 8 sectors
read -r -a disks <<<"${DMREMAP_DISKS:-}"
if ((${#disks[@]})); then
	((${#disks[@]} == 2)) || die "need two disks (main base, spare), got: ${disks[*]}"
	[[ ${PHASE:-} == [12] ]] || die "with disks, PHASE must be 1 or 2 (got '${PHASE:-}')"
	base=${disks[0]} spare=${disks[1]}
else
	base="$(make_loop 64)" spare="$(make_loop 16)"
fi
total=$(sectors "$base")
assert_eq $((64 * MiB / 512)) "$total" "size of the main base $base"
last=$((total / 8 - 1))
# Bad sectors: units 125, 2500, 5120 and the last; 9000 goes bad later.
bad=(1003:1 20000:8 40963:2 $((total - 1)):1)
bad9000=72000:8

# The data set, the same in every boot: 64 MiB from a seeded generator.
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(20240601).randbytes(64 << 20))' >/tmp/data
list() { dmsetup message r 0 list; }
# The table after phase 1: unit 7 was remapped first (by message), then the
# data set's writes hit units 125, 2500, 5120 and the last in that order.
expect1="7 0 remapped
125 1 remapped
2500 2 remapped
5120 3 remapped
9000 - pending
$last 4 remapped"

setup() { # BAD_RANGE...: the bad disk and the target
	main="$(bad_disk rmain "$base" "$@")"
	table="0 $total remap $main $spare"
	dev="$(dm_create r "$table")"
}
teardown() {
	dm_remove r
	dm_remove rmain
}

phase1() {
	log "phase 1 on $(uname -r): format, write, remap"
	load_module
	main="$(bad_disk rmain "$base" "${bad[@]}")"
	format_spare "$main" "$spare" $U
	table="0 $total remap $main $spare"
	dev="$(dm_create r "$table")"
	assert_eq "remapped 7 0" "$(dmsetup message r 0 remap 7)" "proactive remap of unit 7"
	write_at "$dev" 0 /tmp/data
	# Unit 9000 goes bad after it was written: its read fails, it is pending.
	set_bad rmain "$base" "${bad[@]}" $bad9000
	io_fails "Input/output error|No data available" if="$dev" of=/tmp/out bs=$U skip=9000 count=1 iflag=direct
	assert_eq "$expect1" "$(list)" "table at the end of phase 1"
	assert_eq ok "$(remap_status r mode)" "mode"
	head -c $((9000 * U)) /tmp/data >/tmp/part
	assert_dev_matches "$dev" 0 /tmp/part
	tail -c +$((9001 * U + 1)) /tmp/data >/tmp/part
	assert_dev_matches "$dev" $((9001 * U)) /tmp/part
	teardown
	sync
	log "phase 1 done: $(echo "$expect1" | wc -l) entries"
}

phase2() {
	log "phase 2 on $(uname -r): check, then recover, remap and reload"
	load_module
	remap-check "$spare" >&2 || die "remap-check found problems on the spare"
	setup "${bad[@]}" $bad9000
	assert_eq "$expect1" "$(list)" "table after the reboot"
	assert_eq 6 "$(remap_status r entries)" "entries after the reboot"
	assert_eq 1 "$(remap_status r pending)" "pending after the reboot"
	assert_eq 5 "$(remap_status r spare_used)" "spare_used after the reboot"
	head -c $((9000 * U)) /tmp/data >/tmp/part
	assert_dev_matches "$dev" 0 /tmp/part
	tail -c +$((9001 * U + 1)) /tmp/data >/tmp/part
	assert_dev_matches "$dev" $((9001 * U)) /tmp/part
	# Pending survives even though main has healed: its contents are lost.
	set_bad rmain "$base" "${bad[@]}"
	io_fails "Input/output error" if="$dev" of=/tmp/out bs=$U skip=9000 count=1 iflag=direct
	log "table, data and the pending unit survived the reboot"

	# A full rewrite of unit 9000 on the healed main clears it; unit 12000
	# fails now and its write takes the next spare block, 5.
	set_bad rmain "$base" "${bad[@]}" 96000:8
	dd if=/dev/urandom of=/tmp/u9000 bs=$U count=1 status=none
	dd if=/dev/urandom of=/tmp/u12000 bs=$U count=1 status=none
	dd if=/tmp/u9000 of="$dev" bs=$U seek=9000 count=1 oflag=direct conv=notrunc status=none
	dd if=/tmp/u12000 of="$dev" bs=$U seek=12000 count=1 oflag=direct conv=notrunc status=none
	dd if=/tmp/u9000 of=/tmp/data bs=$U seek=9000 conv=notrunc status=none
	dd if=/tmp/u12000 of=/tmp/data bs=$U seek=12000 conv=notrunc status=none
	local expect2="7 0 remapped
125 1 remapped
2500 2 remapped
5120 3 remapped
12000 5 remapped
$last 4 remapped"
	assert_eq "$expect2" "$(list)" "table after the rewrite and the new remap"
	assert_dev_matches "$dev" 0 /tmp/data
	assert_dev_matches "$base" $((9000 * U)) /tmp/u9000

	# Module reload: the same table and data again.
	teardown
	unload_module
	load_module
	setup "${bad[@]}" 96000:8
	assert_eq "$expect2" "$(list)" "table after a module reload"
	assert_eq 0 "$(remap_status r pending)" "pending after a module reload"
	assert_dev_matches "$dev" 0 /tmp/data
	teardown
	remap-check "$spare" >&2 || die "remap-check found problems on the spare"
	log "phase 2 done"
}

case "${PHASE:-both}" in
1) phase1 ;;
2) phase2 ;;
both)
	phase1
	unload_module
	blockdev --flushbufs "$base"
	blockdev --flushbufs "$spare"
	echo 3 >/proc/sys/vm/drop_caches
	phase2
	;;
*) die "PHASE must be 1, 2 or unset" ;;
esac
log "reboot-persistence (phase ${PHASE:-1+2}) OK"
