#!/bin/bash
# vm-smp: 4
# Stress with a model of every block: remap-test-stress (tests/support) runs
# 4 writer threads, each owning every 4th 4 KiB block, so the four blocks of
# a 16 KiB unit are written by four threads (partial-unit O_DIRECT writes),
# and 3 reader threads that check every block they read against the
# generations the writers had acknowledged before the read: no stale block,
# no torn or foreign block. Half of the I/O goes to a hot window of 16 units
# that moves every 0.5 s, where the remap messages go too, so that units
# move while their blocks are written. Meanwhile, concurrently:
#   - main fails writes on one 4 KiB block of every 17th unit (dm-flakey
#     error_writes under a memory-backed null_blk), so writes there move
#     their unit to the spare while neighbouring blocks are written;
#   - a loop sends "remap U" for random units of the hot window;
#   - the background scan runs (scan start 64, again after each reload);
#   - a loop suspends and resumes the target, or reloads its table
#     (dmsetup table | dmsetup load) and resumes it.
# About 60 s of stress (DMREMAP_FULL=1: 300 s; STRESS_SECONDS overrides).
# Then the loops stop and the tool verifies every block against its last
# acknowledged generation; the table is reloaded and every block verified
# again, then the device is removed and created again and verified a third
# time, and remap-check finds the spare clean after the removal.
# The tool: $STRESS_TOOL, else $DMREMAP_BUILD/tests/support/remap-test-stress,
# else /work/main/build/tests/support/remap-test-stress (for a --build-dir
# whose build predates the tool).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=16384                # unit bytes: 32 sectors, four 4 KiB blocks
BS=${STRESS_BS:-4096}  # the tool's block size (512 or 4096)
if [[ ${DMREMAP_FULL:-0} == 1 ]]; then
	MB=384 SPARE_MB=192 MAX_REMAPS=9000 # 12232 spare blocks
else
	MB=128 SPARE_MB=64 MAX_REMAPS=3000 # 4077 spare blocks of 16 KiB
fi
FAULT_EVERY=17         # one failing 4 KiB block in every 17th unit
SECS=${STRESS_SECONDS:-$([[ ${DMREMAP_FULL:-0} == 1 ]] && echo 300 || echo 60)}
HOT_UNITS=${STRESS_HOT_UNITS:-16}    # the hot window: half of the I/O and every remap message
HOT_PERIOD=${STRESS_HOT_PERIOD:-0.5} # seconds before it moves
HOT_BLOCKS=$((HOT_UNITS * U / BS))
STRESS=${STRESS_TOOL:-$DMREMAP_BUILD/tests/support/remap-test-stress}
[[ -x $STRESS ]] || STRESS=/work/main/build/tests/support/remap-test-stress
[[ -x $STRESS ]] || die "no remap-test-stress (build it, or set STRESS_TOOL)"
log "tool $STRESS, $SECS s, block size $BS, unit $U, hot $HOT_UNITS units/$HOT_PERIOD s, kernel $(uname -r), $(nproc) CPUs"

load_module
base="$(make_nullb rbase $MB memory_backed)"
total=$(sectors "$base")
units=$((total * 512 / U))
spu=$((U / 512)) # sectors per unit
faults=()
failing=()
for ((u = 3; u < units; u += FAULT_EVERY)); do
	s=$((u * spu + (u % 4) * 8)) # the (u % 4)-th 4 KiB block of unit u
	faults+=("$s:8:w")
	if ((BS >= 4096)); then failing+=("$((s * 512 / BS)):1"); else failing+=("$((s * 512 / BS)):$((4096 / BS))"); fi
done
main="$(fault_disk rmain "$base" "${faults[@]}")"
spare="$(make_loop $SPARE_MB)"
log "main $main ($units units, ${#faults[@]} with a block that fails writes), spare $spare"
"$DMREMAP_BUILD/tests/support/remap-test-format" "$main" "$spare" $U >&2 ||
	die "formatting $spare failed"
table="0 $total remap $main $spare"
dev="$(dm_create r "$table")"
dmsetup message r 0 scan start 64

