# shellcheck shell=bash
# Helpers for VM scenarios (tests/vm/scenarios/*.sh), sourced as
#   . "$DMREMAP_SRC/tests/vm/lib.sh"
# Scenarios run as root inside the guest with set -euo pipefail; see
# scripts/vm/README.md for the environment they get. Devices created here are
# torn down at exit if the scenario did not remove them itself.

export DM_DISABLE_UDEV=1 # no udev in the guest: dmsetup makes its own nodes

# What the helpers created, one file per kind (dm, loop, nullb). Files, not
# arrays: the helpers usually run in $(...) subshells.
_LIB_STATE="/tmp/.vm-lib.$$"
mkdir -p "$_LIB_STATE"
_lib_track() { echo "$2" >>"$_LIB_STATE/$1"; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	[[ $1 == "$2" ]] || die "${3:-value}: expected '$1', got '$2'"
}

# refuses CODE PATTERN CMD...: CMD exits with CODE and says PATTERN on
# stderr. With REFUSES_ONE_LINE=1 the reason must also be one line (usage
# errors, code 16, add the usage and a pointer to --help).
refuses() {
	local code=$1 pattern=$2 rc=0
	shift 2
	"$@" >/tmp/out 2>/tmp/err </dev/null || rc=$?
	[[ $rc == "$code" ]] || die "'$*' exited $rc, expected $code (stderr: $(cat /tmp/err))"
	grep -qE -- "$pattern" /tmp/err || die "'$*': no '$pattern' in stderr: $(cat /tmp/err)"
	[[ ${REFUSES_ONE_LINE:-0} != 1 || $code == 16 || $(wc -l </tmp/err) == 1 ]] ||
		die "'$*': expected a one-line reason, got: $(cat /tmp/err)"
	log "refused ($code): $(head -1 /tmp/err)"
}

# --- modules -----------------------------------------------------------------

# load_module [testing]: modprobe dm-mod, insmod $DMREMAP_MODULE (with
# `testing`, the test build $DMREMAP_MODULE_TESTING, whose test points
# tp_arm and tp_hits drive), check the target.
load_module() {
	local ko=${DMREMAP_MODULE:-}
	[[ ${1:-} == testing ]] && ko=${DMREMAP_MODULE_TESTING:-}
	modprobe dm-mod || die "modprobe dm-mod failed"
	# crc32c() lives in libcrc32c on kernels before 6.14; insmod loads no
	# dependencies.
	modprobe -q libcrc32c 2>/dev/null || true
	[[ -f $ko ]] || die "no module at '$ko' (did the build fail?)"
	insmod "$ko" || die "insmod $ko failed"
	dmsetup targets | grep -q '^remap ' || die "target 'remap' not registered after insmod"
	if [[ ${1:-} == testing ]]; then
		mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
		[[ -d /sys/kernel/debug/dm-remap-test ]] || die "the test build has no test points in debugfs"
	fi
}

# tp_arm POINT SPEC: arms a test point of the test build
# (kernel/dm-remap-testpoint.h), e.g. tp_arm map_busy "delay=2000 unit=7".
tp_arm() {
	echo "$2" >"/sys/kernel/debug/dm-remap-test/$1" || die "cannot arm test point $1 with '$2'"
}

# tp_hits POINT: how many times the point acted.
tp_hits() {
	sed -n 's/^hits=\([0-9]*\).*/\1/p' "/sys/kernel/debug/dm-remap-test/$1"
}

# tp_wait POINT N [SECONDS]: waits until POINT acted N times (default 30 s).
tp_wait() {
	local i
	for ((i = 0; i < ${3:-30} * 10; i++)); do
		(($(tp_hits "$1") >= $2)) && return 0
		sleep 0.1
	done
	die "test point $1 did not act $2 times in ${3:-30} s (hits $(tp_hits "$1"))"
}

# unload_module: rmmod dm-remap.
unload_module() {
	rmmod dm_remap || die "rmmod dm_remap failed"
}

# --- block devices -----------------------------------------------------------

