#!/bin/bash
# remapctl end to end on the real module and libdevmapper: format, create,
# writes through failing sectors, status (human, JSON, Prometheus), list,
# query, remap, stats, remove. And its refusals, each with its exit code and
# a next step: the module not loaded, an ext4 spare without --force, a spare
# already formatted, no terminal without --batch, an unformatted spare,
# needs_check, a mismatched main, a name that is taken, an open device.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

# Every refusal here gives its reason on one line (refuses is in lib.sh).
REFUSES_ONE_LINE=1

json_field() { jq -er "$2" <<<"$1" || die "no $2 in JSON: $1"; }

modprobe dm-mod
base="$(make_nullb rbase 64 memory_backed)"
total=$(sectors "$base")
# 4 KiB units: sectors 1003 (unit 125) and 20000-20007 (unit 2500) fail.
main="$(bad_disk rmain "$base" 1003:1 20000:8)"
other="$(make_nullb rother 48 memory_backed)"
spare="$(make_loop 16)"
spare2="$(make_loop 16)"

# --- format -------------------------------------------------------------------
mkfs.ext4 -q -F -L data "$spare" >/dev/null
refuses 6 "not empty \\(found: ext4 filesystem, label 'data'\\).*--force" \
	remapctl format --main "$main" --spare "$spare" --batch
refuses 6 "not a terminal.*--batch" remapctl format --main "$main" --spare "$spare" --force
refuses 16 "same device" remapctl format --main "$main" --spare "$main" --batch
refuses 16 "block-size" remapctl format --main "$main" --spare "$spare" --batch --force \
	--block-size 3000
remapctl format --main "$main" --spare "$spare" --batch --force --block-size 4096 |
	tee /tmp/format.out
grep -q "Activate it with: remapctl create NAME --main $main --spare $spare" /tmp/format.out ||
	die "format names no next step"
blkid -p "$spare" >/dev/null 2>&1 && die "blkid still finds a signature on $spare after format"
remap-check "$spare" >/dev/null || die "remap-check does not find $spare clean"
refuses 6 "already a dm-remap spare.*remapctl create" \
	remapctl format --main "$main" --spare "$spare" --batch

# The typed confirmation, on a terminal (script(1) gives it one).
if script -qec true /dev/null >/dev/null 2>&1; then
	rc=0
	printf 'yes\n' | script -qec "remapctl format --main $main --spare $spare2" /dev/null \
		>/tmp/tty.out 2>&1 || rc=$?
	assert_eq 6 "$rc" "format answered 'yes' instead of YES"
	grep -q "Type 'YES'" /tmp/tty.out || die "no prompt: $(cat /tmp/tty.out)"
	grep -q "not confirmed; nothing was written" /tmp/tty.out || die "no refusal: $(cat /tmp/tty.out)"
	printf 'YES\n' | script -qec "remapctl format --main $main --spare $spare2" /dev/null \
		>/tmp/tty.out 2>&1 || die "format answered YES failed: $(cat /tmp/tty.out)"
	remap-check "$spare2" >/dev/null || die "$spare2 not formatted after YES"
	dd if=/dev/zero of="$spare2" bs=1M count=1 conv=notrunc status=none
	log "typed confirmation: 'yes' refused, 'YES' formats"
else
	log "no pseudo-terminal in this guest: typed confirmation not tested"
fi

# Not root: permission denied, with the next step.
refuses 3 "permission denied.*root" setpriv --reuid=65534 --regid=65534 --clear-groups \
	remapctl list

# --- module not loaded ----------------------------------------------------------
refuses 7 "modprobe dm-remap" remapctl create r --main "$main" --spare "$spare"
load_module

# --- create refusals --------------------------------------------------------------
refuses 4 "not formatted for dm-remap.*remapctl format" \
	remapctl create r --main "$main" --spare "$spare2"