rm -f /tmp/hot /tmp/state /tmp/loop-errors
: >/tmp/loop-errors
# The tool runs at nice 19: its seven threads would otherwise starve the
# control loops (each dmsetup is a new process whose libraries come over 9p).
nice -n 19 "$STRESS" "$dev" --writers 4 --readers 3 --seconds "$SECS" --block-size "$BS" \
	--hot-blocks $HOT_BLOCKS --hot-period "$HOT_PERIOD" --hot-file /tmp/hot \
	--failing "$(
		IFS=,
		echo "${failing[*]}"
	)" --state /tmp/state >/tmp/stress.out 2>/tmp/stress.err &
stress=$!
# On any exit: resume what a failure may have left suspended, stop the
# loops and the tool (they hold the device open), then tear down.
# shellcheck disable=SC2154 # _rc is set in the trap
trap '_rc=$?; dmsetup resume --noudevsync r 2>/dev/null; kill $stress 2>/dev/null
	touch /tmp/stop; wait; (exit $_rc); _lib_cleanup' EXIT
rm -f /tmp/stop
running() { [[ ! -e /tmp/stop ]] && kill -0 $stress 2>/dev/null; }
loop_error() { echo "$*" >>/tmp/loop-errors; }

# The remap loop: "remap U" for random units of the hot window, until
# MAX_REMAPS succeeded. EAGAIN (the target is suspended) is expected. The
# messages go straight to the DM_TARGET_MSG ioctl, from one process: a
# dmsetup per message costs about half a second in the VM (a new process
# whose libraries come over 9p), which would make a few dozen remaps a
# minute. The ioctl is exactly what "dmsetup message r 0 remap U" does.
cat >/tmp/remapper.py <<'PY'
import errno, fcntl, os, random, struct, sys, time

name, hot, stop, pid, bs, unit, max_ok = sys.argv[1:8]
bs, unit, max_ok = int(bs), int(unit), int(max_ok)
HDR = "=3IIIIiIIIQ128s129s7x"  # struct dm_ioctl, 312 bytes
SIZE = struct.calcsize(HDR)
DM_TARGET_MSG = (3 << 30) | (SIZE << 16) | (0xFD << 8) | 14
DM_DATA_OUT_FLAG = 1 << 16
ctl = os.open("/dev/mapper/control", os.O_RDWR)


def message(msg):
    buf = bytearray(16384)
    struct.pack_into(HDR, buf, 0, 4, 0, 0, len(buf), SIZE, 0, 0, 0, 0, 0, 0,
                     name.encode(), b"")
    m = struct.pack("=Q", 0) + msg.encode() + b"\0"
    buf[SIZE:SIZE + len(m)] = m
    fcntl.ioctl(ctl, DM_TARGET_MSG, buf, True)
    (flags,) = struct.unpack_from("=I", buf, 28)
    (start,) = struct.unpack_from("=I", buf, 16)
    if not flags & DM_DATA_OUT_FLAG:
        return ""
    return bytes(buf[start:buf.index(0, start)]).decode()


def alive():
    if os.path.exists(stop):
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False


rng = random.Random(11)
ok = already = refused = errors = 0
while alive():
    try:
        with open(hot) as f:
            first, count = map(int, f.read().split())
    except (OSError, ValueError):
        continue
    if ok >= max_ok:
        break
    u = first * bs // unit + rng.randrange(count * bs // unit)
    try:
        out = message(f"remap {u}")
    except OSError as e:
        if e.errno == errno.EAGAIN:
            refused += 1
            time.sleep(0.01)
        else:
            errors += 1
            print(f"remap {u} failed: {e}", flush=True)
        continue
    if out.startswith(f"remapped {u} "):
        ok += 1
    elif out == f"already-remapped {u}":
        already += 1
    else:
        errors += 1
        print(f"remap {u} answered {out!r}", flush=True)
with open("/tmp/remap-counts", "w") as f:
    print(ok, already, refused, file=f)
sys.exit(1 if errors else 0)
PY
python3 /tmp/remapper.py r /tmp/hot /tmp/stop $stress "$BS" $U $MAX_REMAPS >>/tmp/loop-errors &
remapper=$!

