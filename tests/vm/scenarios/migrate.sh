#!/bin/bash
# remapctl migrate end to end: for every valid legacy-v3 fixture, migrate the
# spare in place (after a dry run that must write nothing, and after an
# interrupted first attempt), create a dm-remap device over the pair and read
# every main sector: a remapped one returns the spare's
# `spare-holds-main:NAME:<sector>`, any other `main:NAME:<sector>`. The
# invalid fixtures are refused, each with its reason.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

fixtures=$DMREMAP_SRC/tests/fixtures/legacy-v3

# fixture_file NAME KIND: the image of one side of a fixture pair.
fixture_file() {
	local f=$fixtures/$1.$2.img
	[[ -f $f ]] || die "no fixture $1.$2.img in $fixtures"
	echo "$f"
}

# attach NAME: loop devices over /tmp copies of the pair; sets main, spare.
attach() {
	local m s
	m=$(mktemp "/tmp/$1.main.XXXXXX.img")
	s=$(mktemp "/tmp/$1.spare.XXXXXX.img")
	cp "$(fixture_file "$1" main)" "$m"
	cp "$(fixture_file "$1" spare)" "$s"
	main=$(losetup --find --show "$m") || die "losetup $m"
	_lib_track loop "$main"
	spare=$(losetup --find --show "$s") || die "losetup $s"
	_lib_track loop "$spare"
}

# check_reads NAME DEV: every sector of DEV holds NAME's expected tag.
check_reads() {
	local name=$1
	dd if="$2" of=/tmp/read.img bs=64k iflag=direct status=none
	python3 - "$name" /tmp/read.img "$(fixture_file "$name" spare | sed 's/spare.img$/expect.json/')" <<'PY' ||
import json, sys
name, path, expect = sys.argv[1], sys.argv[2], sys.argv[3]
remapped = {e["main_sector"] for e in json.load(open(expect))["entries"]}
data = open(path, "rb").read()
bad = 0
for s in range(len(data) // 512):
    tag = (f"spare-holds-main:{name}:{s}" if s in remapped else f"main:{name}:{s}").encode()
    sector = data[s * 512:(s + 1) * 512]
    if not sector.startswith(tag) or sector[len(tag):len(tag) + 1].isdigit():
        bad += 1
        if bad <= 5:
            print(f"{name}: sector {s}: expected {tag!r}, got {sector[:40]!r}", file=sys.stderr)
print(f"{name}: {len(data) // 512} sectors read, {len(remapped)} remapped, {bad} wrong",
      file=sys.stderr)
sys.exit(1 if bad else 0)
PY
		die "$name: wrong data through the dm-remap device"
}

modprobe dm-mod
[[ -d /sys/module/loop ]] || modprobe loop
load_module

for name in empty basic full stale-checksum; do
	attach "$name"
	before=$(md5sum <"$spare")
	remapctl migrate --main "$main" --spare "$spare" --dry-run >/tmp/plan.out ||
		die "$name: dry run failed: $(cat /tmp/plan.out)"
	grep -q "remap unit: 512 bytes" /tmp/plan.out || die "$name: plan names no unit"
	grep -q "spare sectors to move: none" /tmp/plan.out || die "$name: plan moves data"
	[[ $(md5sum <"$spare") == "$before" ]] || die "$name: the dry run wrote to the spare"

	# A first attempt that stops after its second write, then the real one.
	rc=0
	REMAPCTL_MIGRATE_STOP_AFTER_WRITES=2 remapctl migrate --main "$main" --spare "$spare" \
		--batch >/dev/null 2>&1 || rc=$?
	assert_eq 8 "$rc" "$name: the interrupted migration's exit status"
	remapctl migrate --main "$main" --spare "$spare" --batch >/tmp/migrate.out 2>&1 ||
		die "$name: migrate failed: $(cat /tmp/migrate.out)"
	remap-check "$spare" >/dev/null || die "$name: remap-check does not find $spare clean"

	remapctl create "mig-$name" --main "$main" --spare "$spare" >/dev/null ||
		die "$name: create failed"
	_lib_track dm "mig-$name"
	check_reads "$name" "/dev/mapper/mig-$name"
	# Devices in use are refused: the spare is held by the dm device now.
	rc=0
	remapctl migrate --main "$main" --spare "$spare" --batch >/dev/null 2>/tmp/err || rc=$?
	assert_eq 5 "$rc" "$name: migrate of a spare in use: exit status ($(cat /tmp/err))"
	dmsetup remove --noudevsync "mig-$name"
	log "$name: migrated, every sector reads right"
done

# A 4 KiB unit: each remapped unit is filled from the spare and main.
for name in basic stale-checksum; do
	attach "$name"
	rc=0
	REMAPCTL_MIGRATE_STOP_AFTER_WRITES=3 remapctl migrate --main "$main" --spare "$spare" \
		--block-size 4096 --batch >/dev/null 2>&1 || rc=$?
	assert_eq 8 "$rc" "$name (4 KiB): the interrupted migration's exit status"
	remapctl migrate --main "$main" --spare "$spare" --block-size 4096 --batch >/tmp/migrate.out 2>&1 ||
		die "$name (4 KiB): migrate failed: $(cat /tmp/migrate.out)"
	grep -q "move spare sector" /tmp/migrate.out || die "$name (4 KiB): the plan lists no moves"
	remap-check "$spare" >/dev/null || die "$name (4 KiB): remap-check does not find $spare clean"
	remapctl create "mig4k-$name" --main "$main" --spare "$spare" >/dev/null ||
		die "$name (4 KiB): create failed"
	_lib_track dm "mig4k-$name"
	check_reads "$name" "/dev/mapper/mig4k-$name"
	dmsetup remove --noudevsync "mig4k-$name"
	log "$name: migrated to 4 KiB units, every sector reads right"
done

declare -A reason=([count-over-max]="entry-count" [duplicate-main]="main" \
	[spare-out-of-range]="spare")
for name in count-over-max duplicate-main spare-out-of-range; do
	attach "$name"
	before=$(md5sum <"$spare")
	rc=0
	remapctl migrate --main "$main" --spare "$spare" --batch >/tmp/out 2>/tmp/err || rc=$?
	assert_eq 6 "$rc" "$name: exit status"
	grep -q "v3 image is invalid: .*${reason[$name]}" /tmp/err ||
		die "$name: no reason: $(cat /tmp/err)"
	[[ $(md5sum <"$spare") == "$before" ]] || die "$name: refused but wrote to the spare"
	log "$name: refused: $(cat /tmp/err)"
done

# A main of another size is refused.
attach basic
truncate -s 2M "$(losetup -n -O BACK-FILE "$main")"
losetup -c "$main"
rc=0
remapctl migrate --main "$main" --spare "$spare" --batch >/tmp/out 2>/tmp/err || rc=$?
assert_eq 6 "$rc" "main of another size: exit status"
grep -q "main device size does not match" /tmp/err || die "no reason: $(cat /tmp/err)"
log "main of another size: refused"
