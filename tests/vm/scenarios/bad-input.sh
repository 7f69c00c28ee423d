#!/bin/bash
# Hostile input to the kernel target. Throws at it constructor lines with
# garbage, overflowing numbers, the same device twice, devices that do not
# exist, bad feature arguments and spares that are too small; messages with
# unknown names and missing, extra, overflowing or negative arguments; and
# spares whose metadata was corrupted field by field: a bad CRC behind
# valid-looking fields, a valid CRC over insane fields (restamped with
# tests/support/remap-test-corrupt), truncated spares, and the fuzzers' seed
# images (tests/fuzz/corpus/v4-load). Every input must end in a clean
# refusal (dmsetup fails and dmesg carries the target's message, or the
# message answers -EINVAL) or, for a corruption the second copy covers, in a
# working device; a healthy dm-remap device stays live throughout and must
# still serve its data at the end. The host checks dmesg for WARNING, BUG,
# Oops and friends.
#
# The last line counts the inputs: "bad-input: N inputs, R refused, A accepted".
# DMREMAP_FULL=1 tries more values per metadata field and both copies.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

corrupt="$DMREMAP_BUILD/tests/support/remap-test-corrupt"
[[ -x $corrupt ]] || die "no $corrupt: build the tree first"
full=${DMREMAP_FULL:-0}
tried=0
refusals=0
accepted=0

load_module

# A healthy device with data and a remap, live during everything below.
okmain="$(make_nullb okmain 16 memory_backed)"
okspare="$(make_loop 4)"
format_spare "$okmain" "$okspare"
ok="$(dm_create ok "0 $(sectors "$okmain") remap $okmain $okspare")"
random_file /tmp/ok.data 2
write_at "$ok" 0 /tmp/ok.data
dmsetup message ok 0 remap 3 | grep -q '^remapped 3 ' || die "remap of unit 3 on the healthy device"

main="$(make_nullb rmain 32 memory_backed)"
spare="$(make_loop 8)"
total=$(sectors "$main")
main_devt=$(printf '%d:%d' "0x$(stat -c %t "$main")" "0x$(stat -c %T "$main")")

# dmesg_since N: the kernel log after its first N lines.
dmesg_since() { dmesg | tail -n +"$(($1 + 1))"; }

# refused TABLE REGEX: creation fails and the new dmesg lines match REGEX.
refused() {
	local before
	before=$(dmesg | wc -l)
	tried=$((tried + 1))
	if dmsetup create bad --noudevsync --table "$1" 2>/tmp/err; then
		dm_remove bad
		die "table '$1' was accepted"
	fi
	dmesg_since "$before" | grep -Eq "$2" ||
		die "no '$2' in dmesg for '$1': $(dmesg_since "$before" | tail -3)"
	refusals=$((refusals + 1))
}

# either TABLE: a table whose refusal is fine but must be clean; when it is
# accepted, the device must read and then go away.
either() {
	tried=$((tried + 1))
	if dmsetup create bad --noudevsync --table "$1" 2>/tmp/err; then
		_lib_track dm bad
		dmsetup mknodes bad || true
		dmsetup status bad >/dev/null || die "no status for accepted table '$1'"
		# Reads work, or fail with EIO only where a unit is pending.
		if ! dd if=/dev/mapper/bad of=/dev/null bs=4096 count=64 iflag=direct status=none 2>/tmp/err; then
			grep -q "Input/output error" /tmp/err && (($(remap_status bad pending) > 0)) ||
				die "accepted table '$1' cannot be read: $(cat /tmp/err)"
		fi
		dm_remove bad
		accepted=$((accepted + 1))
	else
		dmesg | tail -n 8 | grep -Eq 'device-mapper: table: .*remap: ' ||
			die "refusal of '$1' left no message in dmesg: $(dmesg | tail -n 3)"
		refusals=$((refusals + 1))
	fi
}

# --- constructor lines -----------------------------------------------------------