remapctl format --main "$other" --spare "$spare2" --batch >/dev/null
refuses 6 "fingerprint mismatch.*--main" remapctl create r --main "$main" --spare "$spare2"
"$DMREMAP_BUILD/tests/support/remap-test-sb" "$spare2" needs_check 1
refuses 4 "needs_check.*remap-check" remapctl create r --main "$other" --spare "$spare2"
"$DMREMAP_BUILD/tests/support/remap-test-sb" "$spare2" needs_check 0
refuses 2 "does not exist" remapctl create r --main /dev/nope --spare "$spare"
refuses 16 "retries" remapctl create r --main "$main" --spare "$spare" --retries 101

# --- create, write, status ---------------------------------------------------------
dev="$(remapctl create r --main "$main" --spare "$spare" --retries 2)"
_lib_track dm r
assert_eq /dev/mapper/r "$dev" "create prints the node"
[[ -b $dev ]] || die "no block device $dev"
assert_eq "REMAP-" "$(dmsetup info -c --noheadings -o uuid r | cut -c1-6)" "dm UUID prefix"
dmsetup table r | grep -q " remap .* 2 retries 2$" || die "table: $(dmsetup table r)"
refuses 5 "already exists.*another name" remapctl create r --main "$other" --spare "$spare2"
refuses 5 "in use by dm device 'r'" remapctl create r2 --main "$main" --spare "$spare"

random_file /tmp/data 64
write_at "$dev" 0 /tmp/data
assert_dev_matches "$dev" 0 /tmp/data
log "64 MiB written and read back through remapctl's device"

remapctl status r | tee /tmp/status.txt
grep -qE "^  mode: +ok$" /tmp/status.txt || die "human status: no mode ok"
grep -qE "^  remapped: +2 unit" /tmp/status.txt || die "human status: not 2 remapped"
grep -qE "^  main: +$main " /tmp/status.txt || die "human status: no main path"

st="$(remapctl status r --json)"
assert_eq ok "$(json_field "$st" .mode)" "json mode"
assert_eq 2 "$(json_field "$st" .remapped)" "json remapped"
assert_eq 2 "$(json_field "$st" .status.entries)" "json status.entries"
assert_eq 4096 "$(json_field "$st" .status.unit_bytes)" "json unit"
assert_eq 2 "$(json_field "$st" .retry_limit)" "json retry_limit"
assert_eq "$spare" "$(json_field "$st" .spare.path)" "json spare path"
assert_eq "$(remap_status r writes)" "$(json_field "$st" .status.writes)" "json writes"

remapctl status r --format prometheus >/tmp/prom.txt
grep -q '^# TYPE dm_remap_writes_total counter$' /tmp/prom.txt || die "prometheus: no TYPE line"
grep -q '^dm_remap_remapped_units{device="r"} 2$' /tmp/prom.txt || die "prometheus: remapped"
grep -q '^dm_remap_mode{device="r",mode="ok"} 1$' /tmp/prom.txt || die "prometheus: mode"
# Every line is a HELP, a TYPE or a sample of a dm_remap_ metric with a device label.
bad="$(grep -vE '^(# (HELP|TYPE) dm_remap_[a-z_]+ .+|dm_remap_[a-z_]+\{device="[^"]*"(,[a-z_]+="[^"]*")*\} [0-9]+(\.[0-9]+)?(e-?[0-9]+)?)$' /tmp/prom.txt || true)"
[[ -z $bad ]] || die "prometheus lines out of grammar: $bad"
# To a file: grep -q may exit before remapctl is done writing (SIGPIPE).
remapctl status --format prometheus >/tmp/prom-all.txt
grep -q '^dm_remap_info{device="r",' /tmp/prom-all.txt || die "prometheus without NAME does not cover r"

# --- list ---------------------------------------------------------------------------
remapctl list | tee /tmp/list.txt
grep -qE "^r +$main +$spare +2 +0 +[0-9.]+% +ok$" /tmp/list.txt || die "list line"
assert_eq r "$(remapctl list --json | jq -r '.[] | select(.name == "r") | .name')" "list --json"
dm_create lin "0 8 linear $other 0" >/dev/null
remapctl list --json | jq -e 'all(.[]; .name != "lin")' >/dev/null || die "list shows a linear device"
refuses 2 "not a dm-remap device.*dmsetup" remapctl status lin
refuses 2 "no dm device named 'nope'" remapctl status nope

# --- completion of device names, from the real `remapctl list` --------------------
# bash and fish offer r (not lin) after an action that takes a NAME, and the
# block devices (lsblk) after --main.
completes() { # completes SHELL WORD... : the words offered for the last one
	case $1 in
	bash) bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
		_remapctl remapctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$DMREMAP_SRC/completions/remapctl.bash" "${@:2}" ;;
	fish) HOME=/tmp fish --no-config -c "source $DMREMAP_SRC/completions/remapctl.fish; complete -C '${*:2}'" |
		cut -f1 ;;
	esac
}
for sh in bash fish; do
	command -v $sh >/dev/null || die "$sh is not installed (scripts/install-deps)"
	got=$(completes $sh remapctl status '' | tr '\n' ' ')
	[[ $got == *"r "* && $got != *lin* ]] || die "$sh: remapctl status <TAB> offers '$got', not r alone"
	got=$(completes $sh remapctl create x --main /dev/ | tr '\n' ' ')
	[[ $got == *"$other"* ]] || die "$sh: remapctl create x --main <TAB> offers '$got', not $other"
	log "$sh completes device names and block devices"