# make_nullb NAME SIZE_MB [memory_backed]: create a null_blk device through
# configfs; prints its /dev path. memory_backed keeps written data (otherwise
# reads return zeroes and writes are dropped).
make_nullb() {
	local name="$1" mb="$2" mem="${3:-}" d
	[[ -d /sys/module/null_blk ]] || modprobe null_blk nr_devices=0 || die "modprobe null_blk failed"
	if [[ ! -d /sys/kernel/config/nullb ]]; then
		mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
	fi
	d=/sys/kernel/config/nullb/$name
	mkdir "$d" || die "cannot create null_blk $name"
	_lib_track nullb "$name"
	echo "$mb" >"$d/size"
	[[ $mem == memory_backed ]] && echo 1 >"$d/memory_backed"
	echo 1 >"$d/power" || die "cannot power on null_blk $name"
	# Newer kernels name the disk after the configfs directory.
	if [[ -b /dev/$name ]]; then
		echo "/dev/$name"
	else
		echo "/dev/nullb$(<"$d/index")"
	fi
}

# remove_nullb NAME
remove_nullb() {
	local d=/sys/kernel/config/nullb/$1
	[[ -d $d ]] || return 0
	echo 0 >"$d/power" || true
	rmdir "$d" || die "cannot remove null_blk $1"
}

# make_loop SIZE_MB: loop device over a new sparse file in /tmp; prints it.
make_loop() {
	local f dev
	[[ -d /sys/module/loop ]] || modprobe loop || die "modprobe loop failed"
	f="$(mktemp /tmp/loop.XXXXXX.img)"
	truncate -s "${1}M" "$f"
	dev="$(losetup --find --show "$f")" || die "losetup failed"
	_lib_track loop "$dev"
	echo "$dev"
}

# remove_loop DEV: detach DEV and delete its backing file.
remove_loop() {
	local f
	f="$(losetup -n -O BACK-FILE "$1" 2>/dev/null || true)"
	[[ -z $f ]] && return 0
	losetup -d "$1" || die "losetup -d $1 failed"
	rm -f "$f"
}

# sectors DEV: size of DEV in 512-byte sectors.
sectors() { blockdev --getsz "$1"; }

# --- device mapper -------------------------------------------------------------

# dm_create NAME TABLE: create /dev/mapper/NAME from TABLE; prints the path.
dm_create() {
	dmsetup create "$1" --noudevsync --table "$2" || die "dmsetup create $1 '$2' failed"
	_lib_track dm "$1"
	dmsetup mknodes "$1" || true
	[[ -b /dev/mapper/$1 ]] || die "no /dev/mapper/$1 after dmsetup create"
	echo "/dev/mapper/$1"
}

# dm_remove NAME: remove a dm device (retrying briefly while it is busy).
dm_remove() {
	dmsetup info "$1" >/dev/null 2>&1 || return 0
	for _ in 1 2 3 4 5; do
		dmsetup remove --noudevsync "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	dmsetup remove --noudevsync "$1" || die "dmsetup remove $1 failed"
}

# --- data --------------------------------------------------------------------

# random_file PATH SIZE_MB
random_file() {
	dd if=/dev/urandom of="$1" bs=1M count="$2" status=none || die "cannot write $1"
}

# write_at DEV OFFSET_BYTES FILE: O_DIRECT write of FILE at OFFSET.
write_at() {
	dd if="$3" of="$1" bs=1M seek="$2" oflag=seek_bytes,direct conv=notrunc,fsync status=none ||
		die "write of $3 to $1 at $2 failed"
}

# read_at DEV OFFSET_BYTES LENGTH_BYTES OUT: O_DIRECT read into OUT.
read_at() {
	dd if="$1" of="$4" bs=1M skip="$2" count="$3" iflag=skip_bytes,count_bytes,direct status=none ||
		die "read of $3 bytes from $1 at $2 failed"
	[[ $(stat -c %s "$4") == "$3" ]] || die "short read from $1 at $2"
}

# assert_dev_matches DEV OFFSET_BYTES FILE: DEV holds FILE's bytes at OFFSET
# (read back with O_DIRECT, compared with cmp).
assert_dev_matches() {
	local tmp size
	size="$(stat -c %s "$3")"
	tmp="$(mktemp /tmp/readback.XXXXXX)"
	read_at "$1" "$2" "$size" "$tmp"
	cmp "$3" "$tmp" >&2 || {
		rm -f "$tmp"
		die "$1 at offset $2: contents differ from $3"
	}
	rm -f "$tmp"
}

# --- teardown ----------------------------------------------------------------

