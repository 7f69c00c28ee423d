#!/bin/bash
# Hard kills (docs/reliability.md): the guest side of tests/vm/hard-kill.sh.
#
# The host attaches two images, /dev/vda (main's base) and /dev/vdb (the
# spare), with cache=writethrough, so a write QEMU acknowledged is in the
# image file and a kill -9 of QEMU cannot lose it. Each boot:
#   1. (ROUND > 1) checks the previous boot, which the host killed while it
#      wrote: remap-check finds nothing or only stale copies (a commit cut
#      between its two writes); the target activates; every write acknowledged
#      in the previous boot's journal (PREV_JOURNAL) reads back exactly;
#      after the target is removed remap-check exits 0;
#   2. (PHASE=run) adds new bad units to main (`error` segments; round r has
#      the bad units of rounds 1..r), and writes through the target until
#      the host kills the VM, journaling every acknowledgement to
#      $RESULTS/journal (9p, written through to the host before the next
#      I/O). It creates $RESULTS/writing first, to tell the host.
# PHASE=check does step 1 only: the last boot.
#
# Without disks (a plain `scripts/vm/run hard-kill`, as in `ctest -L vm`)
# the same steps run in one boot over loop devices, with kill -9 of the
# writer process instead of QEMU: a smoke test of the scenario itself.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

T="$DMREMAP_BUILD/tests/support"
U=4096
MAIN_MB=16
SPARE_MB=8
NEW_BAD=24 # bad units added per round
load_module

if [[ -n ${PHASE:-} ]]; then
	[[ $PHASE == run || $PHASE == check ]] || die "PHASE must be run or check (got '$PHASE')"
	[[ ${ROUND:-} =~ ^[1-9][0-9]*$ && ${SEED0:-} =~ ^[0-9]+$ ]] || die "ROUND and SEED0 must be numbers"
	base=/dev/vda spare=/dev/vdb
	[[ -b $base && -b $spare ]] || die "no /dev/vda and /dev/vdb: run this through tests/vm/hard-kill.sh"
	standalone=0
else
	ROUND=1 SEED0=$((RANDOM * 32768 + RANDOM)) PHASE=run
	base="$(make_loop $MAIN_MB)" spare="$(make_loop $SPARE_MB)"
	standalone=1
fi
total=$(sectors "$base")
assert_eq $((MAIN_MB * 2048)) "$total" "size of $base"
units=$((total / 8))
log "round $ROUND ($PHASE), seed $SEED0"

# bad_units R: the bad units of rounds 1..R, sorted.
bad_units() {
	python3 - "$1" "$SEED0" "$units" "$NEW_BAD" <<'PY'
import random, sys
rounds, seed, units, new = map(int, sys.argv[1:])
bad = set()
for r in range(1, rounds + 1):
    bad |= set(random.Random(seed * 1000 + r).sample(range(units), new))
print(" ".join(map(str, sorted(bad))))
PY
}
# setup R: hk-main with the bad units of rounds 1..R (even units fail
# whole, odd ones on one sector), and the target hk-r.
setup() {
	local specs=() u
	for u in $(bad_units "$1"); do
		if ((u % 2)); then specs+=("$((u * 8 + u % 8)):1"); else specs+=("$((u * 8)):8"); fi
	done
	main="$(bad_disk hk-main "$base" "${specs[@]}")"
}

# check_spare WHEN ALLOW_STALE: remap-check on the spare.
check_spare() {
	local json rc=0 codes
	json="$(remap-check -n --json "$spare")" || rc=$?
	codes="$(grep -o '"code": "[^"]*"' <<<"$json" | cut -d'"' -f4 | sort | uniq -c | xargs || true)"
	# A commit cut by the kill leaves one copy old (stale, or zeroed if it
	# was the block's first commit) or torn: non-fatal findings that a
	# rewrite from the good copy fixes, as the target does when it activates.
	if ((rc == 4)) && [[ $2 == 1 ]] && ! grep '"code"' <<<"$json" |
		grep -vE '"severity": "non-fatal", "code": "(table|superblock)-copy-(stale|damaged)".*"fixable_in_place": true' |
		grep -q .; then
		log "$1: old or torn copies (an interrupted commit): $codes"
		return 0
	fi
	((rc == 0)) || {
		echo "$json"
		die "$1: remap-check exited $rc: $codes"
	}
}

# verify_previous R JOURNAL: step 1 for round R's journal.
verify_previous() {
	local r=$1 journal=$2 out
	[[ -s $journal ]] || die "round $r left no journal ($journal)"
	setup "$r"
	check_spare "after the kill in round $r" 1
	dev="$(dm_create hk-r "0 $total remap $main $spare")"
	log "after the kill in round $r: $(dmsetup status hk-r | cut -d' ' -f4-13)"
	out="$("$T/remap-test-workload" verify --dev "$dev" --journal "$journal" --seed $((SEED0 + r)))" || {
		echo "$out"
		die "round $r: acknowledged writes lost after the kill"
	}
	log "round $r: $out"
	dm_remove hk-r
	dm_remove hk-main
	check_spare "after activation (round $r)" 0
}

if [[ $standalone == 0 ]]; then
	if ((ROUND == 1)); then
		format_spare "$base" "$spare" $U
	else
		verify_previous $((ROUND - 1)) "${PREV_JOURNAL:?PREV_JOURNAL must name the previous journal}"
	fi
	[[ $PHASE == check ]] && {
		log "hard-kill check OK"
		exit 0
	}
else
	format_spare "$base" "$spare" $U
fi

# Step 2: write until killed.
setup "$ROUND"
dev="$(dm_create hk-r "0 $total remap $main $spare")"
journal=$RESULTS/journal
: >"$journal"
wargs=(--dev "$dev" --journal "$journal" --seed $((SEED0 + ROUND)) --units "0:$units" --unit "$U"
	--bad "$(bad_units "$ROUND" | tr ' ' ,)")
if ((standalone == 0)); then
	: >"$RESULTS/writing"
	log "writing until the host kills this VM"
	"$T/remap-test-workload" write "${wargs[@]}" --ops 100000000
	die "the workload ended before the kill"
fi

# Standalone: kill -9 the writer after a random 1..4 s, then step 1.
"$T/remap-test-workload" write "${wargs[@]}" --ops 100000000 &
writer=$!
sleep $((1 + RANDOM % 4))
kill -9 "$writer"
wait "$writer" || true
log "writer killed after $(grep -c '^[FS] ' "$journal") acknowledgements, $(remap_status hk-r entries) remaps"
dm_remove hk-r
dm_remove hk-main
cp "$journal" /tmp/journal.1
verify_previous 1 /tmp/journal.1
log "hard-kill (standalone) OK"
