#!/bin/bash
# The lookup's delta and its folds: remaps are recorded in a small delta in
# front of the sorted table, which the worker folds into a new table once
# the delta holds 64 entries (at this size). 600-odd remaps in runs and
# alone, pending units, proactive remaps and pending units cleared by a
# rewrite after a fold took them into the table (removals in the delta that
# hide the table's entries). After every step every byte reads back, and
# the list (whole and in pages), the status count, a reloaded instance and
# the offline dump agree on the table.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb rbase 64 memory_backed)"
total=$(sectors "$base")
units=$((total / 8)) # unit = 4 KiB = 8 sectors

# Bad units: 20 runs of 16 (one range each) and 300 lone units between.
bad_ranges=() want_units=()
for ((r = 0; r < 20; r++)); do
	u=$((r * 800 + 100))
	bad_ranges+=("$((u * 8)):128")
	for ((i = 0; i < 16; i++)); do want_units+=($((u + i))); done
done
for ((k = 0; k < 300; k++)); do
	u=$((k * 53 + 7))
	((u % 800 >= 100 && u % 800 < 116)) && continue # inside a run
	bad_ranges+=("$((u * 8 + 3)):1")
	want_units+=("$u")
done
main="$(bad_disk rmain "$base" "${bad_ranges[@]}")"
spare="$(make_loop 16)"
format_spare "$main" "$spare" 4096
dev="$(dm_create r "0 $total remap $main $spare")"
nr_bad=${#want_units[@]}
log "$nr_bad bad units in ${#bad_ranges[@]} ranges"

# sorted_units LIST...: one per line, numerically sorted.
sorted_units() { printf '%s\n' "$@" | sort -n; }

# check_table NAME STATE UNITS...: the list (folded) has exactly UNITS in
# STATE, and the status counts them.
check_table() {
	local name=$1 state=$2
	shift 2
	sorted_units "$@" >/tmp/want.units
	remap_list "$name" | awk -v s="$state" '$2 == s {print $1}' >/tmp/got.units
	diff /tmp/want.units /tmp/got.units >&2 ||
		die "$state units in the list differ from the expected ones"
}

# 1. The whole device in 1 MiB writes: every bad unit is remapped, a 1 MiB
# bio's bad units in one commit; the delta is folded many times.
random_file /tmp/data 64
write_at "$dev" 0 /tmp/data
assert_eq "$nr_bad" "$(remap_status r entries)" "entries after the writes"
assert_dev_matches "$dev" 0 /tmp/data
log "64 MiB written over $nr_bad bad units, read back byte-exact"

# 2. Three healthy units become unreadable and are read: pending.
new_bad=(3001 9003 15005)
set_bad rmain "$base" "${bad_ranges[@]}" $((3001 * 8)):8 $((9003 * 8)):8 $((15005 * 8)):8
for u in "${new_bad[@]}"; do
	! dd if="$dev" of=/dev/null bs=4096 skip="$u" count=1 iflag=direct status=none 2>/dev/null ||
		die "read of unreadable unit $u succeeded"
done
assert_eq 3 "$(remap_status r pending)" "pending units"
assert_eq $((nr_bad + 3)) "$(remap_status r entries)" "entries with pending units"
check_table r pending "${new_bad[@]}"

# 3. Proactive remaps of 100 healthy units through the message, each its
# own commit: the delta goes past the fold limit, and a fold takes the
# pending units into the table.
proactive=()
for ((k = 0; k < 100; k++)); do
	u=$((k * 157 + 50))
	printf '%s\n' "${want_units[@]}" "${new_bad[@]}" | grep -qx "$u" && continue
	dmsetup message r 0 remap "$u" >/dev/null || die "remap $u failed"
	proactive+=("$u")
done
want_units+=("${proactive[@]}")
assert_eq $((${#want_units[@]} + 3)) "$(remap_status r entries)" "entries after proactive remaps"
check_table r remapped "${want_units[@]}"

# 4. The drive heals and two pending units are rewritten whole: their
# entries are removed (removals in the delta hide the table's entries), and
# the units read back from main.
set_bad rmain "$base" "${bad_ranges[@]}"
dd if=/dev/urandom of=/tmp/unit bs=4096 count=1 status=none
for u in 3001 9003; do
	write_at "$dev" $((u * 4096)) /tmp/unit
	dd if=/tmp/unit of=/tmp/data bs=4096 seek="$u" conv=notrunc status=none
done
assert_eq 1 "$(remap_status r pending)" "pending units after rewrites"
assert_eq $((${#want_units[@]} + 1)) "$(remap_status r entries)" "entries after rewrites"
for u in 3001 9003; do
	read_at "$dev" $((u * 4096)) 4096 /tmp/got
	cmp /tmp/unit /tmp/got >&2 || die "rewritten unit $u reads back wrong"
done
# Unit 15005 is pending: its read fails, the rest must match.
dd if=/dev/zero of=/tmp/data bs=4096 seek=15005 count=1 conv=notrunc status=none
# range_matches FIRST_UNIT COUNT: the device's units read back as /tmp/data.
range_matches() {
	read_at "$dev" $(($1 * 4096)) $(($2 * 4096)) /tmp/got
	dd if=/tmp/data of=/tmp/want bs=4096 skip="$1" count="$2" status=none
	cmp /tmp/want /tmp/got >&2
}
range_matches 0 15005 || die "contents before unit 15005 differ"
range_matches 15006 $((units - 15006)) || die "contents after unit 15005 differ"
log "pending, cleared and proactive units: contents as expected"

# 5. The list, with removals in the delta: whole, and in pages of 37 that
# start at positions (the delta's entries counted in their place).
check_table r remapped "${want_units[@]}"
check_table r pending 15005
dmsetup message r 0 list >/tmp/whole
nr=$(wc -l </tmp/whole)
assert_eq $((${#want_units[@]} + 1)) "$nr" "lines in the list"
: >/tmp/paged
for ((from = 0; from < nr; from += 37)); do
	dmsetup message r 0 list "$from" 37 >>/tmp/paged || die "list $from 37 failed"
done
cmp /tmp/whole /tmp/paged >&2 || die "the list in pages differs from the whole list"
assert_eq "" "$(dmsetup message r 0 list "$nr" 5)" "a list past the end"

# 6. A reloaded instance reads the same table from the spare.
dmsetup table r >/tmp/table
dmsetup load r /tmp/table
dmsetup suspend r
dmsetup resume r
check_table r remapped "${want_units[@]}"
check_table r pending 15005
range_matches 0 15005 || die "contents differ after the reload"

# 7. The offline dump agrees.
dm_remove r
sorted_units "${want_units[@]}" >/tmp/want.units
dump_get "$spare" '[e["main_block"] for e in d["entries"] if e["state"] == "remapped"]' |
	sort -n >/tmp/got.units
diff /tmp/want.units /tmp/got.units >&2 || die "the dump's remapped units differ"
assert_eq 15005 "$(dump_get "$spare" '[e["main_block"] for e in d["entries"] if e["state"] == "pending"]')" \
	"the dump's pending unit"
log "lookup-fold OK"