done

# --- query, remap, stats ------------------------------------------------------------
remapctl query r 2500 | grep -q "unit 2500 (sectors 20000-20007): remapped to spare block" ||
	die "query 2500"
remapctl query r --sector 20003 | grep -q "unit 2500 " || die "query --sector"
remapctl query r 7 | grep -q ": ok" || die "query 7"
assert_eq ok "$(remapctl query r 7 --json | jq -r .state)" "query --json"
remapctl remap r 10 | grep -q "unit 10 (sectors 80-87) remapped to spare block" || die "remap 10"
remapctl remap r 10 | grep -q "already remapped" || die "remap 10 again"
assert_eq remapped "$(remapctl query r --sector 85 --json | jq -r .state)" "unit 10 after remap"
refuses 16 "beyond the last unit" remapctl remap r 999999999
refuses 16 "either a BLOCK" remapctl query r
assert_eq 3 "$(remapctl status r --json | jq -r .remapped)" "remapped after remap"
w="$(remapctl stats r --json | jq -r .stats.writes)"
((w > 0)) || die "stats writes $w"
remapctl stats r --clear | grep -q "counters cleared" || die "stats --clear"
assert_eq 0 "$(remapctl stats r --json | jq -r .stats.writes)" "writes after clear"

# --- remove -------------------------------------------------------------------------
exec 3<"$dev"
refuses 5 "is open.*--deferred" remapctl remove r
exec 3<&-
remapctl remove r | grep -q "r: removed" || die "remove"
dmsetup info r >/dev/null 2>&1 && die "r still exists after remove"
[[ -e $dev ]] && die "$dev still exists after remove"
refuses 2 "no dm device named 'r'" remapctl remove r

# Deferred: gone at the last close. Remaps survived the remove.
remapctl create r --main "$main" --spare "$spare" >/dev/null
assert_eq 3 "$(remapctl status r --json | jq -r .remapped)" "remaps after re-create"
exec 3<"$dev"
remapctl remove r --deferred | grep -q "deferred" || die "remove --deferred"
dmsetup info r >/dev/null || die "deferred remove removed an open device"
exec 3<&-
sleep 0.2
dmsetup info r >/dev/null 2>&1 && die "r still exists after the last close"

# --force: the open device's I/O fails from now on; it goes at the last close.
remapctl create r --main "$main" --spare "$spare" >/dev/null
exec 3<"$dev"
remapctl remove r --force | grep -q "replaced with an error table" || die "remove --force"
dmsetup table r | grep -q " error" || die "no error table after remove --force: $(dmsetup table r)"
dd if="$dev" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null &&
	die "I/O to a force-removed device succeeded"
exec 3<&-
sleep 0.2
dmsetup info r >/dev/null 2>&1 && die "r still exists after --force and the last close"
remap-check "$spare" >/dev/null || die "the spare is not clean after remove --force"
remapctl list | grep -q "No dm-remap devices" || die "list after remove"
log "remapctl-basic OK"