format_spare "$main" "$spare"
t="0 $total remap"
refused "$t" "Not enough arguments"
refused "$t garbage" "Not enough arguments"
refused "$t ;;; '''" "Main device lookup failed"
refused "$t x y" "Main device lookup failed"
refused "$t $main y" "Spare device lookup failed"
refused "$t /dev/does-not-exist $spare" "Main device lookup failed"
refused "$t $main /dev/does-not-exist" "Spare device lookup failed"
refused "$t $main /tmp" "Spare device lookup failed"
refused "$t $main /proc/version" "Spare device lookup failed"
refused "$t 0:0 $spare" "Main device lookup failed"
refused "$t $main 259:999999" "Spare device lookup failed"
refused "$t $main 99999999999:1" "Spare device lookup failed"
refused "$t $main 7:99999999999999999999" "Spare device lookup failed"
refused "$t $main -1:-1" "Spare device lookup failed"
refused "$t $main $main" "Main and spare are the same device"
refused "$t $main $main_devt" "Main and spare are the same device"
refused "$t $spare $spare" "Main and spare are the same device"
refused "0 $((total + 1)) remap $main $spare" "Target length exceeds the main device size"
refused "0 $((total * 1024)) remap $main $spare" "Target length exceeds the main device size"
for f in "99999999999999999999" "18446744073709551616" "4294967296" "-1" "7" "0x2" "2x" "" ; do
	[[ -z $f ]] && continue
	refused "$t $main $spare $f retries 1" "Invalid number of feature arguments|Too many arguments|Not enough arguments|Unknown or incomplete"
done
for v in 101 4294967295 4294967296 18446744073709551616 99999999999999999999 -1 0x10 1e3 five ""; do
	[[ -z $v ]] && continue
	refused "$t $main $spare 2 retries $v" "Invalid retries"
done
refused "$t $main $spare 1 retries" "Unknown or incomplete feature argument"
refused "$t $main $spare 2 retries" "Not enough arguments|Invalid number of feature arguments|Invalid retries"
refused "$t $main $spare 2 bogus 1" "Unknown or incomplete feature argument"
refused "$t $main $spare 1 bogus" "Unknown or incomplete feature argument"
refused "$t $main $spare 3 retries 1 extra" "Unknown or incomplete feature argument"
refused "$t $main $spare 0 junk" "Too many arguments"
refused "$t $main $spare 2 retries 1 junk" "Too many arguments"
refused "$t $main $spare 2 retries 1 2 retries 1" "Too many arguments"
refused "$t $main $spare 6 a b c d e f" "Unknown or incomplete feature argument"
refused "$t $main $spare 7 a b c d e f g" "Invalid number of feature arguments"
either "$t $main $spare 2 RETRIES 5"
either "$t $main $spare 4 retries 1 retries 2"
either "$t $main $spare 0"
log "constructor lines: $tried inputs"

# Spares that are too small: views of the formatted spare cut short.
spare_total=$(sectors "$spare")
for len in 1 7 8 9 15 16 17 64 $((spare_total / 2)) $((spare_total - 1)); do
	dmsetup create short --noudevsync --table "0 $len linear $spare 0" || die "linear $len over $spare"
	_lib_track dm short
	dmsetup mknodes short || true
	if ((len < 16)); then
		refused "$t $main /dev/mapper/short" "Spare device is too small for dm-remap metadata"
	else
		refused "$t $main /dev/mapper/short" "Metadata layout does not fit the spare device"
	fi
	dm_remove short
done
log "constructor lines and short spares: $tried inputs"

# --- messages ------------------------------------------------------------------

units=$(( $(sectors "$okmain") / ($(remap_status ok unit) / 512) ))
# bad_message ARGS...: the message fails with EINVAL.
bad_message() {
	tried=$((tried + 1))
	if dmsetup message -- ok 0 "$@" >/tmp/msg 2>&1; then
		die "message '$*' was accepted: $(cat /tmp/msg)"
	fi
	grep -q "Invalid argument" /tmp/msg || die "message '$*' failed without EINVAL: $(cat /tmp/msg)"
	refusals=$((refusals + 1))
}
bad_message frobnicate
bad_message frobnicate 1 2 3
bad_message QUERYX 1
bad_message query
bad_message query 1 2
bad_message query -1
bad_message query "$units"
bad_message query 18446744073709551615
bad_message query 18446744073709551616
bad_message query 99999999999999999999999999
bad_message query 0x10
bad_message query 1e3
bad_message query ""
bad_message remap
bad_message remap 1 2
bad_message remap -5
bad_message remap "$units"
bad_message remap 18446744073709551615
bad_message remap 99999999999999999999999999
bad_message remap x
bad_message list x
bad_message list 0 0
bad_message list 0 -1
bad_message list 0 99999999999
bad_message list 0 18446744073709551616
bad_message list 1 2 3
bad_message list -1
bad_message stats extra
bad_message clear_stats 1
bad_message scan
bad_message scan bogus
bad_message scan start 0
bad_message scan start -1
bad_message scan start 99999999999999999999
bad_message scan start 1 2
bad_message scan stop now
# Out of range but well formed: an empty list, not an error.
tried=$((tried + 1))
dmsetup message -- ok 0 list 18446744073709551615 5 >/tmp/msg || die "list past the end failed"
[[ ! -s /tmp/msg ]] || die "list past the end answered '$(cat /tmp/msg)'"
accepted=$((accepted + 1))
log "messages: $tried inputs so far"