_lib_cleanup() {
	local rc=$? x
	set +e
	if [[ -f $_LIB_STATE/dm ]]; then
		tac "$_LIB_STATE/dm" | while read -r x; do
			dmsetup info "$x" >/dev/null 2>&1 && dmsetup remove --noudevsync "$x"
		done
	fi
	if [[ -f $_LIB_STATE/loop ]]; then
		while read -r x; do remove_loop "$x"; done <"$_LIB_STATE/loop"
	fi
	if [[ -f $_LIB_STATE/nullb ]]; then
		while read -r x; do remove_nullb "$x"; done <"$_LIB_STATE/nullb"
	fi
	rm -rf "$_LIB_STATE"
	return "$rc"
}
trap _lib_cleanup EXIT

# --- dm-remap ------------------------------------------------------------------

# format_spare MAIN SPARE [UNIT_BYTES]: writes fresh v4 metadata to SPARE.
format_spare() {
	"$DMREMAP_BUILD/tests/support/remap-test-format" "$@" >/dev/null ||
		die "formatting $2 for $1 failed"
}

# remap_status NAME FIELD: one field of the target's status line, by name
# (docs/dm-remap.rst, "Status").
remap_status() {
	local names=(start len target version mode unit seq entries capacity
		spare_used spare_total spare_bad pending reads writes remapped_ios
		main_errors spare_errors retries scan_state scan_rate scan_pass
		scan_cursor scan_progress scan_bad scan_weak) i
	read -r -a f <<<"$(dmsetup status "$1")"
	for i in "${!names[@]}"; do
		[[ ${names[$i]} == "$2" ]] && { echo "${f[$i]}"; return 0; }
	done
	die "unknown status field '$2'"
}

# bad_disk NAME BASE_DEV START:LEN...: a dm device over BASE_DEV whose
# sectors START..START+LEN-1 fail every I/O (an `error` segment), the rest
# `linear`. Prints its path. set_bad NAME BASE_DEV [START:LEN...] replaces
# the bad ranges of a live one (none: it heals).
_bad_table() {
	local base=$1 total pos=0 s l
	total=$(sectors "$base")
	shift
	for range in $(printf '%s\n' "$@" | sort -n -t: -k1); do
		s=${range%%:*} l=${range##*:}
		((s > pos)) && echo "$pos $((s - pos)) linear $base $pos"
		echo "$s $l error"
		pos=$((s + l))
	done
	((pos < total)) && echo "$pos $((total - pos)) linear $base $pos"
	return 0
}
bad_disk() {
	local name=$1
	shift
	_bad_table "$@" | dmsetup create "$name" --noudevsync || die "cannot create bad disk $name"
	_lib_track dm "$name"
	dmsetup mknodes "$name" || true
	echo "/dev/mapper/$name"
}
set_bad() {
	local name=$1
	shift
	_bad_table "$@" | dmsetup load "$name" || die "cannot load a new table for $name"
	dmsetup suspend --noudevsync "$name" && dmsetup resume --noudevsync "$name" ||
		die "cannot switch $name to its new table"
}

# remap_list NAME: the units in the remap table, "unit state" per line.
remap_list() {
	dmsetup message "$1" 0 list | awk '{print $1, $NF}'
}

# --- faults that fail writes only, and the spare's metadata ------------------

# fault_disk NAME BASE_DEV SPEC...: like bad_disk, with a kind per range.
# SPEC is START:LEN (every I/O fails: an `error` segment) or START:LEN:w
# (writes fail, reads return what the sectors held: a dm-flakey segment
# with error_writes, like a drive that can no longer write a sector).
# Ranges must not overlap. set_faults NAME BASE_DEV [SPEC...] replaces the
# faulty ranges of a live one (none: it heals).
_fault_table() {
	local base=$1 total pos=0 s l k spec
	total=$(sectors "$base")
	shift
	for spec in $(printf '%s\n' "$@" | sort -n -t: -k1,1); do
		IFS=: read -r s l k <<<"$spec"
		((s >= pos)) || die "fault range $spec overlaps the previous one"
		((s > pos)) && echo "$pos $((s - pos)) linear $base $pos"
		case "$k" in
		"") echo "$s $l error" ;;
		w) echo "$s $l flakey $base $s 0 1 1 error_writes" ;;
		*) die "bad fault range '$spec' (expected START:LEN or START:LEN:w)" ;;
		esac
		pos=$((s + l))
	done
	((pos < total)) && echo "$pos $((total - pos)) linear $base $pos"
	return 0
}
fault_disk() {
	local name=$1 table
	shift
	[[ -d /sys/module/dm_flakey ]] || modprobe dm-flakey || die "modprobe dm-flakey failed"
	table="$(_fault_table "$@")" || exit 1
	dmsetup create "$name" --noudevsync <<<"$table" || die "cannot create fault disk $name"
	_lib_track dm "$name"
	dmsetup mknodes "$name" || true
	echo "/dev/mapper/$name"
}
set_faults() {
	local name=$1 table
	shift
	table="$(_fault_table "$@")" || exit 1
	dmsetup load "$name" <<<"$table" || die "cannot load a new table for $name"
	if ! dmsetup suspend --noudevsync "$name" || ! dmsetup resume --noudevsync "$name"; then
		die "cannot switch $name to its new table"
	fi
}

