#!/bin/bash
# Boot-time activation from /etc/remaptab (remaptab(5)), with a test file:
# `remapctl activate --all` brings up a device whose main is named by
# /dev/disk/by-id and whose spare by its format UUID, one by PARTUUID (an MBR
# partition) and a by-id spare, passes over a nofail entry whose spare is
# missing, skips a noauto one; the data written survives deactivate and
# activate byte for byte; activation is idempotent; a wrong pair is refused
# with the fingerprint mismatch named; an ambiguous UUID (a cloned spare), a
# busy device and a bad line are refused; --wait waits for a device that
# appears late; deactivate --all takes everything down. The guest has no udev, so the
# /dev/disk/by-id links are made here.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

# devno DEV: "major:minor" of a block device, as a table line shows it.
devno() { printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")"; }

# table_devs NAME: "main spare" of a dm-remap device's table.
table_devs() { dmsetup table "$1" | awk '{ print $4, $5 }'; }

active() { dmsetup info "$1" >/dev/null 2>&1; }

format() { remapctl format --batch --main "$1" --spare "$2" >/dev/null; }
uuid_of() { remap-dump -f json "$1" | jq -er .superblock.uuid; }

# by_id NAME DEV: /dev/disk/by-id/NAME -> DEV, as udev would make it.
by_id() {
	mkdir -p /dev/disk/by-id
	ln -sf "../../${2#/dev/}" "/dev/disk/by-id/$1"
}

# A disk with an MBR partition table (disk signature 1234abcd) and one
# partition of 64 MiB from sector 2048: PARTUUID=1234abcd-01.
mbr_disk() {
	local img dev
	img="$(mktemp /tmp/mbr.XXXXXX.img)"
	truncate -s 80M "$img"
	printf '\xcd\xab\x34\x12' | dd of="$img" bs=1 seek=440 conv=notrunc status=none
	printf '\x00\xfe\xff\xff\x83\xfe\xff\xff\x00\x08\x00\x00\x00\x00\x02\x00' |
		dd of="$img" bs=1 seek=446 conv=notrunc status=none
	printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none
	dev="$(losetup --find --show --partscan "$img")" || die "losetup -P failed"
	_lib_track loop "$dev"
	for _ in $(seq 50); do [[ -b ${dev}p1 ]] && break; sleep 0.1; done
	[[ -b ${dev}p1 ]] || die "no partition ${dev}p1"
	echo "${dev}p1"
}

modprobe dm-mod
load_module

main1="$(make_nullb tmain1 64 memory_backed)"
spare1="$(make_loop 16)"
main2="$(mbr_disk)"
spare2="$(make_loop 16)"
main3="$(make_nullb tmain3 32 memory_backed)"
spare3="$(make_loop 16)"
other="$(make_nullb tother 48 memory_backed)"
spare4="$(make_loop 16)"

format "$main1" "$spare1"
format "$main2" "$spare2"
format "$main3" "$spare3"
format "$main3" "$spare4" # for main3, listed with main "other": a wrong pair
u1="$(uuid_of "$spare1")"
u4="$(uuid_of "$spare4")"
by_id test-main1 "$main1"
by_id test-spare2 "$spare2"
blkid -p -o value -s PART_ENTRY_UUID "$main2" | grep -qx 1234abcd-01 ||
	die "the MBR partition has no PARTUUID 1234abcd-01 ($(blkid -p "$main2"))"

tab=/tmp/remaptab
cat >"$tab" <<EOF
# name   main                          spare                        options
data     /dev/disk/by-id/test-main1    UUID=${u1^^}
part     PARTUUID=1234ABCD-01          /dev/disk/by-id/test-spare2  retries=2
ghost    $other                        UUID=7c1f0a2b-3d4e-4f50-8a6b-7c8d9e0f1a2b  nofail
cold     $main3                        $spare3                      noauto
wrong    $other                        UUID=$u4                     noauto
EOF

# --- activate --all -----------------------------------------------------------------
rc=0
remapctl activate --all --remaptab "$tab" >/tmp/out 2>/tmp/err || rc=$?
cat /tmp/out /tmp/err
assert_eq 0 "$rc" "activate --all (a nofail failure only)"
grep -q "^data: main /dev/disk/by-id/test-main1, spare $spare1 (UUID=$u1)$" /tmp/out ||
	die "activate does not say how it resolved data"
grep -q "^ghost: failed (exit 2); nofail, so carrying on$" /tmp/out || die "no nofail note for ghost"
grep -q "ghost (/tmp/remaptab:4): spare UUID=7c1f0a2b-3d4e-4f50-8a6b-7c8d9e0f1a2b not found" /tmp/err ||
	die "ghost: no clear not-found message"
_lib_track dm data
_lib_track dm part
active data || die "data is not active"
active part || die "part is not active"
active ghost && die "ghost is active"
active cold && die "cold (noauto) is active"
assert_eq "$(devno "$main1") $(devno "$spare1")" "$(table_devs data)" "data's devices"
assert_eq "$(devno "$main2") $(devno "$spare2")" "$(table_devs part)" "part's devices"
dmsetup table part | grep -q " 2 retries 2$" || die "part: no retries=2 in $(dmsetup table part)"
log "activate --all: data (by-id + UUID=), part (PARTUUID= + by-id), ghost passed over (nofail)"