# --- corrupted metadata ----------------------------------------------------------

# A spare with entries in its table: two remaps through the target.
format_spare "$main" "$spare"
dev="$(dm_create r "0 $total remap $main $spare")"
dmsetup message r 0 remap 10 | grep -q '^remapped 10 ' || die "remap of unit 10"
dmsetup message r 0 remap 20 | grep -q '^remapped 20 ' || die "remap of unit 20"
dm_remove r
ta=$(dump_get "$spare" 'd["superblock"]["table_a_start"]')
tb=$(dump_get "$spare" 'd["superblock"]["table_b_start"]')
pool=$(dump_get "$spare" 'd["superblock"]["pool_start"]')
meta_blocks=$((pool / 8))
dd if="$spare" of=/tmp/pristine bs=4096 count="$meta_blocks" status=none
restore() { dd if=/tmp/pristine of="$spare" bs=4096 conv=notrunc,fsync status=none; }

# mutate [--keep-crc] BLOCKS OFFSET WIDTH VALUE: from the pristine spare,
# VALUE at OFFSET of each block in BLOCKS ("0 1" for both superblocks).
mutate() {
	local keep=() b edits=()
	[[ $1 == --keep-crc ]] && { keep=(--keep-crc); shift; }
	for b in $1; do edits+=("$b:$2:$3:$4"); done
	"$corrupt" "${keep[@]}" --from /tmp/pristine "$spare" "${edits[@]}" || die "remap-test-corrupt $*"
}

max_of() { case $1 in 1) echo 255 ;; 2) echo 65535 ;; 4) echo 4294967295 ;; 8) echo 18446744073709551615 ;; esac; }
# values NAME WIDTH: the values tried in a field. CI tries the largest value
# in every field and zero in the fields that size things; the full run
# tries a spread of values in every field.
values() {
	local name=$1 w=$2
	if ((full)); then
		echo 0 1 2 7 512 4096 65536 2147483648 "$(max_of "$w")"
		((w == 8)) && echo 36028797018963968 9223372036854775808
		return 0
	fi
	echo "$(max_of "$w")"
	case $name in
	magic | version_major | unit_bytes | spare_sectors | pool_blocks | table_blocks | \
		main_sectors | first_slot | used | e0_state | e0_main_block) echo 0 ;;
	esac
	return 0
}

# Superblock fields (docs/format-v4.md): name offset width.
sb_fields="magic 0 8
type 12 2
reserved0 14 2
blocknr 16 8
seq 24 8
uuid 32 8
uuid_tail 40 8
version_major 48 4
version_minor 52 4
incompat 56 4
ro_compat 60 4
compat 64 4
flags 68 4
unit_bytes 72 4
reserved1 76 4
spare_sectors 80 8
pool_start 88 8
pool_blocks 96 8
table_a_start 104 8
table_b_start 112 8
table_blocks 120 8
format_time 128 8
main_sectors 136 8
main_logical_block_size 144 4
main_physical_block_size 148 4
main_identity 152 1
scan_cursor 280 8
scan_pass 288 8
creator 296 1
reserved2 312 8
padding 1024 1"
copies=("0 1")
((full)) && copies+=("0" "1")
while read -r name off width; do
	for blocks in "${copies[@]}"; do
		for v in $(values "$name" "$width"); do
			mutate "$blocks" "$off" "$width" "$v"
			either "$t $main $spare"
		done
	done
	# A value behind a stale CRC: refused unless the other copy covers it.
	if ((full)) || [[ " magic unit_bytes spare_sectors table_blocks main_sectors " == *" $name "* ]]; then
		mutate --keep-crc "0 1" "$off" "$width" 1
		either "$t $main $spare"
	fi