# dump_get SPARE EXPR: evaluates the Python expression EXPR over `d`, the
# `remap-dump -f json SPARE` document (docs/dump-format.md), and prints it;
# lists print one item a line. The spare must not be in use by a target.
#   dump_get "$spare" 'd["superblock"]["pool_start"]'
#   dump_get "$spare" '[e["main_block"] for e in d["entries"]]'
dump_get() {
	remap-dump -f json "$1" >/tmp/.dump.json || die "remap-dump $1 failed"
	python3 - "$2" <<'PY' || die "cannot evaluate '$2' over the dump of $1"
import json, sys
d = json.load(open("/tmp/.dump.json"))
v = eval(sys.argv[1], {"d": d})
print("\n".join(map(str, v)) if isinstance(v, list) else v)
PY
}

# io_fails ERROR_REGEX DD_ARGS...: runs dd (status=none) and succeeds only
# if it fails with a message matching ERROR_REGEX, e.g. "Input/output error"
# (EIO) or "Input/output error|No data available" (EIO or ENODATA, which is
# what a medium error, BLK_STS_MEDIUM, becomes).
io_fails() {
	local want=$1 err
	shift
	if err="$(dd status=none "$@" 2>&1)"; then
		die "dd $* succeeded; expected '$want'"
	fi
	[[ $err =~ $want ]] || die "dd $* failed with '$err'; expected '$want'"
}

# --- scenarios that may hang or oops the kernel they test ----------------

# hang_safe: no_oops, wait_pid and t report their failures on fd 3, the
# scenario's stderr, even when the caller redirected stderr; call it once.
hang_safe() {
	exec 3>&2
}
# no_oops WHAT: dies (without the teardown, which would hang on a dead
# worker or SRCU reader) if the kernel logged an oops.
no_oops() {
	dmesg >/tmp/.dmesg.now 2>&1 || true
	if grep -qE 'Oops|BUG:|general protection' /tmp/.dmesg.now; then
		grep -E -A3 'Oops|BUG:|general protection' /tmp/.dmesg.now | head -8 >&3
		trap - EXIT
		die "$1: the kernel oopsed" 2>&3
	fi
}
# wait_pid PID SECONDS: waits for a background job, which must end in time
# (a hang, even in D state, is a failure, reported without the teardown).
wait_pid() {
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null && ((SECONDS < end)); do
		sleep 0.2
	done
	if kill -0 "$1" 2>/dev/null; then
		no_oops "waiting for pid $1"
		trap - EXIT
		die "a command did not finish within $2 s (hang): $(tr '\0' ' ' </proc/"$1"/cmdline 2>/dev/null); stack: $(xargs </proc/"$1"/stack 2>/dev/null)" 2>&3
	fi
	wait "$1"
}
# t SECONDS CMD...: runs CMD, which must finish within SECONDS. Its output
# goes through files, so that a hung CMD holds no pipe of the runner's.
t() {
	local s=$1 f rc=0
	shift
	f="$(mktemp /tmp/.t.XXXXXX)"
	"$@" >"$f.out" 2>"$f.err" </dev/null 3>&- &
	wait_pid $! "$s" || rc=$?
	cat "$f.out"
	cat "$f.err" >&2
	rm -f "$f" "$f.out" "$f.err"
	return $rc
}