# Idempotent.
remapctl activate --all --remaptab "$tab" >/tmp/out 2>/dev/null || die "a second activate --all failed"
grep -q "^data: already active$" /tmp/out || die "no 'already active' for data: $(cat /tmp/out)"
remapctl activate data --remaptab "$tab" | grep -q "^data: already active$" || die "activate data again"

# --- data survives deactivate + activate --------------------------------------------
random_file /tmp/data 32
write_at /dev/mapper/data 0 /tmp/data
remapctl deactivate data --remaptab "$tab" | grep -q "^data: removed$" || die "deactivate data"
active data && die "data still active after deactivate"
remapctl deactivate data --remaptab "$tab" | grep -q "^data: not active$" || die "deactivate twice"
remapctl activate data --remaptab "$tab" >/dev/null || die "activate data after deactivate"
assert_dev_matches /dev/mapper/data 0 /tmp/data
log "32 MiB read back after deactivate and activate by UUID"

# --- refusals ---------------------------------------------------------------------
refuses 6 "fingerprint mismatch" remapctl activate wrong --remaptab "$tab"
active wrong && die "the wrong pair was activated"
refuses 2 "ghost \\(/tmp/remaptab:4\\): spare UUID=.* not found.*attached" \
	remapctl activate ghost --remaptab "$tab"
refuses 2 "has no entry named 'nope' \\(its entries: data, part, ghost, cold, wrong\\)" \
	remapctl activate nope --remaptab "$tab"
printf 'good /dev/vda /dev/vdb\nbad UUID=%s /dev/vdb\n' "$u1" >/tmp/badtab
refuses 16 "^remapctl: /tmp/badtab:2: main 'UUID=.*': UUID= is not accepted for the main" \
	remapctl activate --all --remaptab /tmp/badtab
refuses 16 "either NAME .* or --all" remapctl activate --remaptab "$tab"

# A device that exists under the name with other devices.
remapctl deactivate cold --remaptab "$tab" >/dev/null
remapctl create cold --main "$main3" --spare "$spare4" >/dev/null
_lib_track dm cold
refuses 5 "already active, but over main .* deactivate it first" remapctl activate cold --remaptab "$tab"
remapctl remove cold >/dev/null

# Ambiguous: a second loop device over spare3's file shows the same format
# UUID (as a dd copy of a spare would), and neither is held by another device.
u3="$(uuid_of "$spare3")"
clone="$(losetup --find --show "$(losetup -n -O BACK-FILE "$spare3")")"
printf 'amb %s UUID=%s\n' "$main3" "$u3" >/tmp/ambtab
refuses 5 "is ambiguous: .*$spare3.* all match" remapctl activate amb --remaptab /tmp/ambtab
refuses 5 "is ambiguous: .*$clone.* all match" remapctl activate amb --remaptab /tmp/ambtab
active amb && die "an ambiguous entry was activated"
losetup -d "$clone"

# Busy: an open device is not deactivated.
exec 3</dev/mapper/data
refuses 5 "is open" remapctl deactivate data --remaptab "$tab"
exec 3<&-

# --- noauto by name, and --wait for a device that appears late -----------------------
rm /dev/disk/by-id/test-spare2
remapctl deactivate part --remaptab "$tab" >/dev/null
refuses 2 "spare /dev/disk/by-id/test-spare2 not found" remapctl activate part --remaptab "$tab"
(sleep 2 && by_id test-spare2 "$spare2") &
start=$(date +%s)
remapctl activate part --remaptab "$tab" --wait 30 >/tmp/out || die "activate --wait failed"
wait
grep -q "^part: waiting up to 30 s for its devices to appear$" /tmp/out || die "no waiting note"
(($(date +%s) - start < 20)) || die "activate --wait took too long"
active part || die "part not active after --wait"
remapctl activate cold --remaptab "$tab" >/dev/null || die "activate cold (noauto) by name"
active cold || die "cold not active"
log "--wait: part activated once its spare appeared; noauto cold activated by name"

# --- deactivate --all ------------------------------------------------------------
remapctl deactivate --all --remaptab "$tab" | tee /tmp/out
for n in data part cold; do
	active "$n" && die "$n still active after deactivate --all"
done
grep -q "^ghost: not active$" /tmp/out || die "deactivate --all: no word on ghost"
# Reverse order: cold (line 5) before data (line 2).
[[ $(grep -n '^cold:' /tmp/out | cut -d: -f1) -lt $(grep -n '^data:' /tmp/out | cut -d: -f1) ]] ||
	die "deactivate --all is not in reverse order"
remapctl deactivate --all --remaptab "$tab" >/dev/null || die "deactivate --all twice"
remapctl activate --all --remaptab /tmp/none | grep -q "no devices to activate" ||
	die "a missing remaptab is not 'no devices'"
remap-check "$spare1" >/dev/null || die "remap-check does not find $spare1 clean"
log "deactivate --all took every device down, in reverse order"