done <<<"$sb_fields"
log "superblock fields: $tried inputs so far"

# Table block 0 (entries 0 and 1 are the remaps of units 10 and 20), both copies.
tbl_fields="magic 0 8
type 12 2
reserved0 14 2
blocknr 16 8
seq 24 8
uuid 32 8
first_slot 48 8
used 56 4
reserved 60 4
e0_main_block 64 8
e0_spare_block 72 8
e0_event_time 80 8
e0_error_count 88 4
e0_state 92 1
e0_flags 93 1
e0_reserved 94 2
e1_main_block 96 8
e1_spare_block 104 8
e5_state 252 1
e5_main_block 224 8
e125_state 4092 1"
while read -r name off width; do
	for v in $(values "$name" "$width"); do
		mutate "$ta $tb" "$off" "$width" "$v"
		either "$t $main $spare"
	done
	if ((full)) || [[ " e0_main_block used " == *" $name "* ]]; then
		mutate --keep-crc "$ta $tb" "$off" "$width" 3
		either "$t $main $spare"
	fi
done <<<"$tbl_fields"
# Cross-entry damage with valid CRCs: one main unit or one spare block twice.
mutate "$ta $tb" 96 8 10 # entry 1 maps main unit 10 too
refused "$t $main $spare" "maps one main block twice"
restore
spare0=$(dump_get "$spare" '[e["spare_block"] for e in d["entries"]][0]')
mutate "$ta $tb" 104 8 "$spare0" # entry 1 uses entry 0's spare block
refused "$t $main $spare" "uses one spare block twice"
log "table fields: $tried inputs so far"

# A table that claims more than the module can hold: a spare of 20 GiB whose
# tail is a zero target, so the geometry fits, with a table of 1.1 million
# blocks (139 million entries, 2.2 GB of lookup) in the superblock.
restore
big_tail=$((20 * 1024 * 1024 * 2))
dmsetup create huge --noudevsync <<EOF || die "cannot create the huge spare"
0 $spare_total linear $spare 0
$spare_total $big_tail zero
EOF
_lib_track dm huge
dmsetup mknodes huge || true
huge_sectors=$((spare_total + big_tail))
T=1100000
for b in 0 1; do
	"$corrupt" "$spare" "$b:80:8:$huge_sectors" "$b:120:8:$T" "$b:112:8:$((ta + T))" \
		"$b:88:8:$(((ta + 2 * T) * 8))" "$b:96:8:1" || die "cannot write the huge superblock"
done
refused "$t $main /dev/mapper/huge" "Cannot allocate memory for the remap table"
dm_remove huge
log "huge table: $tried inputs so far"

# --- the fuzzers' seed images --------------------------------------------------------

# The seeds were made for a main of 4103 sectors with 512-byte blocks.
fmain="$(dm_create fmain "0 4103 linear $main 0")"
fspare="$(make_loop 1)"
for seed in "$DMREMAP_SRC"/tests/fuzz/corpus/v4-load/*; do
	dd if=/dev/zero of="$fspare" bs=1M count=1 conv=fsync status=none
	tail -c +2 "$seed" | dd of="$fspare" conv=notrunc,fsync status=none
	either "0 4103 remap $fmain $fspare"
done
log "seed images: $tried inputs so far"

# --- the healthy device still works ----------------------------------------------------

assert_dev_matches "$ok" 0 /tmp/ok.data
dmsetup message ok 0 query 3 | grep -q '^3 remapped ' || die "the healthy device lost its remap"
dmsetup message ok 0 stats | grep -q '^reads=' || die "no stats from the healthy device"
random_file /tmp/ok2.data 1
write_at "$ok" 4096 /tmp/ok2.data
assert_dev_matches "$ok" 4096 /tmp/ok2.data
dmsetup status ok | grep -q ' remap 4 ok ' || die "healthy device not in mode ok: $(dmsetup status ok)"
echo "bad-input: $tried inputs, $refusals refused, $accepted accepted"