# The suspend/reload loop: every 0.2-1 s a suspend and resume, or a reload
# of the same table (which turns the scan off: it is started again).
(
	RANDOM=23
	cycles=0 reloads=0
	while running; do
		sleep "0.$((2 + RANDOM % 8))"
		running || break
		if ((RANDOM % 2)); then
			dmsetup table r | dmsetup load r || loop_error "dmsetup load failed"
			reloads=$((reloads + 1))
		fi
		dmsetup suspend --noudevsync r || loop_error "suspend failed"
		sleep 0.0$((RANDOM % 10))
		dmsetup resume --noudevsync r || loop_error "resume failed"
		dmsetup message r 0 scan start 64 || loop_error "scan start failed"
		cycles=$((cycles + 1))
	done
	echo "$cycles $reloads" >/tmp/cycle-counts
) &
cycler=$!

t0=$SECONDS
rc=0
wait $stress || rc=$?
touch /tmp/stop
wait $remapper || loop_error "the remap loop failed"
wait $cycler || loop_error "the suspend loop failed"
trap '_rc=$?; dmsetup resume --noudevsync r 2>/dev/null; (exit $_rc); _lib_cleanup' EXIT
cat /tmp/stress.out >&2
[[ -s /tmp/stress.err ]] && sed 's/^/    /' /tmp/stress.err >&2
log "stress done in $((SECONDS - t0)) s (tool exit $rc)"
dmsetup info r | grep -q 'State: *ACTIVE' || die "r is not active after the loops: $(dmsetup info r)"
dmsetup status r >&2
read -r r_ok r_already r_refused </tmp/remap-counts || die "the remap loop left no counts"
read -r cycles reloads </tmp/cycle-counts || die "the suspend loop left no counts"
log "remap messages: $r_ok remapped, $r_already already remapped, $r_refused refused (suspended)"
log "suspend/resume cycles: $cycles ($reloads with a table reload)"
log "entries $(remap_status r entries), pending $(remap_status r pending), spare_errors" \
	"$(remap_status r spare_errors), scan pass $(remap_status r scan_pass) bad" \
	"$(remap_status r scan_bad) weak $(remap_status r scan_weak)"
if [[ -s /tmp/loop-errors ]]; then
	cat /tmp/loop-errors >&2
	die "the control loops saw errors"
fi
((rc == 0)) || die "remap-test-stress found stale reads, corrupt blocks or mismatches (exit $rc)"
assert_eq ok "$(remap_status r mode)" "mode"
assert_eq 0 "$(remap_status r pending)" "pending (main fails writes only)"
assert_eq 0 "$(remap_status r spare_errors)" "spare errors"
((r_ok > 0)) || die "no remap message remapped a unit"
((cycles > 0)) || die "no suspend/resume cycle"
dmsetup message r 0 scan stop
entries=$(remap_status r entries)

# A reload of the same table, then every block again.
dmsetup table r | dmsetup load r
dmsetup suspend --noudevsync r
dmsetup resume --noudevsync r
"$STRESS" "$dev" --verify-only --state /tmp/state >&2 ||
	die "blocks differ from the model after a table reload"
assert_eq "$entries" "$(remap_status r entries)" "entries after the reload"

# Removed and created again, as after a reboot: every block again.
dm_remove r
dev="$(dm_create r "$table")"
assert_eq "$entries" "$(remap_status r entries)" "entries after recreating the device"
"$STRESS" "$dev" --verify-only --state /tmp/state >&2 ||
	die "blocks differ from the model after recreating the device"
dm_remove r
trap _lib_cleanup EXIT

# The spare's metadata, with no target on it.
crc=0
remap-check -n "$spare" >/tmp/check.out 2>&1 || crc=$?
((crc == 0)) || {
	cat /tmp/check.out >&2
	die "remap-check on the spare exited $crc"
}
log "remap-check: clean"
log "stress OK: $entries entries ($r_ok by message), $(grep -o 'writes=[0-9]*' /tmp/stress.out)," \
	"$(grep -o 'reads=[0-9]*' /tmp/stress.out), $cycles suspend cycles ($reloads reloads)"
