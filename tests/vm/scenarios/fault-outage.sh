#!/bin/bash
# An outage of the whole main device (its table switched to `error`: a
# cable pull, a path failure), review F10: foreground I/O that fails while
# every sector of main fails is not a media error of its units.
#   1. a read fails with EIO and records nothing (no pending entry); after
#      main is back, the unit reads its old bytes;
#   2. a partial-unit write (the rest of its unit cannot be read) fails
#      with EIO and records nothing; after main is back, the unit reads its
#      old bytes. A full-unit write needs nothing from main: it moves to the
#      spare, is acknowledged and reads back (as documented);
#   3. the mode stays ok, and a write that fails on a healthy main
#      afterwards is still remapped (the outage did not switch remapping
#      off).
# Failures are collected, so one run shows every broken case.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096
load_module
mbase="$(make_nullb fobase 16 memory_backed)"
total=$(sectors "$mbase")
random_file /tmp/data 16
write_at "$mbase" 0 /tmp/data
unit_of() { dd if=/tmp/data of="$2" bs=$U skip="$1" count=1 status=none; }
main="$(bad_disk fo-main "$mbase")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" $U
dev="$(dm_create fo-r "0 $total remap $main $spare")"
failures=()
soft_fail() {
	log "FAIL: $*"
	failures+=("$*")
}
unit_is() {
	rm -f /tmp/unit_is
	dd if="$dev" of=/tmp/unit_is bs=$U skip="$1" count=1 iflag=direct status=none 2>/dev/null || return 1
	cmp -s "$2" /tmp/unit_is
}
outage() {
	dmsetup load fo-main --table "0 $total error" || die "cannot load the error table"
	dmsetup suspend --noudevsync fo-main && dmsetup resume --noudevsync fo-main ||
		die "cannot switch fo-main to the error table"
}

outage
io_fails "Input/output error" if="$dev" of=/dev/null bs=$U skip=100 count=1 iflag=direct
list="$(remap_list fo-r | xargs)"
[[ -z $list ]] || soft_fail "1. a read during an outage recorded '$list' (expected nothing)"
log "1. read during the outage: EIO; table '$list', pending $(remap_status fo-r pending)"
# A partial write: its unit's rest cannot be read, nothing is recorded.
head -c 512 /dev/urandom >/tmp/w
if dd if=/tmp/w of="$dev" bs=512 seek=$((200 * 8 + 3)) count=1 oflag=direct conv=notrunc status=none 2>/tmp/err; then
	soft_fail "2. a partial write during an outage succeeded (expected EIO); table now '$(remap_list fo-r | xargs)'"
else
	grep -q "Input/output error" /tmp/err || soft_fail "2. the partial write failed with '$(cat /tmp/err)', expected EIO"
fi
list="$(remap_list fo-r | xargs)"
[[ -z $list ]] || soft_fail "2. a partial write during an outage recorded '$list' (expected nothing)"
log "2. partial write during the outage; table '$list', mode $(remap_status fo-r mode)"
# A full-unit write needs nothing from main: it moves to the spare and is
# acknowledged (docs/dm-remap.rst; fault-injection case 6).
head -c $U /dev/urandom >/tmp/w250
dd if=/tmp/w250 of="$dev" bs=$U seek=250 count=1 oflag=direct conv=notrunc status=none 2>/tmp/err ||
	soft_fail "2. a full-unit write during an outage failed: $(cat /tmp/err)"
log "2. full-unit write during the outage; table '$(remap_list fo-r | xargs)'"
set_bad fo-main "$mbase" # main is back
unit_of 100 /tmp/u100
unit_is 100 /tmp/u100 || soft_fail "1. unit 100 does not read its old bytes after the outage"
unit_of 200 /tmp/u200
unit_is 200 /tmp/u200 || soft_fail "2. unit 200 does not read its old bytes after the outage (the partial write failed)"
unit_is 250 /tmp/w250 || soft_fail "2. unit 250 does not read the full-unit write acknowledged during the outage"
mode=$(remap_status fo-r mode)
[[ $mode == ok ]] || soft_fail "3. mode after the outage: expected ok, got $mode"
entries=$(remap_status fo-r entries)
# A real media error after the outage still remaps.
set_bad fo-main "$mbase" 2400:8
head -c $U /dev/urandom >/tmp/w3
if dd if=/tmp/w3 of="$dev" bs=$U seek=300 count=1 oflag=direct conv=notrunc status=none 2>/tmp/err; then
	unit_is 300 /tmp/w3 || soft_fail "3. unit 300 does not read the remapped write"
	assert_eq "$((entries + 1))" "$(remap_status fo-r entries)" "entries after a write to a bad unit"
else
	soft_fail "3. a write to a bad unit of a healthy main failed after the outage: $(cat /tmp/err)"
fi
dm_remove fo-r

((${#failures[@]} == 0)) || die "${#failures[@]} failure(s): $(printf '%s; ' "${failures[@]}")"
log "fault-outage OK"
